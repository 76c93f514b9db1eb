"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``.

Parameter names, shapes and default initialisation are PyTorch's, so state dicts carry over:
``weight`` is ``(out_channels, in_channels / groups, *kernel_size)`` (transposed convolutions:
``(in_channels, out_channels / groups, *kernel_size)``) drawn with
``kaiming_uniform_(a=sqrt(5))``; ``bias`` is ``(out_channels,)`` drawn from
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = weight.shape[1] * prod(kernel_size)``.
"""

from __future__ import annotations

import math

import corefw

from ...errors import ShapeError
from .. import init
from ..functional import conv1d, conv2d, conv_transpose1d, conv_transpose2d, pad
from ..functional._conv import conv_tuple
from ..module import Module
from ..parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared constructor, initialisation, checks and repr of the convolution layers."""

    _nd = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding=0, device=None, dtype=None) -> None:
        super().__init__()
        cls, nd = type(self).__name__, self._nd
        if groups < 1 or in_channels % groups:
            raise ValueError(f"{cls}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{cls}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{cls}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = conv_tuple(kernel_size, nd, "kernel_size", cls)
        self.stride = conv_tuple(stride, nd, "stride", cls)
        self.dilation = conv_tuple(dilation, nd, "dilation", cls)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{cls}: padding must be 'same', 'valid', an int or a tuple, "
                                 f"got {padding!r}")
            if self._transposed:
                raise ValueError(f"{cls}: string padding is not supported for transposed "
                                 f"convolutions")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{cls}: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding = padding
        else:
            self.padding = conv_tuple(padding, nd, "padding", cls)
        self.output_padding = conv_tuple(output_padding, nd, "output_padding", cls)
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(corefw.empty(shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(corefw.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation (see the module docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check_input(self, input) -> None:
        nd = self._nd
        if not isinstance(input, corefw.Tensor) or input.ndim not in (nd + 1, nd + 2):
            got = tuple(input.shape) if isinstance(input, corefw.Tensor) else type(input)
            raise ShapeError(f"{self!r}: expected a {nd + 2}-D input (N, C, ...) or a "
                             f"{nd + 1}-D unbatched input (C, ...), got {got}")
        c = input.shape[-nd - 1]
        if c != self.in_channels:
            dims = ", ".join(["N", str(self.in_channels)] + [f"d{i}" for i in range(nd)])
            raise ShapeError(f"{self!r}: expected input of shape ({dims}) with "
                             f"in_channels={self.in_channels}, got input of shape "
                             f"{tuple(input.shape)} ({c} channels)")

    def _explicit_padding(self, input):
        """Apply a non-zeros padding_mode with F.pad; returns (input, padding for the conv)."""
        if self.padding_mode == "zeros":
            return input, self.padding
        if self.padding == "valid":
            return input, 0
        pairs = []
        for i in range(self._nd):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                pairs.append((total // 2, total - total // 2))
            else:
                pairs.append((self.padding[i], self.padding[i]))
        flat = [p for pair in reversed(pairs) for p in pair]
        return pad(input, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W) inputs.

    ``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode='zeros', device=None, dtype=None)``: ``padding`` is an
    int, a pair, ``'valid'`` or ``'same'`` (stride 1); ``padding_mode`` is ``'zeros'``,
    ``'reflect'``, ``'replicate'`` or ``'circular'`` (the last three pad with ``F.pad`` first).

    Example::

        conv = corefw.nn.Conv2d(1, 16, 3, padding=1)
        y = conv(corefw.randn(8, 1, 28, 28))   # shape (8, 16, 28, 28)
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, input):
        self._check_input(input)
        x, padding = self._explicit_padding(input)
        return conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                      self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) or (C_in, L) inputs; arguments as :class:`Conv2d`."""

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, input):
        self._check_input(input)
        x, padding = self._explicit_padding(input)
        return conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                      self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (the gradient of a convolution w.r.t. its input).

    ``ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros', device=None,
    dtype=None)``; ``weight`` has shape (in_channels, out_channels / groups, kh, kw). The output
    size is ``(H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``, or the
    ``output_size`` passed to :meth:`forward`. Only ``padding_mode='zeros'`` is supported.
    """

    _nd = 2
    _transposed = True
    _fn = staticmethod(conv_transpose2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: only padding_mode='zeros' is supported, "
                             f"got {padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input, output_size):
        """output_padding that yields ``output_size`` (PyTorch's rule), else the attribute."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = tuple(output_size)[-nd:]
        out = []
        for i in range(nd):
            base = ((input.shape[-nd + i] - 1) * self.stride[i] - 2 * self.padding[i]
                    + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            extra = size[i] - base
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ShapeError(f"{self!r}: requested output_size {tuple(output_size)} is "
                                 f"not reachable from input of shape {tuple(input.shape)} "
                                 f"(dim {i}: between {base} and "
                                 f"{base + max(self.stride[i], self.dilation[i]) - 1})")
            out.append(extra)
        return tuple(out)

    def forward(self, input, output_size=None):
        self._check_input(input)
        return self._fn(input, self.weight, self.bias, self.stride, self.padding,
                        self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(ConvTranspose2d):
    """1-D transposed convolution over (N, C_in, L) or (C_in, L); see :class:`ConvTranspose2d`."""

    _nd = 1
    _fn = staticmethod(conv_transpose1d)
