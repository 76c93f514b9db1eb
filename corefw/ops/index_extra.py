"""PyTorch's scatter and index-update ops and their in-place ``_`` variants (``scatter_``,
``index_add_``, ``masked_fill_`` ...). ``scatter`` is a composite declared with a
decomposition into ``scatter_add`` and ``where``; ``index_add``/``index_copy``/``index_fill``
and ``masked_scatter`` are ``index_put`` with a key along one dim. All differentiate through
the ops they are written with."""

from __future__ import annotations

from .. import _dtype
from .._call import apply
from .._registry import FN
from .._tensor import Tensor
from ..errors import DTypeError, ShapeError
from ._dims import normalize_dims
from .inplace import _inplace
from .registry import declare, publish

__all__ = ["index_add", "index_copy", "index_fill", "masked_scatter", "scatter",
           "scatter_reduce"]
INPLACE = ["index_add_", "index_copy_", "index_fill_", "masked_fill_", "masked_scatter_",
           "scatter_", "scatter_add_", "scatter_reduce_"]


def _scatter_decomp(x, index, src, dim):
    """Where ``index`` points: ``src``; elsewhere: ``x``."""
    hit = FN.scatter_add(FN.zeros(tuple(x.shape), dtype=_dtype.int64, device=x.device), dim,
                         index, FN.ones(tuple(index.shape), dtype=_dtype.int64,
                                        device=x.device))
    placed = FN.scatter_add(FN.zeros_like(x), dim, index, src)
    return FN.where(hit > 0, placed, x)


_SCATTER = declare("scatter", decomposition=_scatter_decomp)


def _src_for(op, input, index, src, value):
    if src is None and value is None:
        raise TypeError(f"{op}: pass src (a tensor) or value (a number)")
    if src is None or not isinstance(src, Tensor):
        v = value if src is None else src
        return FN.full(tuple(index.shape), v, dtype=input.dtype, device=input.device)
    if tuple(src.shape) != tuple(index.shape):  # PyTorch reads src[:index.shape]
        if any(s < i for s, i in zip(src.shape, index.shape)) or src.ndim != index.ndim:
            raise ShapeError(f"{op}: index {tuple(index.shape)} is larger than src "
                             f"{tuple(src.shape)} in some dim")
        src = src[tuple(slice(0, n) for n in index.shape)]
    return src if src.dtype == input.dtype else FN.cast(src, input.dtype)


def scatter(input, dim: int, index, src=None, *, value=None, reduce: str | None = None):
    """A copy of ``input`` with ``src`` (or the number ``value``) written at ``index`` along
    ``dim``: ``out[index[i][j]][j] = src[i][j]`` for dim 0. ``reduce="add"`` adds instead,
    ``"multiply"`` multiplies. Indices repeated along ``dim`` are summed (PyTorch leaves
    which one wins undefined)."""
    if index._data.dtype.kind not in "iu":
        raise DTypeError(f"scatter: index must be an integer tensor, got {index.dtype}")
    if index._data.ndim != input._data.ndim:
        raise ShapeError(f"scatter: index {tuple(index.shape)} must have as many dims as input "
                         f"{tuple(input.shape)}")
    (d,) = normalize_dims(dim, input._data.ndim, "scatter") or (0,)
    src = _src_for("scatter", input, index, src, value)
    if reduce == "add":
        return FN.scatter_add(input, d, index, src)
    if reduce == "multiply":
        return scatter_reduce(input, d, index, src, "prod")
    if reduce is not None:
        raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    return apply(_SCATTER, (input, index, src), {"dim": d})


def scatter_reduce(input, dim: int, index, src, reduce: str, *, include_self: bool = True):
    """Reduce ``src`` into ``input`` at ``index`` along ``dim`` with ``reduce`` (``"sum"``,
    ``"prod"``, ``"mean"``, ``"amax"``, ``"amin"``)."""
    (d,) = normalize_dims(dim, input._data.ndim, "scatter_reduce") or (0,)
    src = _src_for("scatter_reduce", input, index, src, None)
    ones = FN.ones(tuple(index.shape), dtype=_dtype.int64, device=input.device)
    count = FN.scatter_add(FN.zeros(tuple(input.shape), dtype=_dtype.int64,
                                    device=input.device), d, index, ones)
    hit = count > 0
    if reduce == "sum":
        base = input if include_self else FN.where(hit, 0, input)
        return FN.scatter_add(base, d, index, src)
    if reduce == "mean":
        base = input if include_self else FN.where(hit, 0, input)
        total = FN.scatter_add(base, d, index, src)
        n = count + (1 if include_self else 0)
        out = total / FN.where(n == 0, 1, n)
        out = out if input.dtype.is_floating_point else FN.floor_divide(total, FN.where(
            n == 0, 1, n))
        return FN.where(hit, FN.cast(out, input.dtype), input)
    if reduce not in ("prod", "amax", "amin"):
        raise ValueError(f"scatter_reduce: reduce must be one of sum, prod, mean, amax, amin; "
                         f"got {reduce!r}")
    # one slot per (target position, source element): reduce over the source elements
    n = input.shape[d]
    pos = FN.reshape(FN.arange(n, device=input.device),
                     (n,) + (1,) * (input.ndim))  # (n, 1, ..., 1)
    mine = FN.unsqueeze(index, 0) == FN.movedim(pos, 0, 0)  # (n, *index.shape)
    fill = {"prod": 1, "amax": -float("inf"), "amin": float("inf")}[reduce]
    if not input.dtype.is_floating_point and reduce != "prod":
        info = _dtype.iinfo(input.dtype)
        fill = info.min if reduce == "amax" else info.max
    vals = FN.where(mine, FN.unsqueeze(src, 0), fill)
    red_dim = d + 1
    red = {"prod": FN.prod, "amax": FN.amax, "amin": FN.amin}[reduce](vals, red_dim)
    red = FN.movedim(red, 0, d)  # (.., n, ..) with index's other dims
    if tuple(red.shape) != tuple(input.shape):
        red = FN.pad(red, tuple(v for i in reversed(range(input.ndim)) for v in (
            0, input.shape[i] - red.shape[i])), value=fill)
    red = FN.cast(red, input.dtype)
    if include_self:
        comb = {"prod": lambda a, b: a * b, "amax": FN.maximum, "amin": FN.minimum}[reduce]
        return FN.where(hit, comb(input, red), input)
    return FN.where(hit, red, input)


def _key(input, dim, index, op):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu" or index.ndim > 1:
        raise DTypeError(f"{op}: index must be a 1-D integer tensor, got "
                         f"{getattr(index, 'dtype', type(index).__name__)} of shape "
                         f"{tuple(getattr(index, 'shape', ()))}")
    (d,) = normalize_dims(dim, input._data.ndim, op) or (0,)
    if input._data.ndim == 0:
        return (FN.reshape(index, (-1,)),), d
    return (slice(None),) * d + (FN.reshape(index, (-1,)),), d


def _source(op, input, key, d, source):
    """``source`` laid out as ``input[key]`` (the indexed dim first where advanced indexing
    moves it) and in input's dtype."""
    if source.dtype != input.dtype:
        source = FN.cast(source, input.dtype)
    if input._data.ndim == 0:
        return FN.reshape(source, (-1,))
    expected = tuple(input.shape[:d]) + (key[-1].shape[0],) + tuple(input.shape[d + 1:])
    if tuple(source.shape) != expected:
        if source.ndim == 0 and expected == (1,) * len(expected):
            return FN.reshape(source, expected)
        raise ShapeError(f"{op}: source of shape {tuple(source.shape)} does not match the "
                         f"{len(key[-1])} indexed slices of input {tuple(input.shape)} along "
                         f"dim {d} (expected {expected})")
    return source


def index_add(input, dim: int, index, source, *, alpha=1):
    """A copy of ``input`` with ``alpha * source[i]`` added to slice ``index[i]`` of ``dim``
    (repeated indices accumulate)."""
    key, d = _key(input, dim, index, "index_add")
    source = _source("index_add", input, key, d, source)
    if alpha != 1:
        source = source * alpha
    return FN.index_put(input, key, source, accumulate=True)


def index_copy(input, dim: int, index, source):
    """A copy of ``input`` with slice ``index[i]`` of ``dim`` replaced by ``source[i]``."""
    key, d = _key(input, dim, index, "index_copy")
    return FN.index_put(input, key, _source("index_copy", input, key, d, source))


def index_fill(input, dim: int, index, value):
    """A copy of ``input`` with the slices ``index`` of ``dim`` set to ``value``."""
    key, d = _key(input, dim, index, "index_fill")
    if isinstance(value, Tensor):
        value = FN.cast(value, input.dtype)
    return FN.index_put(input, key, value)


def masked_scatter(input, mask, source):
    """A copy of ``input`` with the elements where ``mask`` is True replaced, in order, by
    the first elements of ``source``."""
    if mask.dtype != _dtype.bool_:
        raise DTypeError(f"masked_scatter: mask must be a bool tensor, got {mask.dtype}")
    if tuple(mask.shape) != tuple(input.shape):
        mask = FN.expand(mask, tuple(input.shape))
    k = int(FN.sum(mask))
    flat = FN.reshape(source, (-1,))
    if flat.shape[0] < k:
        raise ShapeError(f"masked_scatter: mask selects {k} elements but source has only "
                         f"{flat.shape[0]}")
    return FN.index_put(input, (mask,), FN.cast(flat[:k], input.dtype))


# -- in place ---------------------------------------------------------------------------------
def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    return _inplace(input, "scatter_", scatter, dim, index, src, value=value, reduce=reduce)


def scatter_add_(input, dim, index, src):
    return _inplace(input, "scatter_add_", FN.scatter_add, dim, index, src)


def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):
    return _inplace(input, "scatter_reduce_", scatter_reduce, dim, index, src, reduce,
                    include_self=include_self)


def index_add_(input, dim, index, source, *, alpha=1):
    return _inplace(input, "index_add_", index_add, dim, index, source, alpha=alpha)


def index_copy_(input, dim, index, source):
    return _inplace(input, "index_copy_", index_copy, dim, index, source)


def index_fill_(input, dim, index, value):
    return _inplace(input, "index_fill_", index_fill, dim, index, value)


def masked_fill_(input, mask, value):
    return _inplace(input, "masked_fill_", FN.masked_fill, mask, value)


def masked_scatter_(input, mask, source):
    return _inplace(input, "masked_scatter_", masked_scatter, mask, source)


publish(globals(), __all__ + INPLACE, methods=" ".join(__all__ + INPLACE))
