"""softmax and log_softmax along a dim (composites with their own VJPs)."""

from __future__ import annotations

from .. import _rules as R
from .._call import apply
from .elementwise import _to_float, exp
from .reduction import amax, normalize_dims, sum
from .registry import declare, publish

__all__ = ["log_softmax", "softmax"]


def _softmax_decomp(x, dim):
    if x._data.size == 0:  # nothing to normalise (amax has no identity)
        return x.clone()
    e = exp(x - amax(x, dim, keepdim=True).detach())
    return e / sum(e, dim, keepdim=True)


def _log_softmax_decomp(x, dim):
    from .reduction import logsumexp

    if x._data.size == 0:
        return x.clone()
    return x - logsumexp(x, dim, keepdim=True)


_SOFTMAX = declare("softmax", rule=R.along_dim, decomposition=_softmax_decomp,
                   saves=("output",), vjp=lambda ctx, g: (ctx.output * (
                           g - sum(g * ctx.output, ctx.attrs["dim"], keepdim=True)),))
_LOG_SOFTMAX = declare("log_softmax", rule=R.along_dim, decomposition=_log_softmax_decomp,
                       saves=("output",), vjp=lambda ctx, g: (
                               g - exp(ctx.output) * sum(g, ctx.attrs["dim"], keepdim=True),))


def _dim(x, dim, op):
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    (d,) = normalize_dims(dim, x.ndim, op) or (0,)
    return d


def softmax(input, dim=None, dtype=None):
    """``exp(x) / sum(exp(x), dim)``, computed stably."""
    x = _to_float(input if dtype is None else input.to(dtype))
    if x._data.size == 0:
        return _softmax_decomp(x, _dim(x, dim, "softmax"))
    return apply(_SOFTMAX, (x,), {"dim": _dim(x, dim, "softmax")})


def log_softmax(input, dim=None, dtype=None):
    """``x - logsumexp(x, dim)``, computed stably."""
    x = _to_float(input if dtype is None else input.to(dtype))
    if x._data.size == 0:
        return _log_softmax_decomp(x, _dim(x, dim, "log_softmax"))
    return apply(_LOG_SOFTMAX, (x,), {"dim": _dim(x, dim, "log_softmax")})


publish(globals(), __all__, methods="""softmax log_softmax""")
