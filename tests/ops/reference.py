"""An independent float64 NumPy reference for corefw's tensor ops.

Every function is written from the op's mathematical definition (or PyTorch's documented
semantics), on float64 NumPy arrays. Nothing here imports corefw or its backend toolkit, so a
kernel can never be checked against itself. Loops are used where a vectorised NumPy call would
be the very call the toolkit makes (einsum, pad, gather, scatter_add, matmul).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])
SQRT2 = math.sqrt(2.0)


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# -- elementwise ---------------------------------------------------------------------------
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x, beta=1.0, threshold=20.0):
    bx = beta * x
    return np.where(bx > threshold, x, np.log1p(np.exp(np.minimum(bx, threshold))) / beta)


def gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + _erf(x / SQRT2))


def round_half_even(x):
    fl = np.floor(x)
    frac = x - fl
    even = np.mod(fl, 2.0) == 0
    return np.where(frac > 0.5, fl + 1, np.where(frac < 0.5, fl, np.where(even, fl, fl + 1)))


UNARY = {
    "neg": lambda x: -x,
    "exp": np.exp,
    "log": np.log,
    "log1p": lambda x: np.log(1.0 + x) if np.all(np.abs(x) > 1e-4) else np.log1p(x),
    "expm1": lambda x: np.exp(x) - 1.0 if np.all(np.abs(x) > 1e-4) else np.expm1(x),
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "sin": np.sin,
    "cos": np.cos,
    "tan": lambda x: np.sin(x) / np.cos(x),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "sigmoid": sigmoid,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "abs": lambda x: np.where(x < 0, -x, x),
    "sign": lambda x: (x > 0).astype(np.float64) - (x < 0).astype(np.float64),
    "floor": np.floor,
    "ceil": lambda x: -np.floor(-x),
    "round": round_half_even,
    "reciprocal": lambda x: 1.0 / x,
    "erf": _erf,
    "silu": lambda x: x * sigmoid(x),
    "gelu": gelu,
    "softplus": softplus,
    "leaky_relu": lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(x) - 1.0)),
    "square": lambda x: x * x,
}


def floor_divide(a, b):
    return np.floor(a / b)


def remainder(a, b):
    """Python's ``%``: ``a - b * floor(a / b)`` (the sign of ``b``)."""
    return a - b * np.floor(a / b)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: np.exp(b * np.log(a)),
    "maximum": lambda a, b: np.where(a >= b, a, b),
    "minimum": lambda a, b: np.where(a <= b, a, b),
    "floor_divide": floor_divide,
    "remainder": remainder,
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}


def clamp(x, lo=None, hi=None):
    if lo is not None:
        x = np.where(x < lo, lo, x)
    if hi is not None:
        x = np.where(x > hi, hi, x)
    return x


# -- reductions ----------------------------------------------------------------------------
def _axes(x, dim):
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted({d % max(x.ndim, 1) for d in dims})) if x.ndim else ()


def _reduce(fn, x, dim, keepdim):
    axes = _axes(x, dim)
    out = x
    for a in sorted(axes, reverse=True):
        out = fn(out, a)
        if keepdim:
            out = np.expand_dims(out, a)
    return np.asarray(out)


def _fold(op, init):
    def fn(x, axis):
        acc = np.full(np.delete(np.array(x.shape), axis), init, dtype=np.float64)
        for i in range(x.shape[axis]):
            acc = op(acc, np.take(x, i, axis=axis))
        return acc
    return fn


def sum_(x, dim=None, keepdim=False):
    return _reduce(_fold(lambda a, b: a + b, 0.0), f64(x), dim, keepdim)


def prod(x, dim=None, keepdim=False):
    return _reduce(_fold(lambda a, b: a * b, 1.0), f64(x), dim, keepdim)


def amax(x, dim=None, keepdim=False):
    return _reduce(_fold(lambda a, b: np.where(b > a, b, a), -np.inf), f64(x), dim, keepdim)


def amin(x, dim=None, keepdim=False):
    return _reduce(_fold(lambda a, b: np.where(b < a, b, a), np.inf), f64(x), dim, keepdim)


def _count(x, dim):
    return math.prod(x.shape[a] for a in _axes(x, dim))


def mean(x, dim=None, keepdim=False):
    return sum_(x, dim, keepdim) / _count(x, dim)


def var(x, dim=None, correction=1, keepdim=False):
    x = f64(x)
    m = mean(x, dim, keepdim=True)
    return sum_((x - m) ** 2, dim, keepdim) / (_count(x, dim) - correction)


def std(x, dim=None, correction=1, keepdim=False):
    return np.sqrt(var(x, dim, correction, keepdim))


def logsumexp(x, dim, keepdim=False):
    x = f64(x)
    m = amax(x, dim, keepdim=True)
    out = np.log(sum_(np.exp(x - m), dim, keepdim=True)) + m
    return out if keepdim else np.squeeze(out, _axes(x, dim))


def argmax(x, dim=None, keepdim=False):
    """Index of the first maximum, over the flattened array when dim is None."""
    x = f64(x)
    if dim is None:
        flat = x.reshape(-1)
        best = 0
        for i in range(flat.size):
            if flat[i] > flat[best]:
                best = i
        return np.asarray(best)
    moved = np.moveaxis(x, dim, -1)
    out = np.zeros(moved.shape[:-1], dtype=np.int64)
    for idx in np.ndindex(*moved.shape[:-1]):
        out[idx] = argmax(moved[idx])
    return np.expand_dims(out, dim) if keepdim else out


def argmin(x, dim=None, keepdim=False):
    return argmax(-f64(x), dim, keepdim)


def cumsum(x, dim):
    x = f64(x)
    out = np.zeros_like(x)
    acc = np.zeros(np.delete(np.array(x.shape), dim))
    for i in range(x.shape[dim]):
        acc = acc + np.take(x, i, axis=dim)
        idx = [slice(None)] * x.ndim
        idx[dim] = i
        out[tuple(idx)] = acc
    return out


def norm(x, p=2, dim=None, keepdim=False):
    a = np.abs(f64(x))
    if p == float("inf"):
        return amax(a, dim, keepdim)
    if p == -float("inf"):
        return amin(a, dim, keepdim)
    if p == 0:
        return sum_((a != 0).astype(np.float64), dim, keepdim)
    return sum_(a ** p, dim, keepdim) ** (1.0 / p)


def softmax(x, dim):
    e = np.exp(x - amax(x, dim, keepdim=True))
    return e / sum_(e, dim, keepdim=True)


def log_softmax(x, dim):
    return x - logsumexp(x, dim, keepdim=True)


# -- shape -----------------------------------------------------------------------------------
def tri(x, diagonal, upper):
    r, c = x.shape[-2:]
    i = np.arange(r).reshape(r, 1)
    j = np.arange(c).reshape(1, c)
    keep = (j - i >= diagonal) if upper else (j - i <= diagonal)
    return np.where(keep, x, 0)


def roll(x, shift, dim):
    n = x.shape[dim]
    src = [(i - shift) % n for i in range(n)]
    return np.take(x, src, axis=dim)


def _pad_index(i, n, mode):
    """Source index along a dim of size ``n`` for output position ``i`` (padded coords)."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i % n
    if mode == "reflect":  # mirror about the edge element, which is not repeated
        period = 2 * (n - 1)
        i = i % period
        return i if i < n else period - i
    raise ValueError(mode)


def pad(x, pad, mode="constant", value=0.0):
    """PyTorch's F.pad: ``pad`` lists (left, right) pairs starting from the last dim."""
    x = f64(x)
    pairs = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        pairs[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pairs))
    out = np.full(shape, value, dtype=np.float64)
    for idx in np.ndindex(*shape):
        src = tuple(_pad_index(i - lo, n, mode) for i, n, (lo, _) in zip(idx, x.shape, pairs))
        if None not in src:
            out[idx] = x[src]
    return out


def gather(x, dim, index):
    out = np.zeros(index.shape, dtype=np.float64)
    for idx in np.ndindex(*index.shape):
        src = list(idx)
        src[dim] = index[idx]
        out[idx] = x[tuple(src)]
    return out


def scatter_add(x, dim, index, src):
    out = f64(x).copy()
    for idx in np.ndindex(*index.shape):
        dst = list(idx)
        dst[dim] = index[idx]
        out[tuple(dst)] += src[idx]
    return out


# -- linear algebra ------------------------------------------------------------------------
def matmul(a, b):
    """``a @ b`` from the definition: 1-D operands get a dim that is removed afterwards,
    batch dims broadcast, and each product is a sum over the shared index."""
    a, b = f64(a), f64(b)
    squeeze = []
    if a.ndim == 1:
        a = a[None, :]
        squeeze.append(-2)
    if b.ndim == 1:
        b = b[:, None]
        squeeze.append(-1)
    out = (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)
    for ax in sorted(squeeze):
        out = np.squeeze(out, ax)
    return out


def einsum(equation, *operands):
    """Einstein summation by brute force over every index value (explicit ``->`` only)."""
    lhs, rhs = equation.replace(" ", "").split("->")
    terms = lhs.split(",")
    sizes = {}
    for t, x in zip(terms, operands):
        for c, n in zip(t, np.shape(x)):
            sizes[c] = max(sizes.get(c, 1), n)
    letters = sorted(sizes)
    out = np.zeros(tuple(sizes[c] for c in rhs))
    for values in itertools.product(*(range(sizes[c]) for c in letters)):
        env = dict(zip(letters, values))
        term = 1.0
        for t, x in zip(terms, operands):
            x = f64(x)
            term *= x[tuple(env[c] if x.shape[i] > 1 else 0 for i, c in enumerate(t))]
        out[tuple(env[c] for c in rhs)] += term
    return out


# -- type promotion (PyTorch's documented rules) ---------------------------------------------
_CATEGORY = {"bool": 0, "uint8": 1, "int8": 1, "int16": 1, "int32": 1, "int64": 1,
             "float16": 2, "float32": 2, "float64": 2}
_BITS = {"bool": 1, "uint8": 8, "int8": 8, "int16": 16, "int32": 32, "int64": 64,
         "float16": 16, "float32": 32, "float64": 64}


def promote_names(a: str, b: str) -> str:
    """Two dtype names of equal rank: the higher category wins; within a category the
    smallest type that holds both (``uint8 + int8 -> int16``)."""
    ca, cb = _CATEGORY[a], _CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    if ca == 1 and (a == "uint8") != (b == "uint8"):  # unsigned with signed
        signed = b if a == "uint8" else a
        return "int16" if _BITS[signed] <= 8 else signed
    return a if _BITS[a] >= _BITS[b] else b


def result_type(operands, default_float: str = "float32") -> str:
    """``operands``: (kind, dtype name) with kind "dim", "zero" (0-d tensor) or "scalar"
    (the dtype name of a scalar is "bool", "int64" for int or "float" for float).

    Dimensioned tensors decide unless a 0-d tensor has a higher category; Python scalars
    only matter when their category is higher still (then: int64 or the default float).
    """
    groups = {}
    for kind, name in operands:
        if name == "float":
            name = default_float
        groups[kind] = name if kind not in groups else promote_names(groups[kind], name)
    out = None
    for kind in ("dim", "zero", "scalar"):
        name = groups.get(kind)
        if name is not None and (out is None or _CATEGORY[name] > _CATEGORY[out]):
            out = name
    return out
