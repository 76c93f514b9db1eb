"""Reductions over ``dim`` (an int, a tuple, or None for all) with ``keepdim``."""

from __future__ import annotations

import builtins
from collections import namedtuple

from .. import _dtype
from .. import _rules as R
from .._call import apply, unary
from .._registry import FN
from .._tensor import Tensor
from ..errors import CorefwIndexError
from . import shape as _shape
from ._dims import normalize_dims
from .registry import declare, publish

__all__ = ["all", "amax", "amin", "any", "argmax", "argmin", "cumsum", "logsumexp", "max",
           "mean", "min", "prod", "std", "sum", "sum_to", "var", "norm"]

values_indices = namedtuple("values_indices", ["values", "indices"])


def _keep_shape(shape, dims):
    if dims is None:  # every dim was reduced
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g, ctx):
    """Broadcast a reduced gradient back over the reduced dims of the input."""
    x = ctx.inputs[0]
    shape = x._data.shape
    if not ctx.attrs["keepdim"] and ctx.attrs["dim"] is not None:
        g = apply(_shape._RESHAPE, (g,), {"shape": _keep_shape(shape, ctx.attrs["dim"])})
    return unary(_shape._EXPAND, g, {"shape": shape}) if g._data.shape != shape else g


def _sum_vjp(ctx, g):
    return (_expand_back(g, ctx),)


def _amax_vjp(ctx, g):
    x = ctx.inputs[0]
    out = ctx.output
    if not ctx.attrs["keepdim"]:
        reshape = _shape.reshape

        out = reshape(out, _keep_shape(x._data.shape, ctx.attrs["dim"]))
    mask = x == out
    count = sum(mask, ctx.attrs["dim"], keepdim=True)
    from .elementwise import where

    return (where(mask, _expand_back(g, ctx) / count, 0.0),)


def _prod_vjp(ctx, g):
    """d prod / d x_i is the product of the other elements; zeros are handled without
    dividing by them (one zero: its gradient is the product of the rest; two: all zero)."""
    from .elementwise import where

    x = ctx.inputs[0]
    out = ctx.output
    dims = ctx.attrs["dim"]
    if not ctx.attrs["keepdim"]:
        reshape = _shape.reshape

        out = reshape(out, _keep_shape(x._data.shape, dims))
    zero = x == 0
    safe = where(zero, 1.0, x)
    rest = where(zero, where(sum(zero, dims, keepdim=True) == 1,
                             prod(safe, dims, keepdim=True), 0.0), out / safe)
    return (_expand_back(g, ctx) * rest,)


def _cumsum_vjp(ctx, g):
    flip = _shape.flip

    d = ctx.attrs["dim"]
    return (flip(cumsum(flip(g, (d,)), d), (d,)),)


_SUM = declare("sum", rule=R.reduction, vjp=_sum_vjp, saves=(), primitive=True)
_PROD = declare("prod", rule=R.reduction, vjp=_prod_vjp, saves=(0, "output"), primitive=True)
_AMAX = declare("amax", rule=R.reduction, vjp=_amax_vjp, saves=(0, "output"), primitive=True)
_AMIN = declare("amin", rule=R.reduction, vjp=_amax_vjp, saves=(0, "output"), primitive=True)
_ARGMAX = declare("argmax", rule=R.index_reduction, differentiable=False, saves=(),
                  primitive=True)
_ARGMIN = declare("argmin", rule=R.index_reduction, differentiable=False, saves=(),
                  primitive=True)
_CUMSUM = declare("cumsum", rule=R.cumulative, vjp=_cumsum_vjp, saves=(), primitive=True)


def _numpy_names(dim, keepdim, axis, keepdims):
    """``axis=``/``keepdims=`` (NumPy's spelling, accepted by PyTorch) as dim/keepdim."""
    return (dim if axis is None else axis), (keepdim if keepdims is None else keepdims)


def _reduce(op, input, dim, keepdim, dtype=None):
    if dtype is not None:
        from .elementwise import cast

        input = cast(input, dtype)
    nd = input._data.ndim
    dims = None if dim is None and nd else normalize_dims(dim, nd, op.name)
    if dims is not None and nd and len(dims) == nd:
        dims = None  # "all dims": the fastest form for array modules
    return apply(op, (input,), {"dim": dims, "keepdim": bool(keepdim)})


def sum(input, dim=None, keepdim: bool = False, *, dtype=None, axis=None,  # noqa: A001
        keepdims=None):
    """Sum over ``dim`` (all dims by default); bool and integer sums are int64."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dim is None and dtype is None and input._data.dtype.kind in "fV" and input._data.ndim:
        return apply(_SUM, (input,), {"dim": None, "keepdim": bool(keepdim)})
    if dtype is None and input._data.dtype.kind in "bui":
        dtype = _dtype.int64
    return _reduce(_SUM, input, dim, keepdim, dtype)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dtype is None and input._data.dtype.kind in "bui":
        dtype = _dtype.int64
    return _reduce(_PROD, input, dim, keepdim, dtype)


def amax(input, dim=(), keepdim: bool = False, *, axis=None, keepdims=None):
    """Maximum over ``dim`` (all dims when empty); the gradient is split evenly on ties."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    dim = None if dim == () else dim
    _nonempty(input, "amax", dim)
    return _reduce(_AMAX, input, dim, keepdim)


def amin(input, dim=(), keepdim: bool = False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    dim = None if dim == () else dim
    _nonempty(input, "amin", dim)
    return _reduce(_AMIN, input, dim, keepdim)


def _nonempty(input, op, dim=None):
    """Raise when a reduction without identity would reduce over a zero-size dim."""
    shape = input._data.shape
    if 0 not in shape:
        return
    dims = normalize_dims(dim, len(shape), op)
    if builtins.any(shape[d] == 0 for d in dims):
        raise CorefwIndexError(f"{op}: cannot reduce over a zero-size dim of a tensor of shape "
                               f"{tuple(shape)} (dim {dim}); the operation has no identity")


def _arg(op, input, dim, keepdim):
    _nonempty(input, op.name, dim)
    if dim is not None:
        (d,) = normalize_dims(dim, input._data.ndim, op.name) or (0,)
    else:
        d = None
    return apply(op, (input,), {"dim": d, "keepdim": bool(keepdim)})


def argmax(input, dim: int | None = None, keepdim: bool = False, *, axis=None,
           keepdims=None):
    """Index of the maximum (first occurrence), over the flattened tensor when dim is None."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _arg(_ARGMAX, input, dim, keepdim)


def argmin(input, dim: int | None = None, keepdim: bool = False, *, axis=None,
           keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _arg(_ARGMIN, input, dim, keepdim)


def _minmax(arg_fn, red_fn, input, dim, keepdim, other):
    if isinstance(dim, Tensor) or other is not None:
        from .elementwise import maximum, minimum

        return (maximum if red_fn is amax else minimum)(input, dim if other is None else other)
    if dim is None:
        return red_fn(input)
    if input._data.ndim == 0:  # a 0-d tensor is its own maximum, at index 0
        from .._creation import zeros

        normalize_dims(dim, 0, "max" if red_fn is amax else "min")
        return values_indices(input.clone(), zeros((), dtype=_dtype.int64, device=input.device))
    gather = FN.gather
    squeeze = _shape.squeeze

    idx = arg_fn(input, dim, keepdim=True)
    values = gather(input, dim, idx)
    if not keepdim:
        values, idx = squeeze(values, dim), squeeze(idx, dim)
    return values_indices(values, idx)


def max(input, dim=None, keepdim: bool = False, *, other=None, axis=None,  # noqa: A001
        keepdims=None):
    """``max(x)`` -> the maximum; ``max(x, dim)`` -> (values, indices); ``max(x, y)`` ->
    elementwise maximum."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _minmax(argmax, amax, input, dim, keepdim, other)


def min(input, dim=None, keepdim: bool = False, *, other=None, axis=None,  # noqa: A001
        keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    return _minmax(argmin, amin, input, dim, keepdim, other)


def cumsum(input, dim: int, *, dtype=None):
    if dtype is not None:
        from .elementwise import cast

        input = cast(input, dtype)
    elif input._data.dtype.kind in "bui":
        from .elementwise import cast

        input = cast(input, _dtype.int64)
    (d,) = normalize_dims(dim, input._data.ndim, "cumsum") or (0,)
    if input._data.ndim == 0:
        return input.clone()
    return apply(_CUMSUM, (input,), {"dim": d})


def _count(input, dims):
    n = 1
    for d in dims:
        n *= input._data.shape[d]
    return n


def mean(input, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
    """Arithmetic mean over ``dim`` (floating tensors only, as in PyTorch)."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if dtype is not None:
        from .elementwise import cast

        input = cast(input, dtype)
    if input._data.dtype.kind not in "fV":
        from ..errors import DTypeError

        raise DTypeError(f"mean: expected a floating point tensor, got {input.dtype}; pass "
                         f"dtype=corefw.float32 or cast with .float()")
    dims = normalize_dims(dim, input._data.ndim, "mean")
    return sum(input, dims, keepdim) / _count(input, dims) if dims or input._data.ndim == 0 \
        else input.clone()


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction: float = 1,
        axis=None, keepdims=None):
    """Variance with Bessel's ``correction`` (``unbiased=False`` means correction 0)."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    if isinstance(dim, bool):  # var(x, unbiased), PyTorch's other overload
        dim, unbiased = None, dim
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = normalize_dims(dim, input._data.ndim, "var")
    n = _count(input, dims)
    centered = input - mean(input, dims, keepdim=True)
    denom = n - correction
    return sum(centered * centered, dims, keepdim) / (denom if denom > 0 else 0.0)


def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction: float = 1,
        axis=None, keepdims=None):
    """Standard deviation, ``sqrt(var(...))``."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    from .elementwise import sqrt

    return sqrt(var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased))


def _lse_decomp(x, dim, keepdim):
    if x._data.size == 0:
        from .elementwise import exp, log

        return log(sum(exp(x), dim, keepdim))
    m = amax(x, dim, keepdim=True).detach()
    from .elementwise import exp, log, where

    m = where(m.abs() == float("inf"), 0.0, m)
    out = log(sum(exp(x - m), dim, keepdim=True)) + m
    if not keepdim:
        reshape = _shape.reshape

        out = reshape(out, tuple(s for i, s in enumerate(x._data.shape) if i not in dim))
    return out


def _lse_vjp(ctx, g):
    from .elementwise import exp
    reshape = _shape.reshape

    x = ctx.inputs[0]
    out = ctx.output
    if not ctx.attrs["keepdim"]:
        shape = _keep_shape(x._data.shape, ctx.attrs["dim"])
        out, g = reshape(out, shape), reshape(g, shape)
    return (g * exp(x - out),)


_LSE = declare("logsumexp", rule=R.reduction, decomposition=_lse_decomp, vjp=_lse_vjp,
               saves=(0, "output"))


def logsumexp(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``log(sum(exp(x), dim))`` computed stably (integer inputs give the default float)."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    from .elementwise import _to_float

    input = _to_float(input)
    dims = normalize_dims(dim, input._data.ndim, "logsumexp")
    if input._data.size == 0:  # log of an empty sum: -inf (amax has no identity)
        from .elementwise import exp, log

        return log(sum(exp(input), dims, keepdim))
    return apply(_LSE, (input,), {"dim": dims, "keepdim": bool(keepdim)})


def all(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A001
    """Whether every element (over ``dim``) is non-zero."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    b = input if input._data.dtype.kind == "b" else input != 0
    if b.numel():
        return _reduce(_AMIN, b, dim, keepdim)
    return sum(b == 0, dim, keepdim) == 0  # empty: True (shapes as for any reduction)


def any(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A001
    """Whether some element (over ``dim``) is non-zero."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    b = input if input._data.dtype.kind == "b" else input != 0
    if b.numel():
        return _reduce(_AMAX, b, dim, keepdim)
    return sum(b, dim, keepdim) > 0


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None, *, axis=None,
         keepdims=None):
    """Vector p-norm over ``dim`` (``p`` a number or ``"fro"``; ``inf`` for the largest
    magnitude, ``-inf`` for the smallest, ``0`` for the count of non-zeros)."""
    if axis is not None or keepdims is not None:  # NumPy's names, as torch accepts
        dim, keepdim = _numpy_names(dim, keepdim, axis, keepdims)
    from .elementwise import abs, cast

    if dtype is not None:
        input = cast(input, dtype)
    if p is None or p == "fro":
        p = 2
    if p == float("inf"):
        return amax(abs(input), () if dim is None else dim, keepdim)
    if p == -float("inf"):
        return amin(abs(input), () if dim is None else dim, keepdim)
    if p == 0:
        return cast(sum(input != 0, dim, keepdim), input.dtype)
    if input._data.dtype.kind not in "fV":
        from ..errors import DTypeError

        raise DTypeError(f"norm: expected a floating-point tensor, got {input.dtype}")
    dims = normalize_dims(dim, input._data.ndim, "norm")
    return apply(_NORM, (input,), {"ord": float(p), "dim": dims, "keepdim": bool(keepdim)})


def _norm_decomp(x, ord, dim, keepdim):
    from .elementwise import abs, pow, sqrt

    if ord == 2:
        return sqrt(sum(x * x, dim, keepdim))
    return pow(sum(pow(abs(x), ord), dim, keepdim), 1.0 / ord)


def _norm_vjp(ctx, g):
    """d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1); 0 where the norm is 0 (PyTorch's
    subgradient), not the NaN of differentiating sqrt at 0."""
    from .elementwise import abs, pow, sign, where

    x, out = ctx.inputs[0], ctx.output
    p = ctx.attrs["ord"]
    if not ctx.attrs["keepdim"]:
        shape = _keep_shape(x._data.shape, ctx.attrs["dim"])
        out, g = out.reshape(shape), g.reshape(shape)
    zero = out == 0
    safe = where(zero, 1.0, out)
    if p == 2:
        scale = x / safe
    elif p == 1:
        scale = sign(x)
    else:
        scale = sign(x) * pow(abs(x), p - 1) / pow(safe, p - 1)
    return (where(zero, 0.0, g * scale),)


_NORM = declare("vector_norm", rule=lambda x, ord, dim, keepdim: R.reduction(x, dim, keepdim),
                decomposition=_norm_decomp, vjp=_norm_vjp, saves=(0, "output"))


def sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``g`` down to ``shape`` (the inverse of broadcasting ``shape`` to ``g.shape``)."""
    lead = g._data.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g._data.shape[lead + i] != 1)
    if dims:
        g = sum(g, dims, keepdim=True)
    if lead or g._data.shape != shape:
        reshape = _shape.reshape

        g = reshape(g, shape)
    return g




publish(globals(), __all__ + ["normalize_dims"], methods="""sum mean var std prod amax amin max
min argmax argmin all any cumsum norm logsumexp""")
