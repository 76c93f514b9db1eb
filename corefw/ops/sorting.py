"""Sorting and selection: ``argsort`` is the one op (a stable sort's permutation along a dim);
``sort``, ``topk``, ``kthvalue``, ``median``, ``msort``, ``searchsorted`` ... gather with it,
so their values differentiate through ``gather`` as PyTorch's do (the gradient goes to the
selected elements).

``argsort``'s decomposition ranks every element against every other along the dim
(``O(n^2)`` memory per row): backends bring a real sort (corefw-cpu: ``numpy.argsort``). NaN
sorts as the largest value, as in PyTorch.
"""

from __future__ import annotations

from collections import namedtuple

from .. import _dtype
from .. import _rules as R
from .._call import apply
from .._registry import FN
from ..errors import CorefwIndexError
from ._dims import normalize_dims
from .registry import declare, publish

__all__ = ["argsort", "bucketize", "kthvalue", "median", "mode", "msort", "nanmedian",
           "searchsorted", "sort", "topk"]

values_indices = namedtuple("values_indices", ["values", "indices"])


def _argsort_rule(x, dim, descending):
    R.check_dim(dim, len(x.shape))
    return R.spec(tuple(x.shape), "int64")


def _argsort_decomp(x, dim, descending):
    """Rank of each element: how many elements sort before it (ties by position), then
    scatter each position to its rank."""
    n = x.shape[dim]
    xm = FN.movedim(x, dim, -1)
    if x._data.dtype.kind in "fV":  # NaN last (first when descending), as the largest
        nan = FN.isnan(xm)
        xm = FN.where(nan, 0.0, xm)
    else:
        nan = None
    a, b = FN.unsqueeze(xm, -1), FN.unsqueeze(xm, -2)  # a: element i, b: element j
    before = (b > a) if descending else (b < a)
    pos = FN.arange(n, device=x.device)
    earlier = FN.unsqueeze(pos, -1) > FN.unsqueeze(pos, 0)  # j < i
    tie = (b == a)
    if nan is not None:
        na, nb = FN.unsqueeze(nan, -1), FN.unsqueeze(nan, -2)
        before = FN.where(na | nb, (nb & ~na) if descending else (na & ~nb), before)
        tie = FN.where(na | nb, na & nb, tie)
    rank = FN.sum(before | (tie & earlier), -1)
    idx = FN.zeros(tuple(rank.shape), dtype=_dtype.int64, device=x.device)
    src = FN.expand(pos, tuple(rank.shape))
    return FN.movedim(FN.scatter_add(idx, -1, rank, src), -1, dim)


_ARGSORT = declare("argsort", rule=_argsort_rule, decomposition=_argsort_decomp,
                   differentiable=False, saves=())


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """The indices that sort ``input`` along ``dim`` (always stable: equal elements keep their
    order, which also satisfies ``stable=False``)."""
    if input._data.ndim == 0:
        return FN.zeros((), dtype=_dtype.int64, device=input.device)
    (d,) = normalize_dims(dim, input._data.ndim, "argsort")
    return apply(_ARGSORT, (input,), {"dim": d, "descending": bool(descending)})


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False, *, out=None):
    """``(values, indices)`` of ``input`` sorted along ``dim``."""
    idx = argsort(input, dim, descending)
    values = FN.gather(input, dim, idx) if input._data.ndim else input.clone()
    return _out(values_indices(values, idx), out)


def _out(result, out):
    """Write ``result`` into the ``out`` tensors (PyTorch's ``out=``) and return them."""
    if out is None:
        return result
    for dst, src in zip(out, result):
        dst.copy_(src)
    return type(result)(*out)


def msort(input):
    """``input`` sorted along its first dim."""
    return sort(input, 0).values


def _k_dim(input, k, dim, op):
    nd = input._data.ndim
    (d,) = normalize_dims(dim, nd, op) or (0,)
    n = input._data.shape[d] if nd else 1
    return d, n


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True,  # noqa: A002
         *, out=None):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their
    indices, in sorted order."""
    d, n = _k_dim(input, k, dim, "topk")
    if not 0 <= k <= n:
        raise CorefwIndexError(f"topk: k ({k}) is out of range for dimension {dim} of size "
                               f"{n} (tensor of shape {tuple(input.shape)})")
    if input._data.ndim == 0:
        return _out(values_indices(input.clone(), argsort(input)), out)
    idx = FN.narrow(argsort(input, d, descending=largest), d, 0, k)
    return _out(values_indices(FN.gather(input, d, idx), idx), out)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False, *, out=None):
    """The ``k``-th smallest element along ``dim`` (1-based) and its index."""
    d, n = _k_dim(input, k, dim, "kthvalue")
    if not 1 <= k <= n:
        raise CorefwIndexError(f"kthvalue: k ({k}) is out of range for dimension {dim} of "
                               f"size {n} (tensor of shape {tuple(input.shape)})")
    return _out(_select(input, d, k - 1, keepdim), out)


def _select(input, d, position, keepdim):
    if input._data.ndim == 0:
        return values_indices(input.clone(), argsort(input))
    idx = FN.narrow(argsort(input, d), d, position, 1)
    values = FN.gather(input, d, idx)
    if not keepdim:
        values, idx = FN.squeeze(values, d), FN.squeeze(idx, d)
    return values_indices(values, idx)


def median(input, dim: int | None = None, keepdim: bool = False, *, out=None):
    """The lower median: over every element (a 0-d tensor) when ``dim`` is None, else
    ``(values, indices)`` along ``dim``."""
    if dim is None:
        flat = FN.reshape(input, (-1,))
        if flat.shape[0] == 0:
            return FN.full((), float("nan"), dtype=input.dtype, device=input.device)
        return _select(flat, 0, (flat.shape[0] - 1) // 2, False).values
    d, n = _k_dim(input, 1, dim, "median")
    if n == 0:
        raise CorefwIndexError(f"median: cannot take the median of an empty dimension {dim} "
                               f"(tensor of shape {tuple(input.shape)})")
    return _out(_select(input, d, (n - 1) // 2, keepdim), out)


def nanmedian(input, dim: int | None = None, keepdim: bool = False):
    """:func:`median` ignoring NaN (NaN sorts last; the median is taken among the rest)."""
    if input._data.dtype.kind not in "fV":
        return median(input, dim, keepdim)
    if dim is None:
        flat = FN.reshape(input, (-1,))
        count = int(FN.sum(~FN.isnan(flat)))
        if count == 0:
            return FN.full((), float("nan"), dtype=input.dtype, device=input.device)
        return _select(flat, 0, (count - 1) // 2, False).values
    d, n = _k_dim(input, 1, dim, "nanmedian")
    idx_sorted = argsort(input, d)
    count = FN.sum(~FN.isnan(input), d, keepdim=True)
    pos = FN.clamp((count - 1) // 2, min=0)
    idx = FN.gather(idx_sorted, d, pos)
    values = FN.gather(input, d, idx)
    if not keepdim:
        values, idx = FN.squeeze(values, d), FN.squeeze(idx, d)
    return values_indices(values, idx)


def mode(input, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest among equally frequent ones) and
    the index of its last occurrence."""
    if input._data.ndim == 0:
        return values_indices(input.clone(), argsort(input))
    (d,) = normalize_dims(dim, input._data.ndim, "mode")
    with_grad = input
    x = FN.movedim(input.detach(), d, -1)
    eq = FN.unsqueeze(x, -1) == FN.unsqueeze(x, -2)
    count = FN.sum(eq, -1)
    best = FN.amax(count, -1, keepdim=True)
    cand = FN.where(count == best, x, FN.amax(x, -1, keepdim=True))
    value = FN.amin(cand, -1, keepdim=True)
    n = x.shape[-1]
    pos = FN.arange(n, device=x.device)
    last = FN.argmax(FN.where(x == value, pos, -1), -1, keepdim=True)
    idx = FN.movedim(last, -1, d)
    values = FN.gather(with_grad, d, idx)
    if not keepdim:
        values, idx = FN.squeeze(values, d), FN.squeeze(idx, d)
    return values_indices(values, idx)


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter=None):
    """For each value, the index where it would be inserted to keep the innermost dim of
    ``sorted_sequence`` sorted (the first such index; the last with ``right=True``)."""
    if side is not None:
        right = side == "right"
    seq = sorted_sequence
    if sorter is not None:
        seq = FN.gather(seq, -1, sorter)
    scalar = not hasattr(input, "shape")
    values = FN.full((), input, device=seq.device) if scalar else input
    if seq._data.ndim == 1:
        cmp = FN.unsqueeze(seq, 0) <= FN.unsqueeze(FN.reshape(values, (-1,)), -1) if right \
            else FN.unsqueeze(seq, 0) < FN.unsqueeze(FN.reshape(values, (-1,)), -1)
        out = FN.reshape(FN.sum(cmp, -1), tuple(values.shape))
    else:
        a, v = FN.unsqueeze(seq, -2), FN.unsqueeze(values, -1)
        out = FN.sum((a <= v) if right else (a < v), -1)
    return FN.cast(out, _dtype.int32) if out_int32 else out


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False):
    """The bucket index of each value for the 1-D sorted ``boundaries`` (``right=False``:
    ``boundaries[i-1] < x <= boundaries[i]``)."""
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


publish(globals(), __all__, methods="""argsort kthvalue median msort nanmedian mode sort
topk""")
