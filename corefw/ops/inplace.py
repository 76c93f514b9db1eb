"""In-place variants (``add_``, ``mul_``, ``copy_`` ...), as optimizers use them.

Under ``no_grad`` they write straight into the tensor's storage. While the graph is recorded,
the out-of-place result is computed with its node and written back, and the tensor takes that
node (PyTorch's rebase), so ``y = x * 2; y.add_(1)`` stays differentiable. A leaf that requires
grad cannot be changed in place outside ``no_grad``. Every call bumps the version counter, which
backward checks for tensors it saved.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..errors import DTypeError, ShapeError
from . import elementwise as ew
from .indexing import bump_version, check_inplace

__all__ = ["add_", "addcdiv_", "addcmul_", "clamp_", "copy_", "div_", "fill_", "mul_", "sub_",
           "zero_"]


def _write(x: Tensor, new: Tensor, op: str, record: bool) -> Tensor:
    if tuple(new._data.shape) != tuple(x._data.shape):
        raise ShapeError(f"{op}: the result has shape {tuple(new._data.shape)}, which cannot "
                         f"be written into a tensor of shape {x.shape} in place")
    if new._data.dtype != x._data.dtype:
        if new.dtype.category > x.dtype.category:
            raise DTypeError(f"{op}: result type {new.dtype} can't be cast to the desired "
                             f"output type {x.dtype}")
        new = ew.cast(new, x.dtype)
    if new._dev is not x._dev:
        raise ShapeError(f"{op}: result on {new._dev} cannot be written to {x._dev}")
    try:
        x._dev.table["copy_"](x._data, new._data)
    except ValueError as exc:  # e.g. NumPy's read-only broadcast views
        raise ShapeError(f"{op}: cannot write into this tensor of shape {x.shape} in place "
                         f"({exc}); an expanded tensor shares one element between many "
                         f"positions: clone() it first") from exc
    if record:
        x._node, x._req = new._node, True
    bump_version(x)
    return x


def _inplace(x: Tensor, op: str, fn, *args, **kwargs) -> Tensor:
    """``x = fn(x, *args, **kwargs)`` in place. While recording, ``fn`` runs on a clone of
    ``x`` (PyTorch saves the original self the same way), so a VJP that needs the old values
    (``mul_``, ``div_``, ``pow_`` ...) does not see them overwritten."""
    record = check_inplace(x, op, any(isinstance(a, Tensor) and a._req for a in args))
    if record:
        old = ew.clone(x)
        args = tuple(old if a is x else a for a in args)
        return _write(x, fn(old, *args, **kwargs), op, True)
    from ..autograd.grad_mode import no_grad

    with no_grad():
        return _write(x, fn(x, *args, **kwargs), op, False)


def add_(x, other, *, alpha=1):
    return _inplace(x, "add_", ew.add, other, alpha=alpha)


def sub_(x, other, *, alpha=1):
    return _inplace(x, "sub_", ew.sub, other, alpha=alpha)


def mul_(x, other):
    return _inplace(x, "mul_", ew.mul, other)


def div_(x, other, *, rounding_mode=None):
    return _inplace(x, "div_", ew.div, other, rounding_mode=rounding_mode)


def pow_(x, exponent):
    return _inplace(x, "pow_", ew.pow, exponent)


def _addcmul(x, tensor1, tensor2, value):
    return x + value * tensor1 * tensor2 if value != 1 else x + tensor1 * tensor2


def _addcdiv(x, tensor1, tensor2, value):
    return x + value * tensor1 / tensor2 if value != 1 else x + tensor1 / tensor2


def addcmul_(x, tensor1, tensor2, *, value=1):
    """``x += value * tensor1 * tensor2``."""
    return _inplace(x, "addcmul_", _addcmul, tensor1, tensor2, value)


def addcdiv_(x, tensor1, tensor2, *, value=1):
    """``x += value * tensor1 / tensor2``."""
    return _inplace(x, "addcdiv_", _addcdiv, tensor1, tensor2, value)


def lerp_(x, end, weight):
    return _inplace(x, "lerp_", ew.lerp, end, weight)


def clamp_(x, min=None, max=None):  # noqa: A002
    return _inplace(x, "clamp_", ew.clamp, min, max)


def copy_(x, src, non_blocking: bool = False):
    """Copy ``src`` (broadcast, cast, moved from another device) into ``x``."""
    if not isinstance(src, Tensor):
        from .._creation import tensor

        src = tensor(src, dtype=x.dtype, device=x.device)
    if src._dev is not x._dev:
        src = src.to(x._dev, non_blocking=non_blocking)
    if src._data.dtype != x._data.dtype:
        src = ew.cast(src, x.dtype)
    if src.shape != x.shape:
        from .shape import expand

        src = expand(src, x.shape)
    return _inplace(x, "copy_", lambda _, s: ew.clone(s) if s._req else s, src)


def fill_(x, value):
    from .._creation import full

    if isinstance(value, Tensor):
        value = value.item()
    return _inplace(x, "fill_", lambda t: full(t.shape, value, dtype=t.dtype, device=t.device))


def zero_(x):
    return fill_(x, 0)


def _unary_inplace(name, fn):
    def method(x, *args, **kwargs):
        return _inplace(x, name, fn, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"In-place ``{fn.__name__}``."
    return method


UNARY_INPLACE = {f"{f.__name__}_": _unary_inplace(f"{f.__name__}_", f) for f in (
    ew.exp, ew.log, ew.sqrt, ew.tanh, ew.sigmoid, ew.relu, ew.neg, ew.abs, ew.floor, ew.ceil,
    ew.round, ew.sin, ew.cos, ew.reciprocal, ew.rsqrt, ew.sign)}
