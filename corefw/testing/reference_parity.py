"""Float64 references for the PyTorch-parity ops (corefw.ops.math_extra, sorting, shape_extra,
index_extra, reduce_extra), written from each op's definition with plain Python and NumPy
indexing: explicit loops over windows, diagonals and prefixes, Python's ``sorted`` for sorting
and :mod:`math` for the inverse trigonometric functions. Never imports corefw's ops or a
backend's kernels."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["argsort", "cumprod", "diag_embed", "diagonal", "repeat", "repeat_interleave",
           "scatter", "unary_math", "unfold"]


def unary_math(name: str):
    """Elementwise ``math.<name>`` on float64 (NaN outside the domain)."""
    fn = getattr(math, name)

    def safe(v):
        try:
            return fn(v)
        except ValueError:
            return math.nan

    vec = np.vectorize(safe, otypes=[np.float64])
    return lambda x: vec(np.asarray(x, dtype=np.float64))


def atan2(y, x):
    return np.vectorize(math.atan2, otypes=[np.float64])(np.asarray(y, np.float64),
                                                         np.asarray(x, np.float64))


def argsort(x, dim, descending=False):
    """Stable order of each row along ``dim`` (NaN treated as the largest value)."""
    x = np.asarray(x)
    moved = np.moveaxis(x, dim, -1)
    out = np.empty(moved.shape, dtype=np.int64)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = [float(v) for v in moved[idx]]

        def key(i, row=row):
            v = row[i]
            big = math.isnan(v)
            return (big, 0.0 if big else v) if not descending else (not big, 0.0 if big
                                                                    else -v)
        out[idx] = sorted(range(len(row)), key=key)
    return np.moveaxis(out, -1, dim)


def repeat(x, repeats):
    """Tile ``x`` (leading dims added) ``repeats[i]`` times along dim i."""
    x = np.asarray(x).reshape((1,) * (len(repeats) - np.ndim(x)) + np.shape(x))
    for d, r in enumerate(repeats):
        x = np.concatenate([x] * r, axis=d) if r else np.take(x, [], axis=d)
    return x


def repeat_interleave(x, repeats, dim):
    x = np.asarray(x)
    idx = [i for i in range(x.shape[dim]) for _ in range(repeats)]
    return np.take(x, np.asarray(idx, dtype=np.int64), axis=dim)


def unfold(x, dimension, size, step):
    """Windows of ``size`` along ``dimension``, ``step`` apart, as a new last dim."""
    x = np.asarray(x)
    n = (x.shape[dimension] - size) // step + 1
    windows = []
    for w in range(n):
        sl = [slice(None)] * x.ndim
        sl[dimension] = slice(w * step, w * step + size)
        windows.append(np.moveaxis(x[tuple(sl)], dimension, -1))
    return np.stack(windows, axis=dimension)


def diagonal(x, offset, dim1, dim2):
    """``out[..., k] = x[.., k + max(0, -offset) (dim1), .., k + max(0, offset) (dim2), ..]``"""
    x = np.moveaxis(np.asarray(x), (dim1, dim2), (-2, -1))
    n1, n2 = x.shape[-2:]
    vals = []
    k = 0
    while k + max(0, -offset) < n1 and k + max(0, offset) < n2:
        vals.append(x[..., k + max(0, -offset), k + max(0, offset)])
        k += 1
    return np.stack(vals, -1) if vals else np.zeros(x.shape[:-2] + (0,), x.dtype)


def diag_embed(x, offset, dim1, dim2):
    x = np.asarray(x)
    n = x.shape[-1] + abs(offset)
    out = np.zeros(x.shape[:-1] + (n, n), dtype=x.dtype)
    for k in range(x.shape[-1]):
        out[..., k + max(0, -offset), k + max(0, offset)] = x[..., k]
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


def cumprod(x, dim):
    """``out[j] = x[0] * ... * x[j]`` along ``dim``, by a running product."""
    x = np.moveaxis(np.asarray(x), dim, 0)
    out = np.empty(x.shape, dtype=np.float64 if x.dtype.kind in "fV" else np.int64)
    acc = np.ones(x.shape[1:], dtype=out.dtype)
    for j in range(x.shape[0]):
        acc = acc * x[j]
        out[j] = acc
    return np.moveaxis(out, 0, dim)


def scatter(x, dim, index, src):
    """``out[..., index[i], ...] = src[i]`` along ``dim`` (indices distinct per slot)."""
    out = np.array(x, dtype=np.float64 if np.asarray(x).dtype.kind in "fV" else x.dtype)
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        out[tuple(target)] = src[pos]
    return out


# -- linalg (textbook formulas; LAPACK-free where short) --------------------------------------
def solve(a, b):
    """Cramer-free Gaussian elimination with partial pivoting, one matrix at a time."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    out = np.empty(b.shape)
    for idx in np.ndindex(*batch):
        m = np.concatenate([a[idx], b[idx]], 1).copy()
        n = m.shape[0]
        for c in range(n):
            p = c + int(np.argmax(np.abs(m[c:, c])))
            m[[c, p]] = m[[p, c]]
            m[c] /= m[c, c]
            for r in range(n):
                if r != c:
                    m[r] -= m[r, c] * m[c]
        out[idx] = m[:, n:]
    return out


def slogdet(a):
    """``(sign, log|det|)`` stacked on a last dim, from the LU pivots."""
    a = np.asarray(a, np.float64)
    out = np.empty(a.shape[:-2] + (2,))
    for idx in np.ndindex(*a.shape[:-2]):
        m = a[idx].copy()
        n, sign, logabs = m.shape[0], 1.0, 0.0
        for c in range(n):
            p = c + int(np.argmax(np.abs(m[c:, c])))
            if p != c:
                m[[c, p]] = m[[p, c]]
                sign = -sign
            sign *= math.copysign(1.0, m[c, c])
            logabs += math.log(abs(m[c, c]))
            m[c + 1:] -= np.outer(m[c + 1:, c] / m[c, c], m[c])
        out[idx] = (sign, logabs)
    return out


def cholesky(a):
    """The Cholesky-Banachiewicz recurrence."""
    a = np.asarray(a, np.float64)
    out = np.zeros(a.shape)
    n = a.shape[-1]
    for idx in np.ndindex(*a.shape[:-2]):
        low = out[idx]
        for i in range(n):
            for j in range(i + 1):
                s = a[idx][i, j] - sum(low[i, k] * low[j, k] for k in range(j))
                low[i, j] = math.sqrt(s) if i == j else s / low[j, j]
    return out
