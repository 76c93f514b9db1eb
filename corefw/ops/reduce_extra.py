"""PyTorch's further reductions and scans. ``cumprod`` is a composite declared with a
decomposition (a product over a triangular mask, ``O(n^2)`` per row, exact with zeros and
negative values, differentiated through ``prod``; corefw-cpu runs ``numpy.cumprod``). The rest
are written with existing ops and differentiate through them: ``cummax``/``cummin`` and
``logcumsumexp`` also work on the triangular mask."""

from __future__ import annotations

from collections import namedtuple

from .. import _dtype
from .._call import apply
from .._registry import FN
from ..errors import DTypeError, ShapeError
from ._dims import normalize_dims
from .registry import declare, publish

__all__ = ["aminmax", "bincount", "count_nonzero", "cummax", "cummin", "cumprod", "diff",
           "histc", "logcumsumexp", "nanmean", "nanquantile", "nansum", "quantile",
           "std_mean", "unique", "unique_consecutive", "var_mean"]

values_indices = namedtuple("values_indices", ["values", "indices"])
min_max = namedtuple("min_max", ["min", "max"])


def _tri(n, device):
    """``mask[j, i]``: element i is in the prefix ending at j."""
    r = FN.arange(n, device=device)
    return FN.unsqueeze(r, 1) >= FN.unsqueeze(r, 0)


def _prefix(x, dim, fill):
    """``(..., n_out, n_in)`` with the prefixes of ``x`` along ``dim`` (``fill`` outside)."""
    xm = FN.movedim(x, dim, -1)
    return FN.where(_tri(xm.shape[-1], x.device), FN.unsqueeze(xm, -2), fill)


def _cumprod_decomp(x, dim):
    out = FN.prod(_prefix(x, dim, 1), -1)
    return FN.movedim(out, -1, dim)


_CUMPROD = declare("cumprod", decomposition=_cumprod_decomp)


def cumprod(input, dim: int, *, dtype=None):
    """Cumulative product along ``dim`` (bool and integers give int64)."""
    if dtype is not None:
        input = FN.cast(input, dtype)
    elif input._data.dtype.kind in "bui":
        input = FN.cast(input, _dtype.int64)
    (d,) = normalize_dims(dim, input._data.ndim, "cumprod") or (0,)
    if input._data.ndim == 0:
        return input.clone()
    return apply(_CUMPROD, (input,), {"dim": d})


def _cumext(input, dim, largest, op):
    (d,) = normalize_dims(dim, input._data.ndim, op) or (0,)
    if input._data.ndim == 0:
        return values_indices(input.clone(), FN.zeros((), dtype=_dtype.int64,
                                                       device=input.device))
    x = FN.movedim(input.detach(), d, -1)
    n = x.shape[-1]
    tri = _tri(n, x.device)
    a = FN.unsqueeze(x, -2)  # (..., 1, n): candidates
    if x.dtype.is_floating_point:  # NaN propagates, as in PyTorch: treat as the extreme
        a = FN.where(FN.isnan(a), float("inf") if largest else -float("inf"), a)
    fill = (-float("inf") if largest else float("inf")) if x.dtype.is_floating_point else (
        _dtype.iinfo(x.dtype).min if largest else _dtype.iinfo(x.dtype).max)
    vals = FN.where(tri, a, fill)
    best = (FN.amax if largest else FN.amin)(vals, -1, keepdim=True)
    pos = FN.arange(n, device=x.device)
    hit = tri & (vals == best)  # the last index that reaches the extreme (PyTorch's)
    idx = FN.amax(FN.where(hit, pos, -1), -1)
    idx = FN.movedim(idx, -1, d)
    return values_indices(FN.gather(input, d, idx), idx)


def cummax(input, dim: int):
    """Running maximum along ``dim`` and the index where it was reached (the last index on
    ties)."""
    return _cumext(input, dim, True, "cummax")


def cummin(input, dim: int):
    """Running minimum along ``dim`` and its index (the last index on ties)."""
    return _cumext(input, dim, False, "cummin")


def logcumsumexp(input, dim: int):
    """``log(cumsum(exp(input)))`` along ``dim``, computed stably."""
    if not input.dtype.is_floating_point:
        raise DTypeError(f"logcumsumexp: expected a floating-point tensor, got {input.dtype}")
    (d,) = normalize_dims(dim, input._data.ndim, "logcumsumexp") or (0,)
    if input._data.ndim == 0:
        return input.clone()
    out = FN.logsumexp(_prefix(input, d, -float("inf")), -1)
    return FN.movedim(out, -1, d)


def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (``prepend``/``append`` joined first)."""
    (d,) = normalize_dims(dim, input._data.ndim, "diff")
    x = input
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, input, append) if p is not None]
        x = FN.cat([FN.expand(p, tuple(input.shape[:d]) + (1,) + tuple(input.shape[d + 1:]))
                    if p.ndim == 0 else p for p in parts], d)
    for _ in range(n):
        m = x.shape[d]
        hi = FN.narrow(x, d, 1, max(m - 1, 0))
        lo = FN.narrow(x, d, 0, max(m - 1, 0))
        x = (hi ^ lo) if x.dtype == _dtype.bool_ else hi - lo
    return x


def count_nonzero(input, dim=None):
    """The number of non-zero elements (over ``dim``), int64."""
    return FN.sum(input != 0, dim)


def nansum(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Sum treating NaN as zero."""
    x = FN.where(FN.isnan(input), 0, input) if input.dtype.is_floating_point else input
    return FN.sum(x, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Mean of the non-NaN elements (NaN where there are none)."""
    if dtype is not None:
        input = FN.cast(input, dtype)
    keep = ~FN.isnan(input)
    return nansum(input, dim, keepdim) / FN.sum(keep, dim, keepdim)


def aminmax(input, *, dim=None, keepdim: bool = False):
    """``(min, max)`` over ``dim`` (every element when None)."""
    d = () if dim is None else dim
    return min_max(FN.amin(input, d, keepdim), FN.amax(input, d, keepdim))


def var_mean(input, dim=None, *, correction: float = 1, keepdim: bool = False, unbiased=None):
    """``(var, mean)`` over ``dim``."""
    return (FN.var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased),
            FN.mean(input, dim, keepdim))


def std_mean(input, dim=None, *, correction: float = 1, keepdim: bool = False, unbiased=None):
    """``(std, mean)`` over ``dim``."""
    return (FN.std(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased),
            FN.mean(input, dim, keepdim))


def _quantile(input, q, dim, keepdim, interpolation, op, ignore_nan):
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating-point input, got {input.dtype}")
    modes = ("linear", "lower", "higher", "midpoint", "nearest")
    if interpolation not in modes:
        raise ValueError(f"{op}: interpolation must be one of {modes}, got {interpolation!r}")
    scalar_q = not hasattr(q, "shape")
    qs = FN.tensor([q] if scalar_q else q.tolist(), dtype=input.dtype, device=input.device)
    if qs.ndim > 1 or bool(FN.any((qs < 0) | (qs > 1))):
        raise ValueError(f"{op}: q must be a scalar or 1-D tensor of values in [0, 1]")
    x = FN.reshape(input, (-1,)) if dim is None else input
    (d,) = normalize_dims(0 if dim is None else dim, x.ndim, op) or (0,)
    xs = FN.movedim(FN.sort(x, d).values, d, -1)  # NaN sorts last
    n = xs.shape[-1]
    if n == 0:
        raise ShapeError(f"{op}: cannot take a quantile of an empty dimension")
    if ignore_nan:
        count = FN.sum(~FN.isnan(xs), -1, keepdim=True)
    else:
        count = FN.full(tuple(xs.shape[:-1]) + (1,), n, dtype=_dtype.int64, device=x.device)
    last = FN.cast(FN.clamp(count - 1, min=0), input.dtype)
    rank = FN.reshape(qs, (-1,) + (1,) * xs.ndim) * last  # (Q, ..., 1)
    lo, hi = FN.floor(rank), FN.ceil(rank)
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = FN.round(rank)
    xe = FN.expand(FN.unsqueeze(xs, 0), (qs.shape[0],) + tuple(xs.shape))
    vlo = FN.gather(xe, -1, FN.cast(lo, _dtype.int64))
    vhi = FN.gather(xe, -1, FN.cast(hi, _dtype.int64))
    if interpolation == "midpoint":
        out = vlo + (vhi - vlo) * FN.where(hi > lo, 0.5, 0.0)
    else:
        out = vlo + (vhi - vlo) * (rank - lo)
    if not ignore_nan:
        has_nan = FN.any(FN.isnan(xs), -1, keepdim=True)
        out = FN.where(has_nan, float("nan"), out)
    else:
        out = FN.where(count == 0, float("nan"), out)
    out = FN.squeeze(out, -1)  # (Q, ...rest)
    if keepdim:
        out = FN.unsqueeze(out, d + 1) if dim is not None else FN.reshape(
            out, (qs.shape[0],) + (1,) * input.ndim)
    return out[0] if scalar_q else out


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """The ``q``-quantiles of ``input`` (over every element when ``dim`` is None); a tensor
    ``q`` adds a leading dim. NaN in a slice makes its quantile NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, "quantile", False)


def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """:func:`quantile` ignoring NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, "nanquantile", True)


def histc(input, bins: int = 100, min: float = 0, max: float = 0):  # noqa: A002
    """Histogram of ``bins`` equal bins over ``[min, max]`` (the data's range when both are
    0); values outside are ignored; the last bin includes ``max``."""
    x = FN.reshape(input, (-1,))
    lo, hi = float(min), float(max)
    if lo == hi == 0 and x.numel():
        lo, hi = float(FN.amin(x)), float(FN.amax(x))
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise ValueError(f"histc: max ({hi}) must be larger than min ({lo})")
    inside = (x >= lo) & (x <= hi)
    b = FN.clamp(FN.cast(FN.floor((x - lo) * (bins / (hi - lo))), _dtype.int64), 0, bins - 1)
    b = FN.where(inside, b, bins)  # an overflow bin, dropped below
    counts = FN.scatter_add(FN.zeros(bins + 1, dtype=_dtype.int64, device=x.device), 0, b,
                            FN.ones(tuple(b.shape), dtype=_dtype.int64, device=x.device))
    out_dtype = input.dtype if input.dtype.is_floating_point else _dtype.float32
    return FN.cast(counts[:bins], out_dtype)


def bincount(input, weights=None, minlength: int = 0):
    """Counts of each value of a 1-D non-negative integer tensor (weighted sums with
    ``weights``)."""
    if input.ndim != 1 or input._data.dtype.kind not in "iub" or (
            input.numel() and int(FN.amin(input)) < 0):
        raise ValueError(f"bincount: expected a 1-D tensor of non-negative integers, got "
                         f"{input.dtype} of shape {tuple(input.shape)}")
    n = builtins_max(int(FN.amax(input)) + 1 if input.numel() else 0, minlength)
    if weights is None:
        src = FN.ones(tuple(input.shape), dtype=_dtype.int64, device=input.device)
        zeros = FN.zeros(n, dtype=_dtype.int64, device=input.device)
    else:
        src = weights if weights.dtype.is_floating_point else FN.cast(weights, _dtype.float64)
        zeros = FN.zeros(n, dtype=src.dtype, device=input.device)
    return FN.scatter_add(zeros, 0, FN.cast(input, _dtype.int64), src)


def builtins_max(a, b):
    return a if a > b else b


def unique(input, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None):
    """The distinct elements (sorted), with the index of each input element in them
    (``return_inverse``) and how often each occurs (``return_counts``). The size depends on
    the values, so meta tensors raise, as for ``nonzero``."""
    if dim is not None:
        raise NotImplementedError("unique: dim= is not supported yet; flatten first")
    flat = FN.reshape(input, (-1,))
    vals, order = FN.sort(flat)
    return _runs(input, vals, order, return_inverse, return_counts)


def _runs(input, vals, order, return_inverse, return_counts):
    n = vals.shape[0]
    if n:
        first = FN.cat([FN.ones(1, dtype=_dtype.bool_, device=vals.device),
                        vals[1:] != vals[:-1]])
    else:
        first = FN.zeros(0, dtype=_dtype.bool_, device=vals.device)
    starts = FN.nonzero(first)[:, 0]  # data-dependent: raises on meta
    out = [vals[starts]]
    if return_inverse:
        group = FN.cumsum(first, 0) - 1
        inverse = FN.scatter_add(FN.zeros(n, dtype=_dtype.int64, device=vals.device), 0,
                                 order, group)
        out.append(FN.reshape(inverse, tuple(input.shape)))
    if return_counts:
        ends = FN.cat([starts[1:], FN.full((1,), n, dtype=_dtype.int64, device=vals.device)])
        out.append(ends - starts)
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None):
    """:func:`unique` of each run of equal consecutive elements (no sorting)."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive: dim= is not supported yet")
    flat = FN.reshape(input, (-1,))
    order = FN.arange(flat.shape[0], device=flat.device)
    return _runs(input, flat, order, return_inverse, return_counts)


publish(globals(), __all__, methods="""aminmax bincount count_nonzero cummax cummin cumprod diff
histc logcumsumexp nanmean nanquantile nansum quantile unique unique_consecutive""")
