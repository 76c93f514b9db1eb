"""Convolution and pooling ops (2-D, NCHW): composites with decompositions and their own VJPs.

Every op here decomposes into primitives (``pad``, ``slice``, ``cat``, ``reshape``,
``permute``, ``matmul``, ``sum``, ``maximum``, ``index_put``, ``scatter_add`` ...), so a backend
with primitives only runs them; a backend may register a fused kernel for any of them (corefw-cpu
does: im2col + one GEMM). The gradients are ops too, each with a decomposition and a VJP, so
they run on every backend and can be differentiated again::

    conv2d(x, w, b)              -> y       vjp: conv2d_grad_input(g, w), conv2d_grad_weight(x, g)
    conv2d_grad_input(g, w)      -> gx      (the transposed convolution) vjp: conv2d, grad_weight
    conv2d_grad_weight(x, g)     -> gw      vjp: conv2d_grad_input, conv2d
    max_pool2d(x)                -> y       vjp: max_pool2d_grad_input(x, y, g)
    max_pool2d_grad_input(x, y, g) -> gx    vjp: gather of the incoming grad at the argmax
    max_pool2d_indices(x)        -> flat argmax index per window (int64, not differentiable)
    avg_pool2d(x)                -> y       vjp: avg_pool2d_grad_input(g)
    avg_pool2d_grad_input(g)     -> gx      vjp: avg_pool2d

Attribute conventions (already normalised by :mod:`corefw.nn.functional`): ``stride`` and
``dilation`` are ``(h, w)``; conv ``padding`` is ``((top, bottom), (left, right))``; pooling
``padding`` is ``(h, w)`` (symmetric, implicit -inf for max and zeros for average).
"""

from __future__ import annotations

import numpy as np

from .._call import apply
from .registry import declare

__all__ = ["conv_output_size", "pool_divisor", "pool_output_size"]


# -- geometry --------------------------------------------------------------------------------
def conv_output_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Output length of a convolution over ``n`` with kernel ``k``, stride ``s``, padding
    ``lo``/``hi`` and dilation ``d``."""
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def pool_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length: with ``ceil_mode`` the last window may run past the
    end, but it must start inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def pool_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override) -> np.ndarray:
    """The ``(Ho, Wo)`` float64 divisors of average pooling, as PyTorch computes them."""
    if divisor_override:
        return np.full(out_hw, float(divisor_override))
    axes = []
    for n, o, k, s, p in zip(in_hw, out_hw, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        size = end - start
        if not count_include_pad:
            size = np.minimum(end, n) - np.maximum(start, 0)
        axes.append(size.astype(np.float64))
    return np.outer(axes[0], axes[1])


def _windows(xp, kernel_size, stride, dilation, out_hw):
    """The ``kh*kw`` strided slices ``xp[:, :, i*dh::sh, j*dw::sw]`` of shape (N, C, Ho, Wo)."""
    from .indexing import basic_slice

    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
    out = []
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            out.append(basic_slice(xp, (slice(None), slice(None), rows,
                                        slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))))
    return out


def _scatter_windows(cols, padded_hw, kernel_size, stride, dilation):
    """Adjoint of :func:`_windows`: add each of the ``kh*kw`` (N, C, Ho, Wo) slices of
    ``cols`` (N, C, kh*kw, Ho, Wo) back into a zero (N, C, Hp, Wp) tensor."""
    from .._creation import zeros
    from .indexing import basic_slice, index_put

    n, c, _, ho, wo = cols.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    acc = zeros((n, c) + tuple(padded_hw), dtype=cols.dtype, device=cols.device)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            piece = basic_slice(cols, (slice(None), slice(None), i * kw + j))
            key = (slice(None), slice(None), rows, slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
            acc = index_put(acc, key, piece, accumulate=True)
    return acc


def _crop(x, top, left, hw):
    from .indexing import basic_slice

    return basic_slice(x, (slice(None), slice(None), slice(top, top + hw[0]),
                           slice(left, left + hw[1])))


# -- conv2d and its two gradients ------------------------------------------------------------
def _columns(x, kernel_size, stride, padding, dilation, out_hw, groups):
    """im2col: (N, G, Cg*kh*kw, Ho*Wo), the rows ordered (c, i, j) like the weight's."""
    from .shape import pad, reshape, stack

    (pt, pb), (pl, pr) = padding
    xp = pad(x, (pl, pr, pt, pb))
    cols = stack(_windows(xp, kernel_size, stride, dilation, out_hw), 2)  # N, C, kk, Ho, Wo
    n, c = x.shape[:2]
    kk = kernel_size[0] * kernel_size[1]
    return reshape(cols, (n, groups, c // groups * kk, out_hw[0] * out_hw[1]))


def _conv2d_decomp(x, w, b, stride, padding, dilation, groups):
    from .shape import reshape

    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    out_hw = (conv_output_size(h, kh, stride[0], *padding[0], dilation[0]),
              conv_output_size(wd, kw, stride[1], *padding[1], dilation[1]))
    cols = _columns(x, (kh, kw), stride, padding, dilation, out_hw, groups)
    y = reshape(reshape(w, (groups, o // groups, -1)) @ cols, (n, o) + out_hw)
    return y if b is None else y + reshape(b, (1, o, 1, 1))


def _conv2d_grad_input_decomp(g, w, input_size, stride, padding, dilation, groups):
    from .shape import reshape, transpose

    n, o, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    wt = transpose(reshape(w, (groups, o // groups, -1)), 1, 2)  # G, Cg*kk, Og
    cols = wt @ reshape(g, (n, groups, o // groups, ho * wo))  # N, G, Cg*kk, L
    cols = reshape(cols, (n, cg * groups, kh * kw, ho, wo))
    (pt, pb), (pl, pr) = padding
    padded = (input_size[0] + pt + pb, input_size[1] + pl + pr)
    acc = _scatter_windows(cols, padded, (kh, kw), stride, dilation)
    return _crop(acc, pt, pl, input_size)


def _conv2d_grad_weight_decomp(x, g, kernel_size, stride, padding, dilation, groups):
    from .reduction import sum as rsum
    from .shape import reshape, transpose

    n, o, ho, wo = g.shape
    cols = _columns(x, kernel_size, stride, padding, dilation, (ho, wo), groups)
    gm = reshape(g, (n, groups, o // groups, ho * wo))
    gw = rsum(gm @ transpose(cols, 2, 3), 0)  # G, Og, Cg*kk
    return reshape(gw, (o, x.shape[1] // groups) + tuple(kernel_size))


def _geometry(attrs):
    return {k: attrs[k] for k in ("stride", "padding", "dilation", "groups")}


def _conv2d_vjp(ctx, g):
    x, w, b = ctx.inputs
    geo = _geometry(ctx.attrs)
    gx = gw = gb = None
    if x._req:
        gx = apply(CONV2D_GRAD_INPUT, (g, w), {"input_size": tuple(x.shape[2:]), **geo})
    if w._req:
        gw = apply(CONV2D_GRAD_WEIGHT, (x, g), {"kernel_size": tuple(w.shape[2:]), **geo})
    if b is not None and b._req:
        gb = g.sum((0, 2, 3))
    return gx, gw, gb


def _fit(y, hw):
    """Crop a conv2d result to ``hw``: with output_padding >= stride (allowed when the dilation
    is larger) a transposed convolution's input is shorter than conv2d's output."""
    return y if tuple(y.shape[2:]) == tuple(hw) else _crop(y, 0, 0, hw)


def _conv2d_grad_input_vjp(ctx, gg):
    # y = A_w^T g is bilinear in (g, w): <gg, y> = <conv2d(gg, w), g> = <grad_weight(gg, g), w>
    g, w = ctx.inputs
    geo = _geometry(ctx.attrs)
    dg = _fit(apply(CONV2D, (gg, w, None), geo), g.shape[2:]) if g._req else None
    dw = apply(CONV2D_GRAD_WEIGHT, (gg, g), {"kernel_size": tuple(w.shape[2:]), **geo}) \
        if w._req else None
    return dg, dw


def _conv2d_grad_weight_vjp(ctx, gg):
    # <gg, grad_weight(x, g)> = <grad_input(g, gg), x> = <conv2d(x, gg), g>
    x, g = ctx.inputs
    geo = _geometry(ctx.attrs)
    dx = apply(CONV2D_GRAD_INPUT, (g, gg), {"input_size": tuple(x.shape[2:]), **geo}) \
        if x._req else None
    dg = _fit(apply(CONV2D, (x, gg, None), geo), g.shape[2:]) if g._req else None
    return dx, dg


CONV2D = declare("conv2d", vjp=_conv2d_vjp, decomposition=_conv2d_decomp,
                     doc="2-D cross-correlation (N, C, H, W) x (O, C/groups, kh, kw) + bias")
CONV2D_GRAD_INPUT = declare(
    "conv2d_grad_input", vjp=_conv2d_grad_input_vjp, decomposition=_conv2d_grad_input_decomp,
    doc="gradient of conv2d with respect to its input (= the transposed convolution)")
CONV2D_GRAD_WEIGHT = declare(
    "conv2d_grad_weight", vjp=_conv2d_grad_weight_vjp,
    decomposition=_conv2d_grad_weight_decomp, doc="gradient of conv2d w.r.t. its weight")


# -- max pooling -----------------------------------------------------------------------------
def _pool_padded(x, kernel_size, stride, padding, dilation, out_hw, value):
    """Pad by ``padding`` plus whatever ceil_mode's last window needs past the end."""
    from .shape import pad

    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p)) for n, o, k, s, p, d in
             zip(x.shape[2:], out_hw, kernel_size, stride, padding, dilation)]
    (ph, pw) = padding
    return pad(x, (pw, pw + extra[1], ph, ph + extra[0]), value=value), extra


def _pool_out_hw(x, kernel_size, stride, padding, dilation, ceil_mode):
    return tuple(pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                 zip(x.shape[2:], kernel_size, stride, padding, dilation))


def _lowest(dtype):
    return float("-inf") if dtype.is_floating_point else int(np.iinfo(dtype.np).min)


def _max_pool2d_decomp(x, kernel_size, stride, padding, dilation, ceil_mode):
    from .elementwise import maximum

    out_hw = _pool_out_hw(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp, _ = _pool_padded(x, kernel_size, stride, padding, dilation, out_hw, _lowest(x.dtype))
    wins = _windows(xp, kernel_size, stride, dilation, out_hw)
    out = wins[0]
    for win in wins[1:]:
        out = maximum(out, win)
    return out


def _max_pool2d_indices_decomp(x, kernel_size, stride, padding, dilation, ceil_mode):
    from .._creation import arange
    from .reduction import argmax
    from .shape import reshape, stack

    out_hw = _pool_out_hw(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp, _ = _pool_padded(x, kernel_size, stride, padding, dilation, out_hw, _lowest(x.dtype))
    k = argmax(stack(_windows(xp, kernel_size, stride, dilation, out_hw), 2), 2)  # first max
    kw = kernel_size[1]
    rows = reshape(arange(out_hw[0], device=x.device) * stride[0] - padding[0], (-1, 1))
    cols = reshape(arange(out_hw[1], device=x.device) * stride[1] - padding[1], (1, -1))
    h = rows + (k // kw) * dilation[0]
    w = cols + (k % kw) * dilation[1]
    return h * x.shape[3] + w


def _max_pool2d_grad_input_decomp(x, out, g, kernel_size, stride, padding, dilation,
                                  ceil_mode):
    from .._creation import zeros
    from .indexing import scatter_add
    from .shape import reshape

    n, c, h, w = x.shape
    idx = apply(MAX_POOL2D_INDICES, (x,), {"kernel_size": kernel_size, "stride": stride,
                                            "padding": padding, "dilation": dilation,
                                            "ceil_mode": ceil_mode})
    acc = zeros((n, c, h * w), dtype=g.dtype, device=g.device)
    cells = g.shape[2] * g.shape[3]
    acc = scatter_add(acc, 2, reshape(idx, (n, c, cells)), reshape(g, (n, c, cells)))
    return reshape(acc, (n, c, h, w))


def _max_pool2d_vjp(ctx, g):
    return (apply(MAX_POOL2D_GRAD_INPUT, (ctx.inputs[0], ctx.output, g), ctx.attrs),)


def _max_pool2d_grad_input_vjp(ctx, gg):
    from .indexing import gather
    from .shape import reshape

    x, out, g = ctx.inputs
    n, c = x.shape[:2]
    idx = apply(MAX_POOL2D_INDICES, (x,), ctx.attrs)
    cells = g.shape[2] * g.shape[3]
    picked = gather(reshape(gg, (n, c, x.shape[2] * x.shape[3])), 2,
                    reshape(idx, (n, c, cells)))
    return None, None, reshape(picked, g.shape)


MAX_POOL2D = declare("max_pool2d", vjp=_max_pool2d_vjp, decomposition=_max_pool2d_decomp,
                         saves=(0, "output"), doc="2-D max pooling (NCHW)")
MAX_POOL2D_INDICES = declare(
    "max_pool2d_indices", decomposition=_max_pool2d_indices_decomp, differentiable=False,
    doc="flat index (h * W + w) of each window's first maximum, as PyTorch's return_indices")
MAX_POOL2D_GRAD_INPUT = declare(
    "max_pool2d_grad_input", vjp=_max_pool2d_grad_input_vjp,
    decomposition=_max_pool2d_grad_input_decomp,
    doc="gradient of max_pool2d: each window's grad goes to its first maximum")


# -- average pooling -------------------------------------------------------------------------
def _divisor_tensor(like, in_hw, out_hw, attrs):
    from .._creation import tensor

    div = pool_divisor(in_hw, out_hw, attrs["kernel_size"], attrs["stride"],
                       attrs["padding"], attrs["ceil_mode"], attrs["count_include_pad"],
                       attrs["divisor_override"])
    return tensor(div, dtype=like.dtype, device=like.device)


def _avg_pool2d_decomp(x, **attrs):
    from .reduction import sum as rsum
    from .shape import stack

    ks, st, pd = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    out_hw = _pool_out_hw(x, ks, st, pd, (1, 1), attrs["ceil_mode"])
    xp, _ = _pool_padded(x, ks, st, pd, (1, 1), out_hw, 0.0)
    total = rsum(stack(_windows(xp, ks, st, (1, 1), out_hw), 2), 2)
    return total / _divisor_tensor(x, x.shape[2:], out_hw, attrs)


def _avg_pool2d_grad_input_decomp(g, input_size, **attrs):
    from .shape import expand, reshape

    ks, st, pd = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    n, c, ho, wo = g.shape
    gd = g / _divisor_tensor(g, input_size, (ho, wo), attrs)
    cols = expand(reshape(gd, (n, c, 1, ho, wo)), (n, c, ks[0] * ks[1], ho, wo))
    extra = [max(0, (o - 1) * s + k - (i + 2 * p)) for i, o, k, s, p in
             zip(input_size, (ho, wo), ks, st, pd)]
    padded = (input_size[0] + 2 * pd[0] + extra[0], input_size[1] + 2 * pd[1] + extra[1])
    acc = _scatter_windows(cols, padded, ks, st, (1, 1))
    return _crop(acc, pd[0], pd[1], input_size)


def _avg_pool2d_vjp(ctx, g):
    x = ctx.inputs[0]
    return (apply(AVG_POOL2D_GRAD_INPUT, (g,), {"input_size": tuple(x.shape[2:]),
                                                  **ctx.attrs}),)


def _avg_pool2d_grad_input_vjp(ctx, gg):
    attrs = {k: v for k, v in ctx.attrs.items() if k != "input_size"}
    return (apply(AVG_POOL2D, (gg,), attrs),)


AVG_POOL2D = declare("avg_pool2d", vjp=_avg_pool2d_vjp, decomposition=_avg_pool2d_decomp,
                         saves=(), doc="2-D average pooling (NCHW)")
AVG_POOL2D_GRAD_INPUT = declare(
    "avg_pool2d_grad_input", vjp=_avg_pool2d_grad_input_vjp, saves=(),
    decomposition=_avg_pool2d_grad_input_decomp, doc="gradient of avg_pool2d (its adjoint)")
