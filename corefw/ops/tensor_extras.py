"""Tensor methods that are not ops of their own: conversions (``to``, ``float()`` ...),
factories (``new_zeros`` ...), random fills (``uniform_`` ...) and PyTorch's aliases
(``T``, ``view_as`` ...). They are published for :mod:`corefw._tensor_methods` like the ops'
functions."""

from __future__ import annotations

import builtins

from .. import _dtype
from .. import _rules as R
from .._call import record, wrap
from .._creation import empty, full, tensor, zeros
from .._graph.grad_mode import STATE
from .._random import rand, randn
from .._tensor import Tensor
from ..dispatch import device_of
from ..errors import DTypeError
from . import _views, elementwise, inplace, shape
from .registry import declare, publish

__all__ = ["T", "bernoulli_", "bfloat16", "bool", "byte", "char", "clone", "contiguous", "double",
           "is_contiguous",
           "expand_as", "float", "half", "int", "long", "mT", "new_empty", "new_full",
           "new_ones", "new_tensor", "new_zeros", "normal_", "reshape_as", "short", "t", "to",
           "type_as", "uniform_", "view_as"]

_TO_DEVICE = declare("to_device", rule=lambda x, device: R.same(x), saves=(),
                     vjp=lambda ctx, g: (g.to(ctx.attrs["device"]),),
                     doc="a differentiable copy to another device (Tensor.to)")


def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, _dtype.dtype) or a in (builtins.float, builtins.int, builtins.bool) or (
                isinstance(a, str) and a in _dtype._BY_NAME and ":" not in a
                and a not in ("cpu", "cuda")):
            dtype = a
        else:
            device = a
    out = self
    if device is not None:
        dev = device_of(device)
        if dev is not out._dev and out.dtype.name not in dev.backend.dtypes:
            if dtype is None or _dtype.to_dtype(dtype).name not in dev.backend.dtypes:
                raise DTypeError(f"to: backend {dev.backend.name!r} ({dev.type}) does not "
                                 f"support {out.dtype}; cast first, e.g. .float()")
            out, dtype = elementwise.cast(out, dtype), None  # cast where the dtype exists
        if dev is not out._dev:
            moved = wrap(_move(out, dev, non_blocking), dev)
            if out._req and STATE.enabled:  # gradients flow back to the source device
                record(_TO_DEVICE, (out,), {"device": out._dev}, moved._data, dev, moved)
            out = moved
    if dtype is not None:
        out = elementwise.cast(out, dtype)
    if copy and out is self:
        out = elementwise.clone(self)
    return out


def _move(t, dev, non_blocking):
    """Native array of ``t`` on ``dev``: device to device within one backend where it can,
    else through host memory."""
    src = t._dev.backend
    if src is dev.backend and hasattr(src, "copy_to_device"):
        return src.copy_to_device(t._data, dev.index, non_blocking=non_blocking)
    host = src.to_host(t._data)
    if non_blocking:
        try:
            return dev.backend.from_host(host, dev.index, non_blocking=True)
        except TypeError:  # a backend without asynchronous copies
            pass
    return dev.backend.from_host(host, dev.index)


def _caster(d):
    def method(self):
        return elementwise.cast(self, d)
    method.__doc__ = f"``self.to({d})``."
    return method


float = _caster(_dtype.float32)  # noqa: A001 - the method names are PyTorch's
double = _caster(_dtype.float64)
half = _caster(_dtype.float16)
bfloat16 = _caster(_dtype.bfloat16)
long = _caster(_dtype.int64)
int = _caster(_dtype.int32)  # noqa: A001
bool = _caster(_dtype.bool_)  # noqa: A001
short = _caster(_dtype.int16)
byte = _caster(_dtype.uint8)
char = _caster(_dtype.int8)


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype or self.dtype, device=device or self.device,
                 requires_grad=requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return full(_shape(size), 1, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    return empty(*size, dtype=dtype or self.dtype, device=device or self.device,
                 requires_grad=requires_grad)


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fill with samples from U[a, b)."""
    return inplace.copy_(self, rand(self.shape, dtype=self.dtype, device=self.device,
                                    generator=generator) * (b - a) + a)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with samples from N(mean, std^2)."""
    return inplace.copy_(self, randn(self.shape, dtype=self.dtype, device=self.device,
                                     generator=generator) * std + mean)


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 (probability p) or 0."""
    return inplace.copy_(self, (rand(self.shape, device=self.device,
                                     generator=generator) < p).to(self.dtype))


def clone(self, *, memory_format=None):
    """A copy with its own storage (differentiable)."""
    return elementwise.clone(self)


def is_contiguous(self, memory_format=None):
    """Whether the values are dense and row-major in their storage (see
    :func:`corefw.ops._views.is_contiguous` for how a backend answers)."""
    return _views.is_contiguous(self)


def contiguous(self, memory_format=None):
    """``self`` if it is contiguous, else a contiguous copy (differentiable)."""
    return self if _views.is_contiguous(self) else elementwise.clone(self)


def T(self):  # noqa: N802 - PyTorch's property name
    """The dimensions reversed."""
    return shape.permute(self, tuple(reversed(range(self.ndim))))


def mT(self):  # noqa: N802
    """The last two dimensions swapped."""
    return shape.transpose(self, -2, -1)


def t(self):
    """The transpose of a matrix (1-D and 0-D tensors are returned as they are)."""
    return shape.transpose(self, 0, 1) if self.ndim == 2 else self


def expand_as(self, other):
    return shape.expand(self, other.shape)


def view_as(self, other):
    return shape.reshape(self, other.shape)


reshape_as = view_as


def type_as(self, other):
    return to(self, other.dtype)


publish(globals(), __all__, methods=" ".join(n for n in __all__ if n not in ("T", "mT")),
        properties="T mT")
