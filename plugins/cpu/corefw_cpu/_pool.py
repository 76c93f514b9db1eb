"""Pooling kernels (max and average, 2-D) in the channel-major layout of the convolution
kernels (see ``_conv``), whose result buffers and thread blocks they share."""

from __future__ import annotations

import functools

import numpy as np

from ._conv import _as_bl, _bl, _output, _scratch, _split


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    from corefw.ops.nn_conv import pool_output_size

    return tuple(pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                 zip(x.shape[2:], kernel_size, stride, padding, dilation))


def _pool_pad(xt, kernel_size, stride, padding, dilation, out_hw, value):
    """Pad (C, N, H, W) by ``padding`` plus ceil_mode's overhang (no copy when neither)."""
    c, n, h, w = xt.shape
    need = [(o - 1) * s + d * (k - 1) + 1 for o, k, s, d in
            zip(out_hw, kernel_size, stride, dilation)]
    hp, wp = (max(need[0], h + 2 * padding[0]), max(need[1], w + 2 * padding[1]))
    if (hp, wp) == (h, w):
        return xt
    xp = np.full((c, n, hp, wp), value, xt.dtype)
    xp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = xt
    return xp


def _windows(kernel_size, stride, dilation, out_hw):
    """Index keys of the last two dims for each kernel offset, row-major."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
    return [(..., slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    out_hw = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xb = _bl(x)
    if xb is not None and x.shape[0] > 1:
        return _max_pool2d_bl(xb, kernel_size, stride, padding, dilation, out_hw)
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation, out_hw,
                   _lowest(x.dtype))
    c, n = xp.shape[:2]
    out = _output((c, n) + out_hw, x.dtype)
    keys = _windows(kernel_size, stride, dilation, out_hw)

    def work(cs, ns):
        src, dst = xp[cs, ns], out[cs, ns]
        dst[...] = src[keys[0]]
        for key in keys[1:]:
            np.maximum(dst, src[key], out=dst)

    _split(work, c, n, x.size)
    return out.transpose(1, 0, 2, 3)


def _max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
    out_hw = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x, kernel_size, stride, padding, dilation, out_hw, _lowest(x.dtype))
    keys = _windows(kernel_size, stride, dilation, out_hw)
    k = np.stack([xp[key] for key in keys], axis=2).argmax(axis=2)
    kw = kernel_size[1]
    rows = (np.arange(out_hw[0]) * stride[0] - padding[0])[:, None]
    cols = np.arange(out_hw[1]) * stride[1] - padding[1]
    return ((rows + k // kw * dilation[0]) * x.shape[3] + cols + k % kw * dilation[1]).astype(
        np.int64)


def _max_pool2d_grad_input(x, out, g, kernel_size, stride, padding, dilation, ceil_mode):
    """Each window's gradient goes to its first maximum (PyTorch's choice on ties)."""
    h, w = x.shape[2:]
    out_hw = out.shape[2:]
    fast = _max_pool2d_grad_bl(x, out, g, kernel_size, stride, padding, dilation)
    if fast is not None:
        return fast
    fast = _max_pool2d_grad_tiled(x, out, g, kernel_size, stride, padding, dilation)
    if fast is not None:
        return fast
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation, out_hw,
                   _lowest(x.dtype))
    ot, gt = out.transpose(1, 0, 2, 3), g.transpose(1, 0, 2, 3)
    nan = ot.dtype.kind == "f" and bool(np.isnan(ot).any())
    disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))
    tiled = all((k == 1 or d == 1) and s == d * (k - 1) + 1 and o * s == n for o, k, s, d, n
                in zip(out_hw, kernel_size, stride, dilation, xp.shape[2:]))  # xp covered once
    gxp = _output(xp.shape, g.dtype, zero=not tiled)
    keys = _windows(kernel_size, stride, dilation, out_hw)

    def work(cs, ns):
        src, o, gs, dst = xp[cs, ns], ot[cs, ns], gt[cs, ns], gxp[cs, ns]
        taken = None
        for idx, key in enumerate(keys):
            hit = np.equal(src[key], o)
            if nan:
                hit |= np.isnan(src[key])
            first = hit if taken is None else np.greater(hit, taken)  # hit, not yet taken
            if idx < len(keys) - 1:
                taken = hit if taken is None else np.logical_or(taken, hit, out=taken)
            if disjoint:
                np.multiply(gs, first, out=dst[key])
            else:
                dst[key] += gs * first

    _split(work, xp.shape[0], xp.shape[1], x.size)
    ph, pw = padding
    return gxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def _max_pool2d_bl(xb, kernel_size, stride, padding, dilation, out_hw):
    """Max pooling of a batch-last input (C, H, W, N) (see ``_conv``): each window offset is a
    strided slice of whole N-element rows, the result batch-last too."""
    c, h, w, n = xb.shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
    hp = max(h + 2 * padding[0], (ho - 1) * sh + dh * (kh - 1) + 1)
    wp = max(w + 2 * padding[1], (wo - 1) * sw + dw * (kw - 1) + 1)
    if (hp, wp) != (h, w):
        xp = np.full((c, hp, wp, n), _lowest(xb.dtype), xb.dtype)
        xp[:, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = xb
    else:
        xp = xb
    out = _output((c, ho, wo, n), xb.dtype)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            src = xp[:, rows, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            if i == 0 and j == 0:
                out[...] = src
            else:
                np.maximum(out, src, out=out)
    return out.transpose(3, 0, 1, 2)


def _max_pool2d_grad_bl(x, out, g, kernel_size, stride, padding, dilation):
    """The gradient of a batch-last input whose windows tile it (kernel == stride, no padding
    or dilation): per window offset one comparison with the maxima, the first hit kept (PyTorch
    picks a window's first maximum), and one product written to that offset's strided rows; no
    scatter. None where that does not apply (or a maximum is NaN)."""
    xb = _bl(x)
    (kh, kw), (ho, wo) = kernel_size, out.shape[2:]
    n, c, h, w = x.shape
    if (xb is None or n < 2 or tuple(stride) != (kh, kw) or any(padding)
            or tuple(dilation) != (1, 1) or (ho * kh, wo * kw) != (h, w)):
        return None
    ob = _as_bl(out)
    if ob.dtype.kind == "f" and bool(np.isnan(ob).any()):
        return None
    gb = _as_bl(g)
    v = xb.reshape(c, ho, kh, wo, kw, n)
    gx = _output((c, h, w, n), np.result_type(g, x))
    gv = gx.reshape(v.shape)
    hit = _scratch("pool_hit", ob.shape, np.bool_)
    taken = _scratch("pool_taken", ob.shape, np.bool_)
    last = kh * kw - 1
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        if k == 0:
            first = np.equal(v[:, :, i, :, j], ob, out=taken)
        elif k == last:  # no NaN: a window that had no maximum yet has it here
            first = np.logical_not(taken, out=hit)
        else:
            np.equal(v[:, :, i, :, j], ob, out=hit)
            first = np.greater(hit, taken, out=hit)  # a hit not taken before
            np.logical_or(taken, first, out=taken)
        np.multiply(gb, first, out=gv[:, :, i, :, j])
    return gx.transpose(3, 0, 1, 2)


def _max_pool2d_grad_tiled(x, out, g, kernel_size, stride, padding, dilation):
    """The common case, windows that tile the input (kernel == stride, no padding or dilation),
    where every window has one maximum: then the windows are axes of a reshaped view, and the
    gradient is one broadcast comparison and one product. None where that does not apply (or
    a window holds a tie or a NaN; the general path then picks the first maximum)."""
    (kh, kw), (ho, wo) = kernel_size, out.shape[2:]
    n, c, h, w = x.shape
    if (tuple(stride) != (kh, kw) or any(padding) or tuple(dilation) != (1, 1)
            or (ho * kh, wo * kw) != (h, w) or x.dtype.kind != "f"):
        return None
    # Work in the order the input is stored in (NCHW, or the conv kernels' channel-major).
    order = (1, 0, 2, 3) if not x.flags.c_contiguous and x.transpose(
        1, 0, 2, 3).flags.c_contiguous else (0, 1, 2, 3)
    xs = np.ascontiguousarray(x.transpose(order))
    lead = xs.shape[0] * xs.shape[1] * ho

    def up(a):  # (.., Ho, Wo) -> each value repeated over its window, as (lead * kh, W)
        a = np.ascontiguousarray(a.transpose(order)).reshape(-1)
        return np.repeat(np.repeat(a, kw).reshape(lead, w), kh, axis=0)

    # Copies with the windows spelled out beat broadcasting over the short window axes 3x.
    ot = out.transpose(order)
    if bool(np.isnan(ot).any()):
        return None
    hit = np.equal(xs.reshape(lead * kh, w), up(out))
    if np.count_nonzero(hit) != lead * wo:  # ties (all-zero windows after a ReLU)
        hit = _first_hits(hit.reshape(-1), kh, kw, w).reshape(hit.shape)
    gx = _output(xs.shape, np.result_type(g, x))
    np.multiply(hit, up(g), out=gx.reshape(lead * kh, w))
    return gx.transpose(order)


def _shift_and(a, s: int, mask, out):
    """``out = (a moved s places along its flat axis, False-filled) & mask``."""
    if s > 0:
        np.logical_and(a[:-s], mask[s:], out=out[s:])
        out[:s] = False
    else:
        np.logical_and(a[-s:], mask[:s], out=out[:s])
        out[s:] = False
    return out


@functools.lru_cache(maxsize=8)
def _window_masks(size: int, kh: int, kw: int, w: int) -> tuple:
    """Flat masks over windows laid out (lead, kh, Wo, kw): for s = 1 .. kw-1, "j >= s" and
    "j < kw - s" (j the column in the window); for t = 1 .. kh-1, "i >= t" (i the row)."""
    j = np.arange(w) % kw
    i = np.arange(kh)[:, None] + np.zeros(w, int)
    return ([np.tile(j >= s, size // w) for s in range(1, kw)],
            [np.tile(j < kw - s, size // w) for s in range(1, kw)],
            [np.tile((i >= t).reshape(-1), size // (kh * w)) for t in range(1, kh)])


def _first_hits(hit, kh: int, kw: int, w: int):
    """Of the maxima ``hit`` (flat, windows laid out (lead, kh, Wo, kw)), keep each window's
    first in row-major order, with whole-array shifts and masks: no loop over the short window
    axes (whose inner loops of 2-3 elements are what makes NumPy slow here). Blocks of whole
    window rows (64K elements) keep the cached masks small."""
    period = kh * w
    block = max(1, (1 << 16) // period) * period
    out = np.empty_like(hit)
    for a in range(0, hit.size, block):
        part = hit[a:a + block]
        masks = _window_masks(block, kh, kw, w)
        after, before, below = ([m[:part.size] for m in ms] for ms in masks)
        left, tmp = np.zeros_like(part), np.empty_like(part)
        row = part.copy()  # any hit in this window row
        for s in range(1, kw):
            left |= _shift_and(part, s, after[s - 1], tmp)
            row |= _shift_and(part, -s, before[s - 1], tmp)
        row |= left
        above = np.zeros_like(part)
        for t in range(1, kh):
            above |= _shift_and(row, t * w, below[t - 1], tmp)
        left |= above
        np.greater(part, left, out=out[a:a + block])  # a hit and not after another
    return out


def _avg_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override, dtype):
    from corefw.ops.nn_conv import pool_divisor

    return pool_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override).astype(dtype)


def _avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):

    out_hw = _pool_geometry(x, kernel_size, stride, padding, (1, 1), ceil_mode)
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, (1, 1), out_hw, 0)
    c, n = xp.shape[:2]
    out = _output((c, n) + out_hw, x.dtype)
    keys = _windows(kernel_size, stride, (1, 1), out_hw)
    div = _avg_divisor(x.shape[2:], out_hw, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, out.dtype)

    def work(cs, ns):
        src, dst = xp[cs, ns], out[cs, ns]
        dst[...] = src[keys[0]]
        for key in keys[1:]:
            dst += src[key]
        dst /= div

    _split(work, c, n, x.size)
    return out.transpose(1, 0, 2, 3)


def _avg_pool2d_grad_input(g, input_size, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override):

    n, c, ho, wo = g.shape
    gd = g.transpose(1, 0, 2, 3) / _avg_divisor(input_size, (ho, wo), kernel_size, stride,
                                                padding, ceil_mode, count_include_pad,
                                                divisor_override, g.dtype)
    need = [(o - 1) * s + k for o, k, s in zip((ho, wo), kernel_size, stride)]
    hp, wp = (max(need[0], input_size[0] + 2 * padding[0]),
              max(need[1], input_size[1] + 2 * padding[1]))
    gxp = _output((c, n, hp, wp), gd.dtype, zero=True)
    keys = _windows(kernel_size, stride, (1, 1), (ho, wo))

    def work(cs, ns):
        src, dst = gd[cs, ns], gxp[cs, ns]
        for key in keys:
            dst[key] += src

    _split(work, c, n, gxp.size)
    (ph, pw), (h, w) = padding, input_size
    return gxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def pool_kernels() -> dict:
    return {"max_pool2d": _max_pool2d, "max_pool2d_indices": _max_pool2d_indices,
            "max_pool2d_grad_input": _max_pool2d_grad_input, "avg_pool2d": _avg_pool2d,
            "avg_pool2d_grad_input": _avg_pool2d_grad_input}
