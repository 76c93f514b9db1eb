"""Kernels for corefw's nn composites written once against an array module ``xp``.

The same code runs on numpy and on cupy, which is how the tests check it on a machine without a
GPU: each kernel is compared with its op's decomposition on the cpu device. They are
transliterations of the decompositions in ``corefw/ops/nn_conv.py``, ``nn_norm.py`` and
``nn_loss.py`` into array code, with in-place accumulation where the decompositions must build
new tensors (the window scatter of the conv and pooling gradients), so each is a handful of
array calls instead of dozens of ops. Nothing here is cupy-specific: these are candidates for
:mod:`corefw.backend.toolkit` (see docs/cuda.md).

``kernels(xp, add_at=..., log_softmax=...)`` returns ``{op name: kernel}``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["kernels"]


def kernels(xp, *, add_at: Callable, log_softmax: Callable | None = None) -> dict:
    """The kernel table for array module ``xp``; ``add_at(a, key, values)`` is
    ``numpy.add.at``; ``log_softmax(x, dim)`` defaults to the three-pass array version."""
    from corefw.ops.nn_conv import conv_output_size, pool_divisor, pool_output_size

    def arr(v):
        return v if isinstance(v, xp.ndarray) else xp.asarray(v)

    if log_softmax is None:
        def log_softmax(x, dim):
            s = x - xp.max(x, axis=dim, keepdims=True)
            return s - xp.log(xp.sum(xp.exp(s), axis=dim, keepdims=True))

    # -- windows -----------------------------------------------------------------------------
    def windows(x, kernel_size, stride, dilation, out_hw):
        """The kh*kw strided views x[:, :, i*dh::sh, j*dw::sw], each (N, C, Ho, Wo)."""
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
        return [x[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                  j * dw:j * dw + sw * (wo - 1) + 1:sw] for i in range(kh) for j in range(kw)]

    def scatter_windows(cols, padded_hw, kernel_size, stride, dilation):
        """Adjoint of windows: add cols[:, :, k] (N, C, Ho, Wo) into a zero (N, C, Hp, Wp)."""
        n, c, _, ho, wo = cols.shape
        acc = xp.zeros((n, c) + tuple(padded_hw), dtype=cols.dtype)
        for k, view in enumerate(windows(acc, kernel_size, stride, dilation, (ho, wo))):
            view += cols[:, :, k]
        return acc

    def pad2d(x, top, bottom, left, right, value=0):
        if not (top or bottom or left or right):
            return x
        return xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                      constant_values=value)

    def crop(x, top, left, hw):
        return xp.ascontiguousarray(x[:, :, top:top + hw[0], left:left + hw[1]])

    # -- convolution -------------------------------------------------------------------------
    def columns(x, kernel_size, stride, padding, dilation, out_hw, groups):
        n, c = x.shape[:2]
        (pt, pb), (pl, pr) = padding
        if tuple(kernel_size) == (1, 1) and tuple(stride) == (1, 1) and not (pt or pb or pl
                                                                             or pr):
            return x.reshape(n, groups, c // groups, out_hw[0] * out_hw[1])
        xp_ = pad2d(x, pt, pb, pl, pr)
        cols = xp.stack(windows(xp_, kernel_size, stride, dilation, out_hw), axis=2)
        return cols.reshape(n, groups, -1, out_hw[0] * out_hw[1])

    def conv2d(x, w, b, stride, padding, dilation, groups):
        n, _, h, wd = x.shape
        o, _, kh, kw = w.shape
        out_hw = (conv_output_size(h, kh, stride[0], *padding[0], dilation[0]),
                  conv_output_size(wd, kw, stride[1], *padding[1], dilation[1]))
        cols = columns(x, (kh, kw), stride, padding, dilation, out_hw, groups)
        y = xp.matmul(w.reshape(groups, o // groups, -1), cols).reshape((n, o) + out_hw)
        if b is not None:
            y += b.reshape(1, o, 1, 1)
        return y

    def conv2d_grad_input(g, w, input_size, stride, padding, dilation, groups):
        n, o, ho, wo = g.shape
        _, cg, kh, kw = w.shape
        wt = xp.swapaxes(w.reshape(groups, o // groups, -1), 1, 2)  # G, Cg*kk, Og
        cols = xp.matmul(wt, g.reshape(n, groups, o // groups, ho * wo))  # N, G, Cg*kk, L
        cols = cols.reshape(n, cg * groups, kh * kw, ho, wo)
        (pt, pb), (pl, pr) = padding
        padded = (input_size[0] + pt + pb, input_size[1] + pl + pr)
        acc = scatter_windows(cols, padded, (kh, kw), stride, dilation)
        return crop(acc, pt, pl, input_size)

    def conv2d_grad_weight(x, g, kernel_size, stride, padding, dilation, groups):
        n, o, ho, wo = g.shape
        cols = columns(x, kernel_size, stride, padding, dilation, (ho, wo), groups)
        gm = g.reshape(n, groups, o // groups, ho * wo)
        gw = xp.matmul(gm, xp.swapaxes(cols, 2, 3)).sum(axis=0)  # G, Og, Cg*kk
        return gw.reshape((o, x.shape[1] // groups) + tuple(kernel_size))

    # -- pooling -----------------------------------------------------------------------------
    def pool_out_hw(x, kernel_size, stride, padding, dilation, ceil_mode):
        return tuple(pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                     zip(x.shape[2:], kernel_size, stride, padding, dilation))

    def extra_pad(in_hw, out_hw, kernel_size, stride, padding, dilation):
        return [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p)) for n, o, k, s, p, d in
                zip(in_hw, out_hw, kernel_size, stride, padding, dilation)]

    def pool_padded(x, kernel_size, stride, padding, dilation, out_hw, value):
        eh, ew = extra_pad(x.shape[2:], out_hw, kernel_size, stride, padding, dilation)
        ph, pw = padding
        return pad2d(x, ph, ph + eh, pw, pw + ew, value)

    def lowest(dtype):
        return float("-inf") if dtype.kind == "f" else int(xp.iinfo(dtype).min)

    def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
        out_hw = pool_out_hw(x, kernel_size, stride, padding, dilation, ceil_mode)
        xp_ = pool_padded(x, kernel_size, stride, padding, dilation, out_hw, lowest(x.dtype))
        wins = windows(xp_, kernel_size, stride, dilation, out_hw)
        out = wins[0].copy()
        for win in wins[1:]:
            xp.maximum(out, win, out=out)
        return out

    def max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
        out_hw = pool_out_hw(x, kernel_size, stride, padding, dilation, ceil_mode)
        xp_ = pool_padded(x, kernel_size, stride, padding, dilation, out_hw, lowest(x.dtype))
        k = xp.argmax(xp.stack(windows(xp_, kernel_size, stride, dilation, out_hw), axis=2),
                      axis=2)
        kw = kernel_size[1]
        rows = (xp.arange(out_hw[0], dtype=xp.int64) * stride[0] - padding[0]).reshape(-1, 1)
        cols = (xp.arange(out_hw[1], dtype=xp.int64) * stride[1] - padding[1]).reshape(1, -1)
        h = rows + (k // kw) * dilation[0]
        w = cols + (k % kw) * dilation[1]
        return (h * x.shape[3] + w).astype(xp.int64)

    def max_pool2d_grad_input(x, out, g, kernel_size, stride, padding, dilation, ceil_mode):
        n, c, h, w = x.shape
        idx = max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode)
        acc = xp.zeros((n, c, h * w), dtype=g.dtype)
        key = (xp.arange(n).reshape(n, 1, 1), xp.arange(c).reshape(1, c, 1),
               idx.reshape(n, c, -1))
        add_at(acc, key, g.reshape(n, c, -1))
        return acc.reshape(n, c, h, w)

    def divisor(dtype, in_hw, out_hw, kernel_size, stride, padding, ceil_mode,
                count_include_pad, divisor_override):
        return xp.asarray(pool_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode,
                                       count_include_pad, divisor_override), dtype=dtype)

    def avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                   divisor_override):
        out_hw = pool_out_hw(x, kernel_size, stride, padding, (1, 1), ceil_mode)
        xp_ = pool_padded(x, kernel_size, stride, padding, (1, 1), out_hw, 0)
        wins = windows(xp_, kernel_size, stride, (1, 1), out_hw)
        total = wins[0].copy()
        for win in wins[1:]:
            total += win
        total /= divisor(x.dtype, x.shape[2:], out_hw, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)
        return total

    def avg_pool2d_grad_input(g, input_size, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override):
        n, c, ho, wo = g.shape
        gd = g / divisor(g.dtype, input_size, (ho, wo), kernel_size, stride, padding,
                         ceil_mode, count_include_pad, divisor_override)
        eh, ew = extra_pad(input_size, (ho, wo), kernel_size, stride, padding, (1, 1))
        acc = xp.zeros((n, c, input_size[0] + 2 * padding[0] + eh,
                        input_size[1] + 2 * padding[1] + ew), dtype=g.dtype)
        for view in windows(acc, kernel_size, stride, (1, 1), (ho, wo)):
            view += gd
        return crop(acc, padding[0], padding[1], input_size)

    # -- normalisation -----------------------------------------------------------------------
    def norm(kind):
        def kernel(x, weight, bias, eps, ndim=None, num_groups=None):
            nd = x.ndim
            if kind == "batch_norm":
                xv, dims, pshape = x, (0,) + tuple(range(2, nd)), (1, x.shape[1]) + (1,) * (
                    nd - 2)
            elif kind == "layer_norm":
                xv, dims, pshape = x, tuple(range(nd - ndim, nd)), tuple(x.shape[nd - ndim:])
            else:
                xv, dims = x.reshape(x.shape[0], num_groups, -1), (2,)
                pshape = (1, x.shape[1]) + (1,) * (nd - 2)
            out = xv - xp.mean(xv, axis=dims, keepdims=True)
            var = xp.mean(out * out, axis=dims, keepdims=True)
            out *= 1 / xp.sqrt(var + eps)
            out = out.reshape(x.shape)
            if weight is not None:
                out *= weight.reshape(pshape)
            if bias is not None:
                out += bias.reshape(pshape)
            return out

        kernel.__name__ = kind
        return kernel

    # -- losses ------------------------------------------------------------------------------
    def sample_weights(target, weight, ignore_index, dtype):
        keep = target != ignore_index
        safe = xp.where(keep, target, 0)
        if weight is None:
            w = keep.astype(dtype)
        else:
            w = xp.where(keep, weight[safe], 0).astype(dtype, copy=False)
        return safe, w, keep

    def reduce(per_sample, w, reduction):
        if reduction == "none":
            return per_sample
        total = arr(xp.sum(per_sample))
        return total if reduction == "sum" else arr(total / xp.sum(w))

    def nll(logp, safe, w, reduction):
        picked = xp.take_along_axis(logp, safe.reshape(-1, 1), axis=1).reshape(-1)
        return reduce(-picked * w, w, reduction)

    def nll_loss(logp, target, weight, ignore_index, reduction):
        safe, w, _ = sample_weights(target, weight, ignore_index, logp.dtype)
        return nll(logp, safe, w, reduction)

    def cross_entropy(x, target, weight, ignore_index, label_smoothing, reduction):
        logp = log_softmax(x, 1)
        safe, w, keep = sample_weights(target, weight, ignore_index, x.dtype)
        out = nll(logp, safe, w, reduction)
        if not label_smoothing:
            return out
        smooth = -xp.sum(logp * weight if weight is not None else logp, axis=1)
        smooth = reduce(xp.where(keep, smooth, 0).astype(x.dtype, copy=False), w, reduction)
        n_classes = x.shape[1]
        return arr((1 - label_smoothing) * out + smooth * (label_smoothing / n_classes))

    return {
        "conv2d": conv2d, "conv2d_grad_input": conv2d_grad_input,
        "conv2d_grad_weight": conv2d_grad_weight, "max_pool2d": max_pool2d,
        "max_pool2d_indices": max_pool2d_indices, "max_pool2d_grad_input": max_pool2d_grad_input,
        "avg_pool2d": avg_pool2d, "avg_pool2d_grad_input": avg_pool2d_grad_input,
        "batch_norm": norm("batch_norm"), "layer_norm": norm("layer_norm"),
        "group_norm": norm("group_norm"), "nll_loss": nll_loss, "cross_entropy": cross_entropy,
    }
