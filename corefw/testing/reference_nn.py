"""Float64 references for the layer library's ops, from their definitions (PyTorch's).

Like :mod:`corefw.testing.reference`, plain NumPy only: a convolution is a sum over the kernel
window written per kernel offset, pooling looks at every window, the losses follow their
textbook formulas. Attribute conventions are the ops' (see :mod:`corefw.ops.nn_conv`):
``stride``/``dilation`` ``(h, w)``, conv ``padding`` ``((top, bottom), (left, right))``, pooling
``padding`` ``(h, w)``.
"""

from __future__ import annotations

import math

import numpy as np

from .reference import f64, log_softmax, softmax

__all__ = [
    "adaptive_avg_pool2d", "bce_with_logits", "conv_transpose2d", "cross_entropy_any",
    "cross_entropy_probs", "huber", "kl_div", "nll_loss_any", "reduce", "smooth_l1",
    "avg_pool2d", "avg_pool2d_grad_input", "batch_norm", "binary_cross_entropy", "conv2d",
    "conv2d_grad_input", "conv2d_grad_weight", "cross_entropy", "dropout", "embedding",
    "group_norm", "layer_norm", "max_pool2d", "max_pool2d_grad_input", "max_pool2d_indices",
    "nll_loss", "pool_out", "scaled_dot_product_attention",
]


# -- convolution ------------------------------------------------------------------------------
def _conv_out(n, k, s, lo, hi, d):
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def conv2d(x, w, b, stride, padding, dilation, groups):
    """``y[n, o, i, j] = b[o] + sum_{c, p, q} xpad[n, g(o) * Cg + c, i*sh + p*dh, j*sw + q*dw]
    * w[o, c, p, q]`` (cross-correlation, as PyTorch)."""
    x, w = f64(x), f64(w)
    n, cin, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    ho = _conv_out(h, kh, stride[0], pt, pb, dilation[0])
    wo = _conv_out(wd, kw, stride[1], pl, pr, dilation[1])
    xp = np.zeros((n, cin, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    og = o // groups
    y = np.zeros((n, o, ho, wo))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        for p in range(kh):
            for q in range(kw):
                r0, c0 = p * dilation[0], q * dilation[1]
                win = xs[:, :, r0:r0 + stride[0] * (ho - 1) + 1:stride[0],
                         c0:c0 + stride[1] * (wo - 1) + 1:stride[1]]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", win, ws[:, :, p, q])
    if b is not None:
        y += f64(b).reshape(1, o, 1, 1)
    return y


def conv2d_grad_input(g, w, input_size, stride, padding, dilation, groups):
    """The adjoint of :func:`conv2d` in ``x``: every output gradient flows back to the inputs
    its window read (the transposed convolution)."""
    g, w = f64(g), f64(w)
    n, o, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    h, wd = input_size
    og = o // groups
    span_h = max(h + pt + pb, (ho - 1) * stride[0] + (kh - 1) * dilation[0] + 1)
    span_w = max(wd + pl + pr, (wo - 1) * stride[1] + (kw - 1) * dilation[1] + 1)
    acc = np.zeros((n, cg * groups, span_h, span_w))
    for gi in range(groups):
        gs = g[:, gi * og:(gi + 1) * og]
        ws = w[gi * og:(gi + 1) * og]
        for p in range(kh):
            for q in range(kw):
                r0, c0 = p * dilation[0], q * dilation[1]
                acc[:, gi * cg:(gi + 1) * cg, r0:r0 + stride[0] * (ho - 1) + 1:stride[0],
                    c0:c0 + stride[1] * (wo - 1) + 1:stride[1]] += np.einsum(
                        "nohw,oc->nchw", gs, ws[:, :, p, q])
    return acc[:, :, pt:pt + h, pl:pl + wd]


def conv2d_grad_weight(x, g, kernel_size, stride, padding, dilation, groups):
    """``gw[o, c, p, q] = sum_{n, i, j} g[n, o, i, j] * xpad[n, g(o) * Cg + c, i*sh + p*dh,
    j*sw + q*dw]``."""
    x, g = f64(x), f64(g)
    n, cin, h, wd = x.shape
    _, o, ho, wo = g.shape
    kh, kw = kernel_size
    (pt, pb), (pl, pr) = padding
    xp = np.zeros((n, cin, h + pt + pb + stride[0] * ho + kh * dilation[0],
                   wd + pl + pr + stride[1] * wo + kw * dilation[1]))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    cg, og = cin // groups, o // groups
    gw = np.zeros((o, cg, kh, kw))
    for gi in range(groups):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        gs = g[:, gi * og:(gi + 1) * og]
        for p in range(kh):
            for q in range(kw):
                r0, c0 = p * dilation[0], q * dilation[1]
                win = xs[:, :, r0:r0 + stride[0] * (ho - 1) + 1:stride[0],
                         c0:c0 + stride[1] * (wo - 1) + 1:stride[1]]
                gw[gi * og:(gi + 1) * og, :, p, q] = np.einsum("nohw,nchw->oc", gs, win)
    return gw


# -- pooling ----------------------------------------------------------------------------------
def pool_out(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length: with ceil_mode the last window must start inside the
    input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _windows(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Yield ``(i, j, rows, cols)``: each output position and the input coordinates its
    window covers (unpadded coordinates, possibly outside the input)."""
    h, w = x.shape[2:]
    ho = pool_out(h, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode)
    wo = pool_out(w, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode)
    for i in range(ho):
        for j in range(wo):
            rows = [i * stride[0] - padding[0] + p * dilation[0] for p in range(kernel_size[0])]
            cols = [j * stride[1] - padding[1] + q * dilation[1] for q in range(kernel_size[1])]
            yield i, j, rows, cols


def _out_hw(x, kernel_size, stride, padding, dilation, ceil_mode):
    h, w = x.shape[2:]
    return (pool_out(h, kernel_size[0], stride[0], padding[0], dilation[0], ceil_mode),
            pool_out(w, kernel_size[1], stride[1], padding[1], dilation[1], ceil_mode))


def _argmax_window(x, rows, cols):
    """Per (n, c): the flat index ``r * W + c`` of the window's first maximum."""
    h, w = x.shape[2:]
    best_val = np.full(x.shape[:2], -np.inf)
    best_idx = np.full(x.shape[:2], -1, dtype=np.int64)
    for r in rows:
        for c in cols:
            if 0 <= r < h and 0 <= c < w:
                v = x[:, :, r, c]
                better = v > best_val
                best_val = np.where(better, v, best_val)
                best_idx = np.where(better, r * w + c, best_idx)
    return best_val, best_idx


def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    """The maximum of every window (padding never wins)."""
    x = np.asarray(x)
    out = np.zeros(x.shape[:2] + _out_hw(x, kernel_size, stride, padding, dilation, ceil_mode),
                   dtype=np.float64 if x.dtype.kind in "fV" else x.dtype)
    for i, j, rows, cols in _windows(x, kernel_size, stride, padding, dilation, ceil_mode):
        out[:, :, i, j] = _argmax_window(x, rows, cols)[0]
    return out


def max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Flat index ``h * W + w`` of each window's first (row-major) maximum, int64."""
    x = np.asarray(x)
    out = np.zeros(x.shape[:2] + _out_hw(x, kernel_size, stride, padding, dilation, ceil_mode),
                   dtype=np.int64)
    for i, j, rows, cols in _windows(x, kernel_size, stride, padding, dilation, ceil_mode):
        out[:, :, i, j] = _argmax_window(x, rows, cols)[1]
    return out


def max_pool2d_grad_input(x, out, g, kernel_size, stride, padding, dilation, ceil_mode):
    """Each window's gradient added at its first maximum."""
    x, g = np.asarray(x), f64(g)
    n, c, h, w = x.shape
    idx = max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode)
    acc = np.zeros((n, c, h * w))
    for a in range(n):
        for b in range(c):
            np.add.at(acc[a, b], idx[a, b].reshape(-1), g[a, b].reshape(-1))
    return acc.reshape(n, c, h, w)


def _divisor(h, w, rows, cols, padding, count_include_pad, divisor_override):
    if divisor_override:
        return float(divisor_override)
    if count_include_pad:  # positions inside the padded input
        nr = sum(1 for r in rows if r < h + padding[0])
        nc = sum(1 for c in cols if c < w + padding[1])
    else:
        nr = sum(1 for r in rows if 0 <= r < h)
        nc = sum(1 for c in cols if 0 <= c < w)
    return float(nr * nc)


def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """Window sums (zero padding) over PyTorch's divisor."""
    x = f64(x)
    n, c, h, w = x.shape
    out = np.zeros((n, c) + _out_hw(x, kernel_size, stride, padding, (1, 1), ceil_mode))
    for i, j, rows, cols in _windows(x, kernel_size, stride, padding, (1, 1), ceil_mode):
        total = np.zeros((n, c))
        for r in rows:
            for q in cols:
                if 0 <= r < h and 0 <= q < w:
                    total += x[:, :, r, q]
        out[:, :, i, j] = total / _divisor(h, w, rows, cols, padding, count_include_pad,
                                           divisor_override)
    return out


def avg_pool2d_grad_input(g, input_size, kernel_size, stride, padding, ceil_mode,
                          count_include_pad, divisor_override):
    """The adjoint of :func:`avg_pool2d`: each window's gradient spread over its inputs."""
    g = f64(g)
    n, c = g.shape[:2]
    h, w = input_size
    like = np.zeros((n, c, h, w))
    out = np.zeros((n, c, h, w))
    for i, j, rows, cols in _windows(like, kernel_size, stride, padding, (1, 1), ceil_mode):
        share = g[:, :, i, j] / _divisor(h, w, rows, cols, padding, count_include_pad,
                                         divisor_override)
        for r in rows:
            for q in cols:
                if 0 <= r < h and 0 <= q < w:
                    out[:, :, r, q] += share
    return out


# -- normalisation ----------------------------------------------------------------------------
def _normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)  # biased, as PyTorch
    return (x - mean) / np.sqrt(var + eps)


def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * f64(weight).reshape(shape)
    if bias is not None:
        y = y + f64(bias).reshape(shape)
    return y


def batch_norm(x, weight, bias, eps):
    """Normalise over every dim but the channels (dim 1) with the batch statistics."""
    x = f64(x)
    y = _normalize(x, (0,) + tuple(range(2, x.ndim)), eps)
    return _affine(y, weight, bias, (1, x.shape[1]) + (1,) * (x.ndim - 2))


def layer_norm(x, weight, bias, ndim, eps):
    """Normalise over the last ``ndim`` dims."""
    x = f64(x)
    y = _normalize(x, tuple(range(x.ndim - ndim, x.ndim)), eps)
    return _affine(y, weight, bias, x.shape[x.ndim - ndim:])


def group_norm(x, weight, bias, num_groups, eps):
    """Normalise over (channels of the group, spatial dims) in each of ``num_groups``."""
    x = f64(x)
    v = x.reshape(x.shape[0], num_groups, -1)
    y = _normalize(v, (2,), eps).reshape(x.shape)
    return _affine(y, weight, bias, (1, x.shape[1]) + (1,) * (x.ndim - 2))


# -- losses, embedding, dropout, attention ----------------------------------------------------
def _reduce(per_sample, total_weight, reduction):
    if reduction == "none":
        return per_sample
    return per_sample.sum() / (total_weight if reduction == "mean" else 1.0)


def nll_loss(logp, target, weight, ignore_index, reduction):
    """``l_i = -w[y_i] * logp[i, y_i]`` (0 where ``y_i == ignore_index``); "mean" divides by
    the sum of the used weights."""
    logp = f64(logp)
    m, ncls = logp.shape
    wc = np.ones(ncls) if weight is None else f64(weight)
    per = np.zeros(m)
    wsum = 0.0
    for i, y in enumerate(np.asarray(target)):
        if y == ignore_index:
            continue
        per[i] = -wc[y] * logp[i, y]
        wsum += wc[y]
    return _reduce(per, wsum, reduction)


def cross_entropy(x, target, weight, ignore_index, label_smoothing, reduction):
    """``(1 - eps) * nll(log_softmax(x)) + eps / C * sum_c -w[c] * log_softmax(x)[i, c]``, both
    terms 0 for ignored samples and divided by the used weights' sum for "mean"."""
    lp = log_softmax(f64(x), 1)
    m, ncls = lp.shape
    wc = np.ones(ncls) if weight is None else f64(weight)
    per = np.zeros(m)
    wsum = 0.0
    for i, y in enumerate(np.asarray(target)):
        if y == ignore_index:
            continue
        smooth = -(wc * lp[i]).sum()
        per[i] = (1 - label_smoothing) * (-wc[y] * lp[i, y]) + label_smoothing / ncls * smooth
        wsum += wc[y]
    return _reduce(per, wsum, reduction)


def binary_cross_entropy(x, t):
    """``-(t log x + (1 - t) log(1 - x))`` with each log clamped at -100 (PyTorch)."""
    x, t = f64(x), f64(t)
    return -(t * np.maximum(np.log(x), -100.0) + (1 - t) * np.maximum(np.log(1 - x), -100.0))


def embedding(weight, indices, padding_idx=None, scale_grad_by_freq=False):
    """Rows of ``weight`` picked by ``indices``."""
    return np.asarray(weight)[np.asarray(indices)]


def embedding_vjp(weight, indices, v, padding_idx=None, scale_grad_by_freq=False):
    """The gradient rule of ``embedding`` (not the plain derivative): rows accumulate their
    lookups' gradients, the ``padding_idx`` row gets none, ``scale_grad_by_freq`` divides each
    row by its index's count."""
    idx = np.asarray(indices).reshape(-1)
    g = np.zeros(np.shape(weight))
    np.add.at(g, idx, np.asarray(v).reshape(idx.size, g.shape[1]))
    if scale_grad_by_freq:
        counts = np.bincount(idx, minlength=g.shape[0]).astype(np.float64)
        g /= np.maximum(counts, 1.0)[:, None]
    if padding_idx is not None:
        g[padding_idx] = 0.0
    return g


def dropout(x, noise, p):
    """``x / (1 - p)`` where ``noise >= p``, else 0."""
    return np.where(np.asarray(noise) >= p, f64(x) / (1.0 - p), 0.0)


def scaled_dot_product_attention(q, k, v, mask, scale, is_causal):
    """``softmax(q k^T * scale + mask) v``; a bool mask keeps True positions, ``is_causal``
    keeps key ``j <= i``."""
    s = np.matmul(f64(q), np.swapaxes(f64(k), -1, -2)) * scale
    if is_causal:
        lq, lk = s.shape[-2:]
        s = np.where(np.arange(lk)[None, :] <= np.arange(lq)[:, None], s, -np.inf)
    if mask is not None:
        mask = np.asarray(mask)
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + f64(mask)
    return np.matmul(softmax(s, -1), f64(v))


def conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """The scatter definition: input pixel ``(p, q)`` of channel ``c`` adds ``x * w[c, o]`` at
    output ``(p*s - pad + i*d, q*s - pad + j*d)`` for every kernel tap ``(i, j)``."""
    x, w = f64(x), f64(w)
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    ho = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    wo = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    cg = cin // groups
    y = np.zeros((n, og * groups, ho, wo))
    for c in range(cin):
        g = c // cg
        for i in range(kh):
            for j in range(kw):
                r = np.arange(h) * stride[0] - padding[0] + i * dilation[0]  # one tap: distinct
                s = np.arange(wd) * stride[1] - padding[1] + j * dilation[1]  # targets
                rk, sk = (r >= 0) & (r < ho), (s >= 0) & (s < wo)
                part = x[:, c][:, rk][:, :, sk]  # (n, rows, cols) that land inside
                y[:, g * og:(g + 1) * og][:, :, r[rk][:, None], s[sk][None, :]] += (
                    part[:, None] * w[c, :, i, j][None, :, None, None])
    if b is not None:
        y += f64(b)[None, :, None, None]
    return y


def adaptive_avg_pool2d(x, output_size):
    """Output cell ``(i, j)`` averages rows ``floor(i*H/oh)`` to ``ceil((i+1)*H/oh)`` and the
    same for columns (PyTorch's adaptive windows)."""
    x = f64(x)
    n, c, h, w = x.shape
    oh, ow = output_size
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


# -- the losses' public forms (any input layout, probability targets, regression) -------------
def _as_rows(x, target):
    """(M, C) rows and (M,) targets of a (C,), (N, C) or (N, C, d...) input, and the shape
    ``reduction="none"`` gives back."""
    x, target = f64(x), np.asarray(target)
    if x.ndim == 1:
        return x[None], target.reshape(1), ()
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]), target.reshape(-1), target.shape


def cross_entropy_any(x, target, weight, ignore_index, label_smoothing, reduction):
    """:func:`cross_entropy` for class-index targets of any layout (classes in dim 1)."""
    rows, t, shape = _as_rows(x, target)
    out = cross_entropy(rows, t, weight, ignore_index, label_smoothing, reduction)
    return np.reshape(out, shape) if reduction == "none" else out


def nll_loss_any(logp, target, weight, ignore_index, reduction):
    """:func:`nll_loss` for targets of any layout (classes in dim 1)."""
    rows, t, shape = _as_rows(logp, target)
    out = nll_loss(rows, t, weight, ignore_index, reduction)
    return np.reshape(out, shape) if reduction == "none" else out


def reduce(loss, reduction):
    """``none``, ``sum`` or ``mean`` of an elementwise loss."""
    loss = f64(loss)
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def cross_entropy_probs(x, p, weight, label_smoothing, reduction):
    """Cross entropy with class-probability targets: ``-sum_c w_c q_c log_softmax(x)_c`` with
    ``q = p (1 - eps) + eps / C``; ``mean`` divides by the number of samples."""
    x = f64(x)
    axis = 0 if x.ndim == 1 else 1
    c = x.shape[axis]
    q = f64(p) * (1 - label_smoothing) + label_smoothing / c
    w = np.ones(c) if weight is None else f64(weight)
    shape = [1] * x.ndim
    shape[axis] = c
    loss = -(log_softmax(x, axis) * q * w.reshape(shape)).sum(axis=axis)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / (x.size / c)


def bce_with_logits(x, y, weight, pos_weight, reduction):
    """``-[pw y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] * w``, the logs computed as
    ``-log(1 + exp(-x))`` and ``-log(1 + exp(x))``."""
    x, y = f64(x), f64(y)
    pw = 1.0 if pos_weight is None else f64(pos_weight)
    loss = -(pw * y * -np.logaddexp(0, -x) + (1 - y) * -np.logaddexp(0, x))
    return reduce(loss if weight is None else loss * f64(weight), reduction)


def smooth_l1(x, y, beta, reduction):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``beta = 0``: L1)."""
    z = np.abs(f64(x) - f64(y))
    return reduce(np.where(z < beta, 0.5 * z ** 2 / max(beta, 1e-300), z - 0.5 * beta),
                  reduction)


def huber(x, y, delta, reduction):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    z = np.abs(f64(x) - f64(y))
    return reduce(np.where(z < delta, 0.5 * z ** 2, delta * (z - 0.5 * delta)), reduction)


def kl_div(logq, target, reduction, log_target):
    """``p (log p - log q)`` pointwise (0 where ``p = 0``); ``batchmean`` sums over the batch
    size."""
    logq, t = f64(logq), f64(target)
    if log_target:
        pointwise = np.exp(t) * (t - logq)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            pointwise = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1.0)) - logq), 0.0)
    if reduction == "batchmean":
        return pointwise.sum() / logq.shape[0]
    return reduce(pointwise, reduction)
