"""Fast NumPy kernels for composite ops (conv, pooling, norms ...), beyond the toolkit's."""

from __future__ import annotations


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
    return kernels


_UFUNCS = {
    "neg": "negative", "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "abs": "absolute", "sign": "sign", "floor": "floor", "ceil": "ceil",
    "bitwise_not": "invert", "add": "add", "sub": "subtract", "mul": "multiply",
    "div": "true_divide", "pow": "power", "maximum": "maximum", "minimum": "minimum",
    "floor_divide": "floor_divide", "remainder": "remainder", "eq": "equal", "ne": "not_equal",
    "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
    "log1p": "log1p", "expm1": "expm1", "tan": "tan", "where": None,
}


def _ufunc_kernels() -> dict:
    """The ufuncs themselves, called from C through ``functools.partial``: ``out=...``
    (NumPy >= 2.3) makes a 0-d result an array instead of a NumPy scalar, with no Python
    wrapper on the hot path."""
    from functools import partial

    import numpy as np

    out = {name: partial(getattr(np, ufunc), out=...) for name, ufunc in _UFUNCS.items()
           if ufunc}
    out["relu"] = _relu
    return out


def _relu(x):
    import numpy as np

    return np.maximum(x, 0, out=...)


def _reduction_kernels() -> dict:
    """``ufunc.reduce`` skips numpy's Python-level wrappers (3x faster on small arrays)."""
    import numpy as np

    def red(ufunc):
        def kernel(x, dim, keepdim):
            r = ufunc.reduce(x, axis=dim, keepdims=keepdim)
            return r if r.__class__ is np.ndarray else np.asarray(r)
        return kernel

    return {"sum": red(np.add), "prod": red(np.multiply), "amax": red(np.maximum),
            "amin": red(np.minimum)}


# -- convolution and pooling -------------------------------------------------------------------
# Layout: the kernels compute on the channel-major view ``x.transpose(1, 0, 2, 3)`` (C, N, H, W)
# and return their results as that same view of a C-contiguous (C, N, H, W) array. The GEMMs then
# see plain 2-D matrices (im2col rows (c, i, j), columns (n, h, w)) with no transposing copies,
# the weight gradient is one GEMM over the whole batch, and elementwise ops between layers
# (NumPy keeps the memory order) stay in that layout. Python loops run over kernel offsets only.
# Temporaries (the im2col matrix) live in per-thread scratch buffers: fresh multi-megabyte
# arrays cost page faults on every call.

_SCRATCH_MAX = 1 << 28  # bigger temporaries are allocated per call


def _scratch(slot: str, shape: tuple, dtype):
    """A reusable per-thread (uninitialised) array for a kernel's temporaries."""
    import math
    import threading

    import numpy as np

    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > _SCRATCH_MAX:
        return np.empty(shape, dtype)
    local = _scratch.__dict__.setdefault("local", threading.local())
    buf = getattr(local, slot, None)
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(max(nbytes, 64), np.uint8)
        setattr(local, slot, buf)
    return buf[:nbytes].view(dtype).reshape(shape)


def _span(n_out: int, n_in: int, off: int, s: int) -> tuple[int, int]:
    """Outputs ``o`` in [a, b) whose input index ``o * s + off`` lies in [0, n_in)."""
    a = max(0, (s - 1 - off) // s)
    b = min(n_out, (n_in - 1 - off) // s + 1) if n_in - 1 - off >= 0 else 0
    return a, max(a, b)


def _taps(in_hw, out_hw, kernel_size, stride, dilation, pad_tl):
    """For each kernel offset (i, j): the output slices it reaches and the input slices read."""
    (h, w), (ho, wo), (kh, kw), (sh, sw), (dh, dw), (pt, pl) = (
        in_hw, out_hw, kernel_size, stride, dilation, pad_tl)
    for i in range(kh):
        oh = i * dh - pt
        a, b = _span(ho, h, oh, sh)
        for j in range(kw):
            ow = j * dw - pl
            c, e = _span(wo, w, ow, sw)
            if a < b and c < e:
                src = (slice(a * sh + oh, (b - 1) * sh + oh + 1, sh),
                       slice(c * sw + ow, (e - 1) * sw + ow + 1, sw))
                yield i, j, (slice(a, b), slice(c, e)), src
            else:
                yield i, j, None, None


def _im2col(xt, kernel_size, stride, padding, dilation, out_hw, slot="cols"):
    """(C, N, H, W) -> scratch (C, kh, kw, N, Ho, Wo); padding reads as zeros."""
    c, n, h, w = xt.shape
    kh, kw = kernel_size
    cols = _scratch(slot, (c, kh, kw, n) + tuple(out_hw), xt.dtype)
    for i, j, dst, src in _taps((h, w), out_hw, kernel_size, stride, dilation,
                                (padding[0][0], padding[1][0])):
        tap = cols[:, i, j]
        if dst is None:
            tap[...] = 0
            continue
        (a, b), (c0, e) = (dst[0].start, dst[0].stop), (dst[1].start, dst[1].stop)
        tap[:, :, a:b, c0:e] = xt[:, :, src[0], src[1]]
        if a > 0:
            tap[:, :, :a] = 0
        if b < out_hw[0]:
            tap[:, :, b:] = 0
        if c0 > 0:
            tap[:, :, a:b, :c0] = 0
        if e < out_hw[1]:
            tap[:, :, a:b, e:] = 0
    return cols


def _gemm(a, b, out=None):
    """``a @ b`` for (G, m, k) x (G, k, n) stacks, as one 2-D GEMM when G == 1."""
    import numpy as np

    if a.shape[0] == 1:
        return np.matmul(a[0], b[0], out=None if out is None else out[0])[None]
    return np.matmul(a, b, out=out)


def _conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    out_hw = tuple((size + lo + hi - d * (k - 1) - 1) // s + 1 for size, k, s, (lo, hi), d in
                   zip((h, wd), (kh, kw), stride, padding, dilation))
    m = n * out_hw[0] * out_hw[1]
    cols = _im2col(x.transpose(1, 0, 2, 3), (kh, kw), stride, padding, dilation, out_hw)
    y = _gemm(w.reshape(groups, o // groups, cg * kh * kw), cols.reshape(groups, -1, m))
    y = y.reshape(o, n, *out_hw)
    if b is not None:
        y += b.reshape(o, 1, 1, 1)
    return y.transpose(1, 0, 2, 3)


def _grad_rows(g, groups):
    """(N, O, Ho, Wo) -> (G, O/G, N*Ho*Wo), a view when g is in the channel-major layout."""
    n, o, ho, wo = g.shape
    return g.transpose(1, 0, 2, 3).reshape(groups, o // groups, n * ho * wo)


def _conv2d_grad_weight(x, g, kernel_size, stride, padding, dilation, groups):
    c = x.shape[1]
    o = g.shape[1]
    cols = _im2col(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation,
                   g.shape[2:])
    cols = cols.reshape(groups, -1, cols.shape[3] * cols.shape[4] * cols.shape[5])
    gw = _gemm(_grad_rows(g, groups), cols.transpose(0, 2, 1))
    return gw.reshape(o, c // groups, *kernel_size)


def _conv2d_grad_input(g, w, input_size, stride, padding, dilation, groups):
    import numpy as np

    n, o, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    c = cg * groups
    rows = _grad_rows(g, groups)
    wt = w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    cols = _gemm(wt, rows, out=_scratch("gcols", (groups, cg * kh * kw, rows.shape[2]),
                                        np.result_type(g, w)))
    cols = cols.reshape(c, kh, kw, n, ho, wo)
    gx = np.zeros((c, n) + tuple(input_size), cols.dtype)
    for i, j, dst, src in _taps(input_size, (ho, wo), (kh, kw), stride, dilation,
                                (padding[0][0], padding[1][0])):
        if dst is not None:
            view = gx[:, :, src[0], src[1]]
            view += cols[:, i, j, :, dst[0], dst[1]]
    return gx.transpose(1, 0, 2, 3)


def _conv_kernels() -> dict:
    return {"conv2d": _conv2d, "conv2d_grad_input": _conv2d_grad_input,
            "conv2d_grad_weight": _conv2d_grad_weight}


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    from corefw.ops.nn_conv import pool_output_size

    return tuple(pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                 zip(x.shape[2:], kernel_size, stride, padding, dilation))


def _pool_pad(xt, kernel_size, stride, padding, dilation, out_hw, value):
    """Pad (C, N, H, W) by ``padding`` plus ceil_mode's overhang (no copy when neither)."""
    import numpy as np

    c, n, h, w = xt.shape
    need = [(o - 1) * s + d * (k - 1) + 1 for o, k, s, d in
            zip(out_hw, kernel_size, stride, dilation)]
    hp, wp = (max(need[0], h + 2 * padding[0]), max(need[1], w + 2 * padding[1]))
    if (hp, wp) == (h, w):
        return xt
    xp = np.full((c, n, hp, wp), value, xt.dtype)
    xp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = xt
    return xp


def _windows(xp, kernel_size, stride, dilation, out_hw):
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            yield (slice(None), slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                   slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _lowest(dtype):
    import numpy as np

    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    import numpy as np

    out_hw = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation, out_hw,
                   _lowest(x.dtype))
    wins = _windows(xp, kernel_size, stride, dilation, out_hw)
    out = xp[next(wins)].copy()
    for key in wins:
        np.maximum(out, xp[key], out=out)
    return out.transpose(1, 0, 2, 3)


def _max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
    import numpy as np

    out_hw = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x, kernel_size, stride, padding, dilation, out_hw, _lowest(x.dtype))
    k = np.stack([xp[key] for key in _windows(xp, kernel_size, stride, dilation, out_hw)],
                 axis=2).argmax(axis=2)
    kw = kernel_size[1]
    rows = (np.arange(out_hw[0]) * stride[0] - padding[0])[:, None]
    cols = np.arange(out_hw[1]) * stride[1] - padding[1]
    return ((rows + k // kw * dilation[0]) * x.shape[3] + cols + k % kw * dilation[1]).astype(
        np.int64)


def _max_pool2d_grad_input(x, out, g, kernel_size, stride, padding, dilation, ceil_mode):
    """Each window's gradient goes to its first maximum (PyTorch's choice on ties)."""
    import numpy as np

    h, w = x.shape[2:]
    out_hw = out.shape[2:]
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation, out_hw,
                   _lowest(x.dtype))
    ot, gt = out.transpose(1, 0, 2, 3), g.transpose(1, 0, 2, 3)
    nan = ot.dtype.kind == "f" and bool(np.isnan(ot).any())
    disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))
    gxp = np.zeros(xp.shape, g.dtype)
    tmp = _scratch("pool", gt.shape, g.dtype)
    keys = list(_windows(xp, kernel_size, stride, dilation, out_hw))
    taken = None
    for idx, key in enumerate(keys):
        hit = np.equal(xp[key], ot)
        if nan:
            hit |= np.isnan(xp[key])
        first = hit if taken is None else np.greater(hit, taken)  # hit and not yet taken
        if idx < len(keys) - 1:
            taken = hit if taken is None else np.logical_or(taken, hit, out=taken)
        if disjoint:
            np.multiply(gt, first, out=gxp[key])
        else:
            np.multiply(gt, first, out=tmp)
            gxp[key] += tmp
    ph, pw = padding
    return gxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def _avg_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override, dtype):
    from corefw.ops.nn_conv import pool_divisor

    return pool_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override).astype(dtype)


def _avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
    out_hw = _pool_geometry(x, kernel_size, stride, padding, (1, 1), ceil_mode)
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, (1, 1), out_hw, 0)
    wins = _windows(xp, kernel_size, stride, (1, 1), out_hw)
    out = xp[next(wins)].copy()
    for key in wins:
        out += xp[key]
    out /= _avg_divisor(x.shape[2:], out_hw, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override, out.dtype)
    return out.transpose(1, 0, 2, 3)


def _avg_pool2d_grad_input(g, input_size, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override):
    import numpy as np

    n, c, ho, wo = g.shape
    gd = g.transpose(1, 0, 2, 3) / _avg_divisor(input_size, (ho, wo), kernel_size, stride,
                                                padding, ceil_mode, count_include_pad,
                                                divisor_override, g.dtype)
    need = [(o - 1) * s + k for o, k, s in zip((ho, wo), kernel_size, stride)]
    hp, wp = (max(need[0], input_size[0] + 2 * padding[0]),
              max(need[1], input_size[1] + 2 * padding[1]))
    gxp = np.zeros((c, n, hp, wp), gd.dtype)
    for key in _windows(gxp, kernel_size, stride, (1, 1), (ho, wo)):
        gxp[key] += gd
    (ph, pw), (h, w) = padding, input_size
    return gxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def _pool_kernels() -> dict:
    return {"max_pool2d": _max_pool2d, "max_pool2d_indices": _max_pool2d_indices,
            "max_pool2d_grad_input": _max_pool2d_grad_input, "avg_pool2d": _avg_pool2d,
            "avg_pool2d_grad_input": _avg_pool2d_grad_input}


# -- normalisation -----------------------------------------------------------------------------
def _normalize(xv, axes, eps):
    import numpy as np

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
# Same arithmetic, in the same order, as the decompositions in corefw/ops/nn_loss.py.
def _class_weights(t, weight, ignore_index, dtype):
    import numpy as np

    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    w = keep.astype(dtype) if weight is None else np.where(keep, weight[safe], 0).astype(dtype)
    return safe, w, keep


def _loss_reduce(per, w, reduction):
    import numpy as np

    if reduction == "none":
        return per
    total = per.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / w.sum()  # NaN when every sample is ignored, as PyTorch
    return np.asarray(total, dtype=per.dtype)


def _nll_loss(logp, t, weight, ignore_index, reduction):
    import numpy as np

    safe, w, _ = _class_weights(t, weight, ignore_index, logp.dtype)
    return _loss_reduce(-logp[np.arange(t.shape[0]), safe] * w, w, reduction)


def _cross_entropy(x, t, weight, ignore_index, label_smoothing, reduction):
    import numpy as np

    logp = x - x.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    nll = _nll_loss(logp, t, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    _, w, keep = _class_weights(t, weight, ignore_index, x.dtype)
    smooth = -(logp * weight).sum(axis=1) if weight is not None else -logp.sum(axis=1)
    smooth = _loss_reduce(np.where(keep, smooth, 0).astype(x.dtype), w, reduction)
    return np.asarray((1 - label_smoothing) * nll + smooth * (label_smoothing / x.shape[1]),
                      dtype=x.dtype)


def _binary_cross_entropy(x, t):
    import numpy as np

    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(x), -100.0) + (1 - t) * np.maximum(np.log(1 - x), -100.0))


def _loss_kernels() -> dict:
    return {"nll_loss": _nll_loss, "cross_entropy": _cross_entropy,
            "binary_cross_entropy": _binary_cross_entropy}


# -- embedding, dropout, attention (decompositions in corefw/ops/nn_misc.py) -------------------
def _embedding(weight, indices, padding_idx, scale_grad_by_freq):
    import numpy as np

    return np.take(weight, indices, axis=0)


def _dropout(x, noise, p):
    import numpy as np

    return np.where(noise >= p, x * (1.0 / (1.0 - p)), x.dtype.type(0))


def _sdpa(q, k, v, mask, scale, is_causal):
    import numpy as np

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
