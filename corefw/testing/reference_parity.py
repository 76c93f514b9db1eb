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
    out = np.empty(x.shape, dtype=np.float64 if x.dtype.kind == "f" else np.int64)
    acc = np.ones(x.shape[1:], dtype=out.dtype)
    for j in range(x.shape[0]):
        acc = acc * x[j]
        out[j] = acc
    return np.moveaxis(out, 0, dim)


def scatter(x, dim, index, src):
    """``out[..., index[i], ...] = src[i]`` along ``dim`` (indices distinct per slot)."""
    out = np.array(x, dtype=np.float64 if np.asarray(x).dtype.kind == "f" else x.dtype)
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        out[tuple(target)] = src[pos]
    return out
