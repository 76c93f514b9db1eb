"""Casting and copies: ``cast`` and ``clone`` (primitives, with their VJPs), and PyTorch's dtype
rule for an op's operands (``result_type``) with the small helpers the elementwise ops share.
Re-exported by :mod:`corefw.ops.elementwise`."""

from __future__ import annotations

from .. import _dtype
from .. import _rules as R
from .._call import apply, unary
from .._tensor import Tensor
from .registry import declare, publish

__all__ = ["cast", "clone", "result_type"]


# -- casting and copies ---------------------------------------------------------------------
def _cast_vjp(ctx, g):
    x = ctx.inputs[0]
    return (cast(g, x.dtype),) if x._data.dtype.kind in "fV" else (None,)


_CAST = declare("cast", rule=lambda x, dtype: R.spec(tuple(x.shape), dtype), vjp=_cast_vjp,
                saves=(), primitive=True)
_CLONE = declare("clone", rule=R.same, vjp=lambda ctx, g: (g,), saves=(), primitive=True)


def cast(x: Tensor, dtype) -> Tensor:
    """``x`` converted to ``dtype`` (a differentiable copy; the same tensor if unchanged)."""
    d = _dtype.to_dtype(dtype)
    if x._data.dtype == d.np:
        return x
    backend = x._dev.backend
    if d.name not in backend.dtypes:
        from ..errors import DTypeError

        raise DTypeError(f"cast: backend {backend.name!r} ({x._dev.type}) does not support "
                         f"{d}; supported: {', '.join(sorted(backend.dtypes))}")
    return apply(_CAST, (x,), {"dtype": d.np})


def clone(x: Tensor) -> Tensor:
    """A copy with its own storage (differentiable)."""
    return unary(_CLONE, x)


# -- the dtype an op computes in ------------------------------------------------------------
def _dtype_of(x) -> _dtype.dtype:
    if isinstance(x, Tensor):
        return _dtype.FROM_NP[x._data.dtype]
    return _dtype.default_for_category(_dtype.scalar_category(x))


def result_type(*operands) -> _dtype.dtype:
    """The dtype an op on ``operands`` (tensors and Python scalars) computes in, by PyTorch's
    rule: dimensioned tensors outrank 0-d tensors, which outrank Python scalars, and a
    lower-ranked group only counts when its category (bool < int < float) is higher."""
    groups: dict[int, _dtype.dtype] = {}
    for x in operands:
        rank = (2 if x._data.ndim else 1) if isinstance(x, Tensor) else 0
        d = _dtype_of(x)
        groups[rank] = d if rank not in groups else _dtype.promote_types(groups[rank], d)
    out = None
    for rank in (2, 1, 0):
        d = groups.get(rank)
        if d is not None and (out is None or d.category > out.category):
            out = d
    if out is None:
        raise TypeError("result_type: expected at least one operand")
    return out


def _promoted(a, b):
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    if ta is not None and tb is not None:
        return _dtype.promote_types(ta.dtype, tb.dtype)
    return (ta or tb).dtype


def _is_float(x) -> bool:
    return x._data.dtype.kind in "fV" if isinstance(x, Tensor) else isinstance(x, float)


def _to_float(x):
    if isinstance(x, Tensor) and x._data.dtype.kind not in "fV":
        return cast(x, _dtype.get_default_dtype())
    return x


publish(globals(), __all__)
