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
    "CATEGORY", "adam_step", "amax", "amin", "arange", "argmax", "argmin", "cast", "cumsum",
    "einsum", "elu", "erf", "floor_divide", "gather", "gelu", "index_put", "leaky_relu",
    "log_softmax", "logsumexp", "matmul", "mean", "nonzero", "norm", "pad", "pad_mode", "prod",
    "promote_names", "remainder", "result_type", "roll", "round_half_even", "scatter_add",
    "sgd_step", "sigmoid", "silu", "softmax", "softplus", "std", "sum", "tri", "var", "vector_norm",
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
    if np.dtype(dtype).kind in "fV":  # the exact value; rounding is the tolerance's business
        return x.astype(np.float64)
    if np.dtype(dtype).kind in "iu" and x.dtype.kind in "fV":
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
    """Einstein summation by explicit loops over every index letter (explicit ``->`` only; a
    letter of size 1 in one operand broadcasts against the others)."""
    lhs, rhs = equation.replace(" ", "").split("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    for term, op in zip(terms, operands):
        for letter, size in zip(term, np.shape(op)):
            sizes[letter] = max(sizes.get(letter, 1), size)
    letters = sorted(sizes)
    out = np.zeros(tuple(sizes[c] for c in rhs))
    for combo in np.ndindex(*(sizes[c] for c in letters)):
        at = dict(zip(letters, combo))
        val = 1.0
        for term, op in zip(terms, operands):
            op = np.asarray(op)
            val *= float(op[tuple(at[c] if n > 1 else 0 for c, n in zip(term, op.shape))])
        out[tuple(at[c] for c in rhs)] += val
    return out


# -- functions built on the ops (mean, var, norm, movement) -----------------------------------
def _count(x, dim) -> int:
    return math.prod(np.shape(x)[d] for d in _dims(dim, np.ndim(x)))


def mean(x, dim=None, keepdim=False):
    """``sum(x, dim) / n`` with ``n`` the number of reduced elements."""
    return sum(f64(x), dim, keepdim) / _count(x, dim)


def var(x, dim=None, correction=1, keepdim=False):
    """``sum((x - mean)^2) / max(0, n - correction)`` over ``dim`` (PyTorch's degrees of
    freedom: none left gives inf or nan)."""
    x = f64(x)
    dof = max(0, _count(x, dim) - correction)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sum((x - mean(x, dim, True)) ** 2, dim, keepdim) / dof


def std(x, dim=None, correction=1, keepdim=False):
    return np.sqrt(var(x, dim, correction, keepdim))


def norm(x, p=2, dim=None, keepdim=False):
    """The vector ``p``-norm over ``dim``: ``(sum |x|^p)^(1/p)``; ``inf``/``-inf`` the largest
    and smallest magnitude, ``0`` the count of non-zeros."""
    a = np.abs(f64(x))
    if p == math.inf:
        return amax(a, dim, keepdim)
    if p == -math.inf:
        return amin(a, dim, keepdim)
    if p == 0:
        return sum((a != 0).astype(np.float64), dim, keepdim)
    return sum(a ** p, dim, keepdim) ** (1.0 / p)


def roll(x, shifts, dims=None):
    """``out[..., (i + shift) % n, ...] = x[..., i, ...]`` per dim; no dims: the flattened
    array, shape restored."""
    x = np.asarray(x)
    if dims is None:
        flat = x.reshape(-1)
        n = flat.size
        return np.array([flat[(i - shifts) % n] for i in range(n)], dtype=x.dtype).reshape(
            x.shape) if n else x.copy()
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    for shift, dim in zip(shifts, dims):
        n = x.shape[dim]
        x = np.take(x, [(i - shift) % n for i in range(n)], axis=dim) if n else x
    return np.array(x)


def tri(x, diagonal=0, upper=False):
    """``tril`` (``upper=False``: keep ``j - i <= diagonal``) or ``triu`` (``j - i >=
    diagonal``) over the last two dims; the rest become 0."""
    x = np.asarray(x)
    r, c = x.shape[-2:]
    i, j = np.arange(r)[:, None], np.arange(c)[None, :]
    keep = (j - i >= diagonal) if upper else (j - i <= diagonal)
    return np.where(keep, x, np.zeros((), dtype=x.dtype))


def _pad_source(i, n, mode):
    """The index along a dim of size ``n`` that padded position ``i`` (0 = first element)
    reads, or None for a constant."""
    if 0 <= i < n:
        return i
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i % n
    if mode == "reflect":  # mirrored about the edge element, which is not repeated
        period = 2 * (n - 1)
        i %= period
        return i if i < n else period - i
    return None


def pad_mode(x, pad, mode="constant", value=0.0):
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) pairs from the last dim backwards;
    negative amounts crop; modes constant, reflect, replicate, circular."""
    x = np.asarray(x)
    pairs = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        pairs[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pairs))
    out = np.full(shape, value, dtype=f64(x).dtype if x.dtype.kind in "fV" else x.dtype)
    for idx in np.ndindex(*shape):
        src = tuple(_pad_source(i - lo, n, mode) for i, n, (lo, _) in zip(idx, x.shape, pairs))
        if None not in src:
            out[idx] = x[src]
    return out


# -- optimizer updates (PyTorch's single-tensor loops) ----------------------------------------
def sgd_step(p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
             is_first_step):
    """One SGD step: ``(param, momentum buffer)`` after it."""
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        buf = np.array(g, copy=True) if is_first_step else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def adam_step(p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, step):
    """One Adam (``decoupled``: AdamW) step: ``(param, m, v)`` after it."""
    g = -g if maximize else g
    if weight_decay and decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - beta2**step) + eps
    return p - lr / (1 - beta1**step) * m / denom, m, v


# -- type promotion (PyTorch's documented rules) ----------------------------------------------
CATEGORY = {"bool": 0, "uint8": 1, "int8": 1, "int16": 1, "int32": 1, "int64": 1,
            "float16": 2, "bfloat16": 2, "float32": 2, "float64": 2}
_BITS = {"bool": 1, "uint8": 8, "int8": 8, "int16": 16, "int32": 32, "int64": 64,
         "float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}


def promote_names(a: str, b: str) -> str:
    """Two dtype names of equal rank: the higher category wins; within a category the
    smallest type that holds both (``uint8`` with ``int8`` gives ``int16``)."""
    ca, cb = CATEGORY[a], CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    if ca == 1 and (a == "uint8") != (b == "uint8"):  # unsigned with signed
        signed = b if a == "uint8" else a
        return "int16" if _BITS[signed] <= 8 else signed
    if {a, b} == {"float16", "bfloat16"}:  # neither holds the other (PyTorch: float32)
        return "float32"
    return a if _BITS[a] >= _BITS[b] else b


def result_type(operands, default_float: str = "float32") -> str:
    """The result dtype of ``operands``, pairs (kind, dtype name) with kind ``"dim"``,
    ``"zero"`` (a 0-d tensor) or ``"scalar"`` (named ``"bool"``, ``"int64"`` or ``"float"``).

    Dimensioned tensors decide unless a 0-d tensor has a higher category; Python scalars
    only matter when their category is higher still (then: int64 or the default float)."""
    groups: dict[str, str] = {}
    for kind, name in operands:
        name = default_float if name == "float" else name
        groups[kind] = name if kind not in groups else promote_names(groups[kind], name)
    out = None
    for kind in ("dim", "zero", "scalar"):
        name = groups.get(kind)
        if name is not None and (out is None or CATEGORY[name] > CATEGORY[out]):
            out = name
    return out
