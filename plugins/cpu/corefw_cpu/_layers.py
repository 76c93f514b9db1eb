"""Normalisation, loss, embedding, dropout and attention kernels (decompositions in
corefw/ops/nn_norm.py, nn_loss.py and nn_misc.py)."""

from __future__ import annotations

import numpy as np


def _normalize(xv, axes, eps):
    mean = xv.mean(axis=axes, keepdims=True)
    xc = xv - mean
    var = np.mean(np.square(xc), axis=axes, keepdims=True)
    xc *= 1 / np.sqrt(var + eps)
    return xc


def _affine(y, w, b, shape):
    if w is not None:
        y *= w.reshape(shape)
    if b is not None:
        y += b.reshape(shape)
    return y


def _batch_norm(x, w, b, eps):
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return _affine(_normalize(x, (0,) + tuple(range(2, x.ndim)), eps), w, b, shape)


def _layer_norm(x, w, b, ndim, eps):
    return _affine(_normalize(x, tuple(range(x.ndim - ndim, x.ndim)), eps), w, b,
                   x.shape[x.ndim - ndim:])


def _group_norm(x, w, b, num_groups, eps):
    y = _normalize(x.reshape(x.shape[0], num_groups, -1), (2,), eps).reshape(x.shape)
    return _affine(y, w, b, (1, x.shape[1]) + (1,) * (x.ndim - 2))


def _norm_kernels() -> dict:
    return {"batch_norm": _batch_norm, "layer_norm": _layer_norm, "group_norm": _group_norm}


# -- losses over class indices -----------------------------------------------------------------
# Same arithmetic, in the same order, as the decompositions in corefw/ops/nn_loss.py. The ufuncs'
# own ``reduce`` (what ``ndarray.sum``/``max`` call, so the same bits) skips NumPy's Python
# wrappers, which cost more than the arithmetic on a (32, 10) batch of logits.
_SUM = np.add.reduce
_MAX = np.maximum.reduce


def _class_weights(t, weight, ignore_index, dtype):
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    w = keep.astype(dtype) if weight is None else np.where(keep, weight[safe], 0).astype(dtype)
    return safe, w, keep


def _loss_reduce(per, w, reduction):
    if reduction == "none":
        return per
    total = _SUM(per)
    if reduction == "mean":
        n = _SUM(w)
        if n == 0 or not np.isfinite(n):
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / n  # NaN when every sample is ignored, as PyTorch
        else:
            total = total / n
    return np.asarray(total, dtype=per.dtype)


def _nll_loss(logp, t, weight, ignore_index, reduction):
    safe, w, _ = _class_weights(t, weight, ignore_index, logp.dtype)
    return _loss_reduce(-logp[np.arange(t.shape[0]), safe] * w, w, reduction)


def _log_softmax_rows(x):
    logp = x - _MAX(x, axis=1, keepdims=True)
    logp -= np.log(_SUM(np.exp(logp), axis=1, keepdims=True))
    return logp


def _cross_entropy(x, t, weight, ignore_index, label_smoothing, reduction):
    logp = _log_softmax_rows(x)
    nll = _nll_loss(logp, t, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    _, w, keep = _class_weights(t, weight, ignore_index, x.dtype)
    smooth = -_SUM(logp * weight, axis=1) if weight is not None else -_SUM(logp, axis=1)
    smooth = _loss_reduce(np.where(keep, smooth, 0).astype(x.dtype), w, reduction)
    return np.asarray((1 - label_smoothing) * nll + smooth * (label_smoothing / x.shape[1]),
                      dtype=x.dtype)


def _binary_cross_entropy(x, t):
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(x), -100.0) + (1 - t) * np.maximum(np.log(1 - x), -100.0))


def _softmax(x, dim):
    """The toolkit's softmax (same ops, same bits) without NumPy's Python wrappers."""
    e = np.exp(x - _MAX(x, axis=dim, keepdims=True))
    e /= _SUM(e, axis=dim, keepdims=True)
    return e


def _log_softmax(x, dim):
    """The toolkit's log_softmax (same ops, same bits) without NumPy's Python wrappers."""
    s = x - _MAX(x, axis=dim, keepdims=True)
    s -= np.log(_SUM(np.exp(s), axis=dim, keepdims=True))
    return s


def _loss_kernels() -> dict:
    return {"nll_loss": _nll_loss, "cross_entropy": _cross_entropy,
            "binary_cross_entropy": _binary_cross_entropy, "softmax": _softmax,
            "log_softmax": _log_softmax}


# -- embedding, dropout, attention (decompositions in corefw/ops/nn_misc.py) -------------------
def _embedding(weight, indices, padding_idx, scale_grad_by_freq):
    return np.take(weight, indices, axis=0)


def _dropout(x, noise, p):
    return np.where(noise >= p, x * (1.0 / (1.0 - p)), x.dtype.type(0))


def _sdpa(q, k, v, mask, scale, is_causal):
    s = np.matmul(q, np.swapaxes(k, -1, -2))
    s *= scale
    if is_causal:
        n_q, n_k = s.shape[-2:]
        s = np.where(np.arange(n_k)[None, :] <= np.arange(n_q)[:, None], s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask
    with np.errstate(invalid="ignore"):  # rows with every key masked give NaN, as PyTorch
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
    return np.matmul(s, v)


def _layer_kernels() -> dict:
    return {"embedding": _embedding, "dropout": _dropout, "scaled_dot_product_attention": _sdpa}
