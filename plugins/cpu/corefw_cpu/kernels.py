"""Fast NumPy kernels beyond the toolkit's: ufuncs and reductions here, the rest by family in
``_conv`` (convolution, pooling), ``_layers`` (norms, losses, attention) and ``_train``."""

from __future__ import annotations

from functools import partial

import numpy as np

from ._conv import _conv_kernels, _pool_kernels
from ._layers import _layer_kernels, _loss_kernels, _norm_kernels
from ._train import _train_kernels


def fast_kernels() -> dict:
    """Kernel table additions; each must match its op's decomposition (the kit checks)."""
    kernels = {}
    kernels.update(_ufunc_kernels())
    kernels.update(_reduction_kernels())
    kernels.update(_conv_kernels())
    kernels.update(_pool_kernels())
    kernels.update(_norm_kernels())
    kernels.update(_loss_kernels())
    kernels.update(_layer_kernels())
    kernels.update(_train_kernels())
    kernels.update(_scan_kernels())
    return kernels


def _argsort(x, dim, descending):
    """A stable sort's permutation; NaN last (first when descending), as PyTorch's."""
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    # stable descending: sort the reversed array, reverse back and mirror the indices
    r = np.flip(np.argsort(np.flip(x, dim), axis=dim, kind="stable"), dim)
    return (x.shape[dim] - 1 - r).astype(np.int64)


def _cumprod(x, dim):
    return np.cumprod(x, axis=dim, dtype=x.dtype)


def _scan_kernels() -> dict:
    return {"argsort": _argsort, "cumprod": _cumprod, **_linalg_kernels()}


def _linalg_kernels() -> dict:
    """LAPACK through ``numpy.linalg``; several results are packed into one array (the
    layouts of corefw.ops.linalg_torch)."""
    la = np.linalg

    def slogdet(a):
        sign, logabs = la.slogdet(a)
        return np.stack([sign, logabs], -1).astype(a.dtype)

    def eigh(a, upper):
        w, v = la.eigh(a, UPLO="U" if upper else "L")
        return np.concatenate([w[..., None, :], v], -2)

    def svd(a):
        u, s, vh = la.svd(a, full_matrices=False)
        return np.concatenate([u, s[..., None, :], np.swapaxes(vh, -1, -2)], -2)

    def qr(a):
        q, r = la.qr(a)
        return np.concatenate([q, np.swapaxes(r, -1, -2)], -2)

    return {"linalg_solve": la.solve, "linalg_slogdet": slogdet,
            "linalg_cholesky": la.cholesky, "linalg_eigh": eigh, "linalg_svd": svd,
            "linalg_qr": qr}


_UFUNCS = {
    "neg": "negative", "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "abs": "absolute", "sign": "sign", "floor": "floor", "ceil": "ceil",
    "bitwise_not": "invert", "add": "add", "sub": "subtract", "mul": "multiply",
    "div": "true_divide", "pow": "power", "maximum": "maximum", "minimum": "minimum",
    "floor_divide": "floor_divide", "remainder": "remainder", "eq": "equal", "ne": "not_equal",
    "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
    "log1p": "log1p", "expm1": "expm1", "tan": "tan",
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "sinh": "sinh",
    "cosh": "cosh", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh",
}


def _ufunc_kernels() -> dict:
    """The ufuncs themselves, called from C through ``functools.partial``: ``out=...``
    (NumPy >= 2.3) makes a 0-d result an array instead of a NumPy scalar, with no Python
    wrapper on the hot path."""
    out = {name: partial(getattr(np, ufunc), out=...) for name, ufunc in _UFUNCS.items()}
    out["relu"] = _relu
    out["matmul"] = _matmul
    out["expand"] = _expand
    out["permute"] = _permute
    return out


def _permute(x, dims):
    """``np.transpose`` (a view) as the method: no Python-level ``fromnumeric`` wrapper."""
    return x.transpose(dims)


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_dot = np.ndarray.dot


def _matmul(a, b):
    """``np.matmul``; two float32/float64 matrices through ``ndarray.dot`` (the same BLAS
    gemm, with about half of the gufunc machinery's call overhead on small matrices)."""
    if a.ndim == 2 and b.ndim == 2 and ((d := a.dtype) is _F32 or d is _F64) and \
            b.dtype is d:
        return _dot(a, b)
    r = np.matmul(a, b)
    return r if r.__class__ is np.ndarray else np.asarray(r)


_ndarray = np.ndarray


def _expand(x, shape):
    """``np.broadcast_to`` (a read-only view); a one-element operand -- a reduction's
    gradient on its way back -- as a zero-strided view built directly, skipping
    broadcast_to's Python-level checks (3-4x faster on small arrays)."""
    if x.size == 1 and x.ndim <= len(shape) and x.dtype.hasobject is False:
        try:
            r = _ndarray(shape, x.dtype, x, 0, (0,) * len(shape))
        except (ValueError, TypeError, BufferError):  # a dtype the buffer protocol lacks
            return np.broadcast_to(x, shape)
        r.flags.writeable = False
        return r
    return np.broadcast_to(x, shape)


def _relu(x):
    return np.maximum(x, 0, out=...)


def _reduction_kernels() -> dict:
    """``ufunc.reduce`` skips numpy's Python-level wrappers (3x faster on small arrays)."""
    def red(ufunc):
        def kernel(x, dim, keepdim):
            r = ufunc.reduce(x, axis=dim, keepdims=keepdim)
            return r if r.__class__ is np.ndarray else np.asarray(r)
        return kernel

    return {"sum": red(np.add), "prod": red(np.multiply), "amax": red(np.maximum),
            "amin": red(np.minimum)}
