"""Lazy layers (PyTorch's ``LazyLinear``, ``LazyConv*``, ``LazyConvTranspose*``,
``LazyBatchNorm*``, ``LazyInstanceNorm*``): the input size (``in_features`` /
``in_channels`` / ``num_features``) is read from the first input.

Until then the weights are :class:`UninitializedParameter` placeholders (empty, with the
requested dtype and device, so ``.to()`` and optimizers work on them); the first call fills
them in place with the shapes the input implies, initialises them as the eager layer does, and
turns the module into that layer (``LazyLinear`` becomes ``Linear``). A state dict can be
loaded once the layer is initialised.
"""

from __future__ import annotations

import corefw

from ...errors import ShapeError
from ..parameter import Parameter
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .conv_more import Conv3d, ConvTranspose3d
from .linear import Linear
from .norm_more import BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .normalization import BatchNorm1d, BatchNorm2d

__all__ = ["LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d",
           "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LazyLinear",
           "UninitializedBuffer", "UninitializedParameter"]


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (an empty placeholder); :meth:`materialize`
    gives it storage of a shape, in place, and makes it a plain :class:`Parameter`."""

    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        return super().__new__(cls, corefw.empty(0, device=device, dtype=dtype), requires_grad)

    def __init__(self, requires_grad: bool = True, device=None, dtype=None) -> None:
        pass

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Allocate (uninitialised) storage of ``shape``; keeps this object."""
        with corefw.no_grad():
            self.data = corefw.empty(tuple(shape), device=device or self.device,
                                     dtype=dtype or self.dtype)
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return "<UninitializedParameter>"


class UninitializedBuffer(corefw.Tensor):
    """The buffer counterpart of :class:`UninitializedParameter` (for ``isinstance``
    checks; lazy layers hold empty buffers and replace them when initialised)."""


def _is_lazy(t) -> bool:
    return isinstance(t, UninitializedParameter)


class LazyModuleMixin:
    """Reads the input size at the first call (a forward pre-hook), then becomes
    ``cls_to_become``."""

    cls_to_become: type | None = None

    def _lazy_setup(self) -> None:
        self._lazy_hook = self.register_forward_pre_hook(LazyModuleMixin._infer)

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter still awaits its shape."""
        return any(_is_lazy(p) for p in self._parameters.values())

    @staticmethod
    def _infer(module, args):
        module.initialize_parameters(*args)
        if not module.has_uninitialized_params():
            module._lazy_hook.remove()
            del module._lazy_hook
            if module.cls_to_become is not None:
                module.__class__ = module.cls_to_become

    def _placeholders(self, names, device, dtype) -> None:
        for name in names:
            if getattr(self, name, None) is not None:
                setattr(self, name, UninitializedParameter(device=device, dtype=dtype))


class LazyLinear(LazyModuleMixin, Linear):
    """:class:`~corefw.nn.Linear` with ``in_features`` read from the first input's last dim."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(1, out_features, bias, device=device, dtype=dtype)
        self.in_features = 0
        self._placeholders(("weight", "bias"), device, dtype)
        self._lazy_setup()

    def initialize_parameters(self, input, *args) -> None:
        """Shape ``weight`` (out_features, input.shape[-1]) and ``bias``; initialise them."""
        if not self.has_uninitialized_params():
            return
        if input.ndim == 0:
            raise ShapeError("LazyLinear: cannot infer in_features from a 0-D input")
        self.in_features = input.shape[-1]
        self.weight.materialize((self.out_features, self.in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))
        self.reset_parameters()


class _LazyConvMixin(LazyModuleMixin):
    def _lazy_conv(self, device, dtype) -> None:
        self.in_channels = 0
        self._placeholders(("weight", "bias"), device, dtype)
        self._lazy_setup()

    def initialize_parameters(self, input, *args) -> None:
        """Read in_channels from the input (dim 1, or dim 0 unbatched); shape and initialise
        the weight and bias."""
        if not self.has_uninitialized_params():
            return
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {nd + 1}-D or {nd + 2}-D "
                             f"input, got shape {tuple(input.shape)}")
        self.in_channels = input.shape[-nd - 1]
        if self.in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({self.in_channels}) must be "
                             f"divisible by groups ({self.groups})")
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups)
        else:
            shape = (self.out_channels, self.in_channels // self.groups)
        self.weight.materialize(shape + tuple(self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()


def _lazy_conv_class(name: str, base: type) -> type:
    def __init__(self, out_channels: int, kernel_size, *args, device=None, dtype=None,
                 **kwargs) -> None:
        # groups is the 4th argument after kernel_size in every conv layer's signature; a
        # placeholder in_channels = groups passes the divisibility checks
        groups = int(kwargs.get("groups", args[3] if len(args) > 3 else 1))
        base.__init__(self, groups, out_channels, kernel_size, *args, device=device,
                      dtype=dtype, **kwargs)
        self._lazy_conv(device, dtype)

    doc = (f":class:`~corefw.nn.{base.__name__}` with ``in_channels`` read from the first "
           f"input; the other arguments are {base.__name__}'s.")
    return type(name, (_LazyConvMixin, base), {"__init__": __init__, "__doc__": doc,
                                               "cls_to_become": base, "__module__": __name__})


class _LazyNormMixin(LazyModuleMixin):
    def _lazy_norm(self, device, dtype) -> None:
        self.num_features = 0
        self._placeholders(("weight", "bias"), device, dtype)
        self._lazy_setup()

    def has_uninitialized_params(self) -> bool:
        return self.num_features == 0

    def initialize_parameters(self, input, *args) -> None:
        """Read num_features from the input's channel dim; shape and reset the state."""
        if not self.has_uninitialized_params():
            return
        unbatched = isinstance(self, _InstanceNormBase) and input.ndim == self._nd + 1
        self.num_features = input.shape[0 if unbatched else 1]
        c = self.num_features
        if self.affine:
            self.weight.materialize((c,))
            self.bias.materialize((c,))
        if self.track_running_stats:  # the placeholders followed any .to(): so do these
            kw = {"device": self.running_mean.device, "dtype": self.running_mean.dtype}
            self.running_mean = corefw.zeros(c, **kw)
            self.running_var = corefw.ones(c, **kw)
        self.reset_parameters()


class _InstanceNormBase:
    """Marks the instance-norm lazy classes (their input may be unbatched)."""


def _lazy_norm_class(name: str, base: type, instance: bool) -> type:
    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = not instance, track_running_stats: bool = not instance,
                 device=None, dtype=None) -> None:
        base.__init__(self, 1, eps, momentum, affine, track_running_stats, device, dtype)
        if track_running_stats:
            self.running_mean = corefw.empty(0, device=device, dtype=dtype)
            self.running_var = corefw.empty(0, device=device, dtype=dtype)
        self._lazy_norm(device, dtype)

    bases = (_LazyNormMixin, _InstanceNormBase, base) if instance else (_LazyNormMixin, base)
    doc = (f":class:`~corefw.nn.{base.__name__}` with ``num_features`` read from the first "
           f"input; the other arguments are {base.__name__}'s.")
    return type(name, bases, {"__init__": __init__, "__doc__": doc, "cls_to_become": base,
                              "__module__": __name__})


LazyConv1d = _lazy_conv_class("LazyConv1d", Conv1d)
LazyConv2d = _lazy_conv_class("LazyConv2d", Conv2d)
LazyConv3d = _lazy_conv_class("LazyConv3d", Conv3d)
LazyConvTranspose1d = _lazy_conv_class("LazyConvTranspose1d", ConvTranspose1d)
LazyConvTranspose2d = _lazy_conv_class("LazyConvTranspose2d", ConvTranspose2d)
LazyConvTranspose3d = _lazy_conv_class("LazyConvTranspose3d", ConvTranspose3d)
LazyBatchNorm1d = _lazy_norm_class("LazyBatchNorm1d", BatchNorm1d, False)
LazyBatchNorm2d = _lazy_norm_class("LazyBatchNorm2d", BatchNorm2d, False)
LazyBatchNorm3d = _lazy_norm_class("LazyBatchNorm3d", BatchNorm3d, False)
LazyInstanceNorm1d = _lazy_norm_class("LazyInstanceNorm1d", InstanceNorm1d, True)
LazyInstanceNorm2d = _lazy_norm_class("LazyInstanceNorm2d", InstanceNorm2d, True)
LazyInstanceNorm3d = _lazy_norm_class("LazyInstanceNorm3d", InstanceNorm3d, True)
