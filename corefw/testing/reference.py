"""Float64 references for the conformance kit, written with plain NumPy from each op's definition.

These functions are the oracle the kit checks every backend against, so they must not share
code with what they check: they never import corefw's ops, its backend toolkit or a backend's
kernels, and they favour the textbook formula over speed (``erf`` from :func:`math.erf`, the
softmax as ``exp(x - max) / sum``, convolution as an explicit sum over the kernel window).
Inputs of floating dtypes arrive as float64; integer and bool inputs keep their dtypes.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "amax", "amin", "arange", "argmax", "argmin", "cast", "cumsum", "einsum", "elu", "erf",
    "floor_divide", "gather", "gelu", "index_put", "leaky_relu", "log_softmax", "logsumexp",
    "matmul", "nonzero", "pad", "prod", "remainder", "round_half_even", "scatter_add",
    "sigmoid", "silu", "softmax", "softplus", "sum", "vector_norm",
]

_erf = np.vectorize(math.erf, otypes=[np.float64])


def f64(x):
    """``x`` as float64 (Python scalars too)."""
    return np.asarray(x, dtype=np.float64)


# -- elementwise ------------------------------------------------------------------------------
def erf(x):
    """The error function, ``2/sqrt(pi) * integral_0^x exp(-t^2) dt``, by :func:`math.erf`."""
    return _erf(f64(x))


def round_half_even(x):
    """Round to the nearest integer, halves to even (IEEE; PyTorch's ``round``)."""
    x = f64(x)
    r = np.floor(x + 0.5)
    tie = (r - x) == 0.5
    return np.where(tie & (np.mod(r, 2) != 0), r - 1, r)


def floor_divide(a, b):
    """``floor(a / b)``; integers stay integers."""
    if np.asarray(a).dtype.kind in "iub" and np.asarray(b).dtype.kind in "iub":
        a64, b64 = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        q = np.abs(a64) // np.abs(b64)
        neg = (a64 < 0) != (b64 < 0)
        return np.where(neg & (q * np.abs(b64) != np.abs(a64)), -q - 1, np.where(neg, -q, q))
    return np.floor(f64(a) / f64(b))


def remainder(a, b):
    """``a - floor(a / b) * b`` (the result has the sign of the divisor, as Python's ``%``)."""
    if np.asarray(a).dtype.kind in "iub" and np.asarray(b).dtype.kind in "iub":
        return np.asarray(a, np.int64) - floor_divide(a, b) * np.asarray(b, np.int64)
    return f64(a) - np.floor(f64(a) / f64(b)) * f64(b)


def cast(x, dtype: str):
    """Conversion to ``dtype``: floats truncate toward zero for integers, non-zero is True."""
    x = np.asarray(x)
    if dtype == "bool":
        return x != 0
    if np.dtype(dtype).kind == "f":  # the exact value; rounding is the tolerance's business
        return x.astype(np.float64)
    if np.dtype(dtype).kind in "iu" and x.dtype.kind == "f":
        return np.trunc(x).astype(dtype)
    return x.astype(dtype)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-f64(x)))


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``."""
    x = f64(x)
    soft = np.log(1.0 + np.exp(np.minimum(beta * x, threshold))) / beta
    return np.where(beta * x > threshold, x, soft)


def silu(x):
    return f64(x) * sigmoid(x)


def gelu(x, approximate="none"):
    """``x * Phi(x)`` with the normal CDF ``Phi``; ``"tanh"``: the tanh approximation."""
    x = f64(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def leaky_relu(x, negative_slope=0.01):
    x = f64(x)
    return np.where(x > 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    x = f64(x)
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


# -- reductions -------------------------------------------------------------------------------
def _acc(x):
    """Integers and bools accumulate in int64; floats in float64."""
    x = np.asarray(x)
    return x.astype(np.int64) if x.dtype.kind in "iub" else f64(x)


def sum(x, dim=None, keepdim=False):  # noqa: A001 - the op's name
    """Sum over ``dim`` (all dims when None); integers and bools sum in int64."""
    x = _acc(x)
    return np.sum(x, axis=_dims(dim, x.ndim), keepdims=keepdim)


def vector_norm(x, ord=2.0, dim=None, keepdim=False):
    """The p-norm ``(sum |x_i|^p)^(1/p)`` over ``dim`` (all dims when None)."""
    mags = np.abs(f64(x)) ** ord
    return np.sum(mags, axis=_dims(dim, np.ndim(x)), keepdims=keepdim) ** (1.0 / ord)


def prod(x, dim=None, keepdim=False):
    """Product over ``dim`` (all dims when None); integers and bools multiply in int64."""
    x = _acc(x)
    return np.prod(x, axis=_dims(dim, x.ndim), keepdims=keepdim)


def _dims(dim, ndim):
    if dim is None or dim == ():
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(d % ndim for d in dims)) if ndim else ()


def amax(x, dim=None, keepdim=False):
    return np.max(np.asarray(x), axis=_dims(dim, np.ndim(x)), keepdims=keepdim)


def amin(x, dim=None, keepdim=False):
    return np.min(np.asarray(x), axis=_dims(dim, np.ndim(x)), keepdims=keepdim)


def _arg(x, dim, keepdim, pick):
    x = np.asarray(x)
    if dim is None:
        flat = x.reshape(-1)
        best = 0
        for i in range(1, flat.size):
            if pick(flat[i], flat[best]):
                best = i
        out = np.asarray(best, dtype=np.int64)
        return out.reshape((1,) * x.ndim) if keepdim else out
    moved = np.moveaxis(x, dim, -1)
    out = np.zeros(moved.shape[:-1], dtype=np.int64)
    for idx in np.ndindex(*out.shape):
        row = moved[idx]
        best = 0
        for i in range(1, row.shape[0]):
            if pick(row[i], row[best]):
                best = i
        out[idx] = best
    return np.expand_dims(out, dim) if keepdim else out


def argmax(x, dim=None, keepdim=False):
    """Index of the first maximum."""
    return _arg(x, dim, keepdim, lambda a, b: a > b)


def argmin(x, dim=None, keepdim=False):
    """Index of the first minimum."""
    return _arg(x, dim, keepdim, lambda a, b: a < b)


def cumsum(x, dim):
    """``out[..., i, ...] = sum_{j <= i} x[..., j, ...]`` along ``dim``."""
    x = _acc(x)
    if x.ndim == 0:  # a 0-d tensor is its own running sum
        return x.copy()
    moved = np.moveaxis(x, dim, 0)
    out = np.zeros_like(moved)
    running = np.zeros(moved.shape[1:], dtype=x.dtype)
    for i in range(moved.shape[0]):
        running = running + moved[i]
        out[i] = running
    return np.moveaxis(out, 0, dim)


def logsumexp(x, dim, keepdim=False):
    """``log(sum(exp(x), dim))``, shifted by the maximum for stability."""
    x = f64(x)
    m = np.max(x, axis=_dims(dim, x.ndim), keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=_dims(dim, x.ndim), keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=_dims(dim, x.ndim))


def softmax(x, dim):
    x = f64(x)
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


def log_softmax(x, dim):
    return f64(x) - logsumexp(x, dim, keepdim=True)


# -- creation, movement, indexing -------------------------------------------------------------
def arange(start, end, step):
    """``start + i * step`` for ``i`` in ``0 .. ceil((end - start) / step) - 1``."""
    n = max(0, math.ceil((end - start) / step))
    return np.array([start + i * step for i in range(n)], dtype=np.float64)


def pad(x, pad_pairs, value=0.0):
    """Constant padding; ``pad_pairs[d] = (before, after)`` for every dim (negative crops)."""
    x = np.asarray(x)
    shape = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, pad_pairs))
    out = np.full(shape, value, dtype=x.dtype)
    for idx in np.ndindex(*x.shape):
        dst = tuple(i + lo for i, (lo, _) in zip(idx, pad_pairs))
        if all(0 <= d < s for d, s in zip(dst, shape)):
            out[dst] = x[idx]
    return out


def gather(x, dim, index):
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` for ``dim == 1`` (and so on)."""
    x, index = np.asarray(x), np.asarray(index)
    out = np.zeros(index.shape, dtype=x.dtype)
    for idx in np.ndindex(*index.shape):
        src = list(idx)
        src[dim] = index[idx]
        out[idx] = x[tuple(src)]
    return out


def scatter_add(x, dim, index, src):
    """A copy of ``x`` with ``out[i][index[i][j]] += src[i][j]`` for ``dim == 1``."""
    out = np.array(x, copy=True)
    for idx in np.ndindex(*np.shape(index)):
        dst = list(idx)
        dst[dim] = index[idx]
        out[tuple(dst)] += src[idx]
    return out


def nonzero(x):
    """``(n, ndim)`` int64 indices of the non-zero elements in row-major order."""
    x = np.asarray(x)
    rows = [idx for idx in np.ndindex(*x.shape) if x[idx] != 0]
    return np.array(rows, dtype=np.int64).reshape(len(rows), x.ndim)


def index_put(x, key, values, accumulate=False):
    """A copy of ``x`` with ``x[key] = values`` (``+=``, repeated indices adding up)."""
    out = np.array(x, copy=True)
    if accumulate:
        np.add.at(out, key, values)
    else:
        out[key] = values
    return out


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are promoted and squeezed, batch dims
    broadcast; every entry is an explicit sum of products."""
    a, b = np.asarray(a), np.asarray(b)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a3 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:])
    m, k, n = a3.shape[-2], a3.shape[-1], b3.shape[-1]
    acc = _acc(a3).dtype if a3.dtype.kind in "iub" else np.float64
    out = np.zeros(batch + (m, n), dtype=acc)
    for bi in np.ndindex(*batch):
        for i in range(m):
            for j in range(n):
                out[bi + (i, j)] = np.sum(a3[bi + (i,)].astype(acc) * b3[bi + (slice(None), j)]
                                          .astype(acc)) if k else 0
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def einsum(equation, *operands):
    """Einstein summation by explicit loops over every index letter."""
    lhs, rhs = equation.replace(" ", "").split("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    for term, op in zip(terms, operands):
        for letter, size in zip(term, np.shape(op)):
            sizes[letter] = size
    letters = sorted(sizes)
    out = np.zeros(tuple(sizes[c] for c in rhs))
    for combo in np.ndindex(*(sizes[c] for c in letters)):
        at = dict(zip(letters, combo))
        val = 1.0
        for term, op in zip(terms, operands):
            val *= float(np.asarray(op)[tuple(at[c] for c in term)])
        out[tuple(at[c] for c in rhs)] += val
    return out
