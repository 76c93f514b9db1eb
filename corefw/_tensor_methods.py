"""Attach the functional API to Tensor as methods (``x.sum(1)``, ``x.add_(y)`` ...)."""

from __future__ import annotations

from . import _dtype
from ._tensor import Tensor
from .ops import activation, elementwise, indexing, inplace, linalg, reduction, shape

_FUNCTIONS = {}
for module in (elementwise, reduction, shape, linalg, activation):
    for name in module.__all__:
        _FUNCTIONS[name] = getattr(module, name)

_METHOD_NAMES = """abs add sub mul div pow maximum minimum floor_divide remainder eq ne lt le gt ge
exp log log1p log2 expm1 sqrt rsqrt sin cos tan tanh sigmoid relu sign floor ceil round erf
reciprocal clamp where softmax log_softmax logsumexp square lerp isnan isinf isfinite
bitwise_not bitwise_and bitwise_or bitwise_xor logical_not logical_and logical_or
sum mean var std prod amax amin max min argmax argmin all any cumsum norm
reshape view permute transpose expand flatten unflatten squeeze unsqueeze flip roll
tril triu split chunk movedim matmul""".split()

for _name in _METHOD_NAMES:
    setattr(Tensor, _name, _FUNCTIONS[_name])

Tensor.neg = elementwise.neg
Tensor.negative = elementwise.neg
Tensor.clip = elementwise.clamp
Tensor.true_divide = elementwise.div
Tensor.gather = indexing.gather
Tensor.scatter_add = indexing.scatter_add
Tensor.index_select = indexing.index_select
Tensor.masked_fill = indexing.masked_fill
Tensor.masked_select = indexing.masked_select
Tensor.nonzero = indexing.nonzero
Tensor.__getitem__ = indexing.getitem
Tensor.__setitem__ = indexing.setitem
Tensor.clone = lambda self, *, memory_format=None: elementwise.clone(self)
Tensor.swapaxes = shape.transpose
Tensor.dot = linalg.dot
Tensor.mm = linalg.mm
Tensor.bmm = linalg.bmm
Tensor.T = property(lambda self: shape.permute(self, tuple(reversed(range(self.ndim)))))
Tensor.t = lambda self: shape.transpose(self, 0, 1) if self.ndim == 2 else self
Tensor.mT = property(lambda self: shape.transpose(self, -2, -1))
Tensor.expand_as = lambda self, other: shape.expand(self, other.shape)
Tensor.view_as = lambda self, other: shape.reshape(self, other.shape)
Tensor.reshape_as = Tensor.view_as
Tensor.broadcast_to = shape.broadcast_to
Tensor.type_as = lambda self, other: self.to(other.dtype)

for _name in inplace.__all__ + ["lerp_", "pow_"]:
    setattr(Tensor, _name, getattr(inplace, _name))
for _name, _fn in inplace.UNARY_INPLACE.items():
    setattr(Tensor, _name, _fn)


def _to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
    from ._call import device_of, wrap

    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, _dtype.dtype) or a in (float, int, bool) or (
                isinstance(a, str) and a in _dtype._BY_NAME and ":" not in a
                and a not in ("cpu", "cuda")):
            dtype = a
        else:
            device = a
    out = self
    if device is not None:
        dev = device_of(device)
        if dev is not out._dev:
            moved = wrap(_move(out, dev, non_blocking), dev)
            if out._req and _grad_on():
                moved = _transfer(out, moved)
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


def _grad_on():
    from .autograd.grad_mode import STATE

    return STATE.enabled


def _transfer(src, moved):
    """Record a device transfer so gradients flow back to the source device."""
    from ._call import record
    from .ops.registry import OPS, register_op

    op = OPS.get("to_device") or register_op(
        "to_device", vjp=lambda ctx, g: (g.to(ctx.inputs[0].device),), uses_inputs=False)
    record(op, (src,), None, moved._data, moved._dev, moved)
    return moved


Tensor.to = _to
for _name, _d in (("float", _dtype.float32), ("double", _dtype.float64), ("half", _dtype.float16),
                  ("long", _dtype.int64), ("int", _dtype.int32), ("bool", _dtype.bool_),
                  ("short", _dtype.int16), ("byte", _dtype.uint8), ("char", _dtype.int8)):
    setattr(Tensor, _name, (lambda d: lambda self: elementwise.cast(self, d))(_d))


def _new_factory(fn):
    def method(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        return fn(*size, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad, **kw)
    return method


def _install_creation():
    from . import _creation

    Tensor.new_zeros = _new_factory(_creation.zeros)
    Tensor.new_ones = _new_factory(_creation.ones)
    Tensor.new_empty = _new_factory(_creation.empty)
    Tensor.new_full = lambda self, size, fill_value, *, dtype=None, device=None, \
        requires_grad=False: _creation.full(size, fill_value, dtype=dtype or self.dtype,
                                            device=device or self.device,
                                            requires_grad=requires_grad)
    Tensor.new_tensor = lambda self, data, *, dtype=None, device=None, requires_grad=False: \
        _creation.tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        from ._random import rand

        return inplace.copy_(self, rand(self.shape, dtype=self.dtype, device=self.device,
                                        generator=generator) * (b - a) + a)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        from ._random import randn

        return inplace.copy_(self, randn(self.shape, dtype=self.dtype, device=self.device,
                                         generator=generator) * std + mean)

    def bernoulli_(self, p=0.5, *, generator=None):
        from ._random import rand

        return inplace.copy_(self, (rand(self.shape, device=self.device,
                                         generator=generator) < p).to(self.dtype))

    Tensor.uniform_ = uniform_
    Tensor.normal_ = normal_
    Tensor.bernoulli_ = bernoulli_


_install_creation()
