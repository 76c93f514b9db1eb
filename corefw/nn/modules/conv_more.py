"""3-D convolution and pooling layers, adaptive max pooling and power-average pooling, with
PyTorch's names, constructor arguments, parameter shapes (state_dict keys ``weight``, ``bias``)
and initialisation: ``Conv3d``, ``ConvTranspose3d``, ``MaxPool3d``, ``AvgPool3d``,
``AdaptiveAvgPool3d``, ``AdaptiveMaxPool1d/2d/3d``, ``LPPool1d/2d/3d``."""

from __future__ import annotations

from .. import functional as F
from ..module import Module
from .conv import ConvTranspose2d, _ConvNd
from .pooling import AvgPool2d, _MaxPoolNd

__all__ = ["AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "AvgPool3d", "Conv3d", "ConvTranspose3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "MaxPool3d"]


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W) or (C_in, D, H, W); arguments as
    :class:`~corefw.nn.Conv2d`, weight (out_channels, in_channels / groups, kd, kh, kw)."""

    _nd = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, input):
        self._check_input(input)
        x, padding = self._explicit_padding(input)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class ConvTranspose3d(ConvTranspose2d):
    """3-D transposed convolution over (N, C_in, D, H, W); see
    :class:`~corefw.nn.ConvTranspose2d`."""

    _nd = 3
    _fn = staticmethod(F.conv_transpose3d)


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W); ``return_indices`` gives flat
    ``(d * H + h) * W + w`` indices of each window's first maximum."""

    _fn = staticmethod(F.max_pool3d)


class AvgPool3d(AvgPool2d):
    """3-D average pooling, as :func:`~corefw.nn.functional.avg_pool3d` (the arguments of
    :class:`~corefw.nn.AvgPool2d`)."""

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _Adaptive(Module):
    _fn = staticmethod(F.adaptive_avg_pool3d)

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return self._fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool3d(_Adaptive):
    """Average pooling of (N, C, D, H, W) to ``output_size``."""


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return self._fn(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """Max pooling of (N, C, L) to length ``output_size`` (PyTorch's windows)."""

    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMax):
    """Max pooling of (N, C, H, W) to ``output_size`` (PyTorch's windows)."""

    _fn = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMax):
    """Max pooling of (N, C, D, H, W) to ``output_size``."""

    _fn = staticmethod(F.adaptive_max_pool3d)


class _LPPool(Module):
    _fn = staticmethod(F.lp_pool2d)

    def __init__(self, norm_type: float, kernel_size, stride=None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return self._fn(input, float(self.norm_type), self.kernel_size, self.stride,
                        self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPool):
    """``(sum over the window of x^p)^(1/p)`` over (N, C, L)."""

    _fn = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPool):
    """``(sum over the window of x^p)^(1/p)`` over (N, C, H, W)."""


class LPPool3d(_LPPool):
    """``(sum over the window of x^p)^(1/p)`` over (N, C, D, H, W)."""

    _fn = staticmethod(F.lp_pool3d)
