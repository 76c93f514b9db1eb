"""3-D convolutions and pooling, adaptive max pooling and power-average pooling, with
PyTorch's signatures: conv3d, conv_transpose3d, max_pool3d, avg_pool3d, adaptive_avg_pool3d,
adaptive_max_pool1d/2d/3d, lp_pool1d/2d/3d.

All are compositions of the 2-D ops: a 3-D convolution is a sum over the depth taps of 2-D
convolutions of depth slices; 3-D pooling is separable (2-D pooling over (H, W), then a
``(kd, 1)`` pooling over depth), and so is adaptive max pooling (one window max per axis).
"""

from __future__ import annotations

import numpy as np

import corefw

from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.nn_conv import conv_output_size
from ._activation import pad, relu
from ._conv import _check, _fmt, _padding, conv1d, conv2d, conv_transpose2d, conv_tuple
from ._pool import _adaptive_matrix, _batched, adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = ["adaptive_avg_pool3d", "conv_tbc", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_max_pool3d", "avg_pool3d", "conv3d", "conv_transpose3d", "lp_pool1d",
           "lp_pool2d", "lp_pool3d", "max_pool3d"]


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """3-D cross-correlation: ``input`` (N, C, D, H, W) or (C, D, H, W), ``weight``
    (O, C / groups, kd, kh, kw); ``padding`` an int, a triple, ``'valid'`` or ``'same'``."""
    fn = "conv3d"
    _check(fn, input, weight, bias, groups, 3)
    st = conv_tuple(stride, 3, "stride", fn)
    dl = conv_tuple(dilation, 3, "dilation", fn)
    pads = _padding(padding, weight.shape[2:], dl, st, fn)
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    out = [conv_output_size(n, k, s, lo, hi, d) for n, k, s, (lo, hi), d in
           zip(x.shape[2:], weight.shape[2:], st, pads, dl)]
    if min(out) < 1 or min(st) < 1 or min(dl) < 1:
        raise ShapeError(f"{fn}: input of shape {_fmt(input.shape)} with kernel "
                         f"{tuple(weight.shape[2:])}, stride {st}, padding {pads}, dilation "
                         f"{dl} gives an output of size {tuple(out)}; the (padded) input must "
                         f"be at least as large as the dilated kernel")
    xp = pad(x, [p for pair in reversed(pads) for p in pair])
    n, c = x.shape[:2]
    do = out[0]
    acc = None
    for i in range(weight.shape[2]):
        start = i * dl[0]
        sl = xp[:, :, start:start + st[0] * (do - 1) + 1:st[0]]
        sl = sl.permute(0, 2, 1, 3, 4).reshape(n * do, c, *xp.shape[3:])
        y = conv2d(sl, weight[:, :, i], None, st[1:], 0, dl[1:], groups)
        acc = y if acc is None else acc + y
    y = acc.reshape(n, do, *acc.shape[1:]).permute(0, 2, 1, 3, 4)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv_tbc(input, weight, bias, pad: int = 0):
    """1-D convolution in time-batch-channel layout: ``input`` (T, B, C_in), ``weight``
    (k, C_in, C_out), ``bias`` (C_out,); returns (T + 2 * pad - k + 1, B, C_out)."""
    if not isinstance(input, Tensor) or input.ndim != 3 or not isinstance(weight, Tensor) or \
            weight.ndim != 3 or weight.shape[1] != input.shape[2]:
        raise ShapeError(f"conv_tbc: expected input (T, B, C_in) and weight (k, C_in, C_out), "
                         f"got {_fmt(getattr(input, 'shape', ()))} and "
                         f"{_fmt(getattr(weight, 'shape', ()))}")
    y = conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, 1, int(pad))
    return y.permute(2, 0, 1)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """3-D transposed convolution: ``weight`` (C_in, C_out / groups, kd, kh, kw); output size
    ``(D - 1) * sd - 2 * pd + dd * (kd - 1) + output_padding + 1`` per dim."""
    fn = "conv_transpose3d"
    _check(fn, input, weight, bias, groups, 3, transposed=True)
    st = conv_tuple(stride, 3, "stride", fn)
    dl = conv_tuple(dilation, 3, "dilation", fn)
    pd = conv_tuple(padding, 3, "padding", fn)
    op = conv_tuple(output_padding, 3, "output_padding", fn)
    for o, s, d in zip(op, st, dl):
        if not 0 <= o < max(s, d):
            raise ShapeError(f"{fn}: output_padding {op} must be smaller than either stride "
                             f"{st} or dilation {dl}")
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    n, c, depth = x.shape[:3]
    size = [(m - 1) * s - 2 * p + d * (k - 1) + o + 1 for m, s, p, d, k, o in
            zip(x.shape[2:], st, pd, dl, weight.shape[2:], op)]
    if min(size) < 1:
        raise ShapeError(f"{fn}: input of shape {_fmt(input.shape)} gives an output of size "
                         f"{tuple(size)}; reduce the padding")
    planes = x.permute(0, 2, 1, 3, 4).reshape(n * depth, c, *x.shape[3:])
    full = (depth - 1) * st[0] + dl[0] * (weight.shape[2] - 1) + 1
    acc = None
    for i in range(weight.shape[2]):
        z = conv_transpose2d(planes, weight[:, :, i], None, st[1:], pd[1:], op[1:], groups,
                             dl[1:])
        z = z.reshape(n, depth, *z.shape[1:]).permute(0, 2, 1, 3, 4)  # N, O, D, Ho, Wo
        if st[0] > 1:  # spread the planes stride apart along depth
            zero = z * 0.0
            z = z.unsqueeze(3).expand(*z.shape[:3], st[0], *z.shape[3:])
            z = (z * _first_mask(st[0], zero)).reshape(*zero.shape[:2], depth * st[0],
                                                       *zero.shape[3:])
            z = z[:, :, :(depth - 1) * st[0] + 1]
        lo = i * dl[0]
        z = pad(z, (0, 0, 0, 0, lo, full - lo - z.shape[2]))
        acc = z if acc is None else acc + z
    y = pad(acc, (0, 0, 0, 0, -pd[0], -pd[0] + op[0]))
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


def _first_mask(s: int, like):
    """(s, 1, 1) mask [1, 0, ..., 0] in ``like``'s dtype and device."""
    m = np.zeros((s, 1, 1))
    m[0] = 1.0
    return corefw.tensor(m, dtype=like.dtype, device=like.device)


def _triple(fn, v, name):
    return conv_tuple(v, 3, name, fn)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W); implicit ``-inf`` padding,
    ``stride`` defaults to ``kernel_size``; ``return_indices`` also returns the flat
    ``(d * H + h) * W + w`` index of each window's first maximum."""
    fn = "max_pool3d"
    unbatched = _batched(fn, input, 3)
    x = input.unsqueeze(0) if unbatched else input
    ks = _triple(fn, kernel_size, "kernel_size")
    st = ks if stride is None or stride in ((), []) else _triple(fn, stride, "stride")
    pd = _triple(fn, padding, "padding")
    dl = _triple(fn, dilation, "dilation")
    n, c, d, h, w = x.shape
    y = max_pool2d(x.reshape(n, c * d, h, w), ks[1:], st[1:], pd[1:], dl[1:], ceil_mode)
    ho, wo = y.shape[2:]
    y = max_pool2d(y.reshape(n, c, d, ho * wo), (ks[0], 1), (st[0], 1), (pd[0], 0),
                   (dl[0], 1), ceil_mode)
    y = y.reshape(n, c, -1, ho, wo)
    if not return_indices:
        return y.squeeze(0) if unbatched else y
    idx = _max_pool3d_indices(x, ks, st, pd, dl, tuple(y.shape[2:]))
    return (y.squeeze(0), idx.squeeze(0)) if unbatched else (y, idx)


def _max_pool3d_indices(x, ks, st, pd, dl, out):
    """Flat ``(d * H + h) * W + w`` index of each window's first maximum (PyTorch's)."""
    lowest = float("-inf") if x.dtype.is_floating_point else int(np.iinfo(x.dtype.np).min)
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p)) for n, o, k, s, p, d in
             zip(x.shape[2:], out, ks, st, pd, dl)]
    pads = [v for i in (2, 1, 0) for v in (pd[i], pd[i] + extra[i])]
    xp = pad(x.detach(), pads, value=lowest)
    wins = []
    for a, b, e in np.ndindex(*ks):
        key = (slice(None), slice(None)) + tuple(
            slice(o * d, o * d + s * (m - 1) + 1, s) for o, d, s, m in
            zip((a, b, e), dl, st, out))
        wins.append(xp[key])
    k = corefw.stack(wins, 2).argmax(2)  # first maximum, in (a, b, e) row-major order
    pos = []
    for i, (div, mod) in enumerate(((ks[1] * ks[2], ks[0]), (ks[2], ks[1]), (1, ks[2]))):
        off = (k // div) % mod
        shape = [1, 1, 1, 1, 1]
        shape[2 + i] = out[i]
        base = corefw.arange(out[i], device=x.device).reshape(shape) * st[i] - pd[i]
        pos.append(base + off * dl[i])
    h, w = x.shape[3:]
    return (pos[0] * h + pos[1]) * w + pos[2]


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None):
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W), as PyTorch (the divisor is
    the product of the per-axis window sizes, padding counted unless
    ``count_include_pad=False``)."""
    fn = "avg_pool3d"
    unbatched = _batched(fn, input, 3)
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {input.dtype}")
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError(f"{fn}: divisor_override must be non-zero")
    x = input.unsqueeze(0) if unbatched else input
    ks = _triple(fn, kernel_size, "kernel_size")
    st = ks if stride is None or stride in ((), []) else _triple(fn, stride, "stride")
    pd = _triple(fn, padding, "padding")
    n, c, d, h, w = x.shape
    div = None if divisor_override is None else 1  # sums first, then one division
    y = avg_pool2d(x.reshape(n, c * d, h, w), ks[1:], st[1:], pd[1:], ceil_mode,
                   count_include_pad, div)
    ho, wo = y.shape[2:]
    y = avg_pool2d(y.reshape(n, c, d, ho * wo), (ks[0], 1), (st[0], 1), (pd[0], 0), ceil_mode,
                   count_include_pad, div)
    y = y.reshape(n, c, -1, ho, wo)
    if divisor_override is not None:
        y = y / float(divisor_override)
    return y.squeeze(0) if unbatched else y


def _sizes(fn, output_size, spatial):
    nd = len(spatial)
    size = (output_size,) * nd if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if len(size) != nd:
        raise ValueError(f"{fn}: output_size must be an int or a tuple of {nd}, got "
                         f"{output_size!r}")
    size = tuple(n if s is None else int(s) for s, n in zip(size, spatial))
    if min(size) < 1:
        raise ValueError(f"{fn}: output_size must be positive, got {size}")
    return size


def adaptive_avg_pool3d(input, output_size):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to ``output_size``, with PyTorch's
    windows ``[floor(i * n / o), ceil((i + 1) * n / o))`` along each dim."""
    fn = "adaptive_avg_pool3d"
    unbatched = _batched(fn, input, 3)
    x = input.unsqueeze(0) if unbatched else input
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {x.dtype}")
    n, c, d, h, w = x.shape
    do, ho, wo = _sizes(fn, output_size, (d, h, w))
    y = adaptive_avg_pool2d(x.reshape(n, c * d, h, w), (ho, wo)).reshape(n, c, d, ho * wo)
    if do != d:
        y = (_adaptive_matrix(d, do, y) @ y)
    y = y.reshape(n, c, do, ho, wo)
    return y.squeeze(0) if unbatched else y


def _window_max(x, dim, n_out):
    n = x.shape[dim]
    if n == n_out:
        return x
    parts = []
    for i in range(n_out):
        start, end = (i * n) // n_out, -((-(i + 1) * n) // n_out)
        key = (slice(None),) * dim + (slice(start, end),)
        parts.append(x[key].amax(dim, keepdim=True))
    return corefw.cat(parts, dim)


def _adaptive_max(fn, input, output_size, nd, return_indices):
    unbatched = _batched(fn, input, nd)
    x = input.unsqueeze(0) if unbatched else input
    size = _sizes(fn, output_size, tuple(x.shape[2:]))
    y = x
    for i, o in enumerate(size):
        y = _window_max(y, 2 + i, o)
    if not return_indices:
        return y.squeeze(0) if unbatched else y
    idx = _adaptive_indices(x.detach(), size)
    return (y.squeeze(0), idx.squeeze(0)) if unbatched else (y, idx)


def _adaptive_indices(x, size):
    """Flat (row-major over the spatial dims) index of each adaptive window's first maximum."""
    spatial = tuple(x.shape[2:])
    n, c = x.shape[:2]
    cells = []
    for cell in np.ndindex(*size):
        bounds = [((i * m) // o, -((-(i + 1) * m) // o)) for i, m, o in
                  zip(cell, spatial, size)]
        win = x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in bounds)]
        k = win.reshape(n, c, -1).argmax(-1)
        flat = k * 0
        for d, (a, b) in enumerate(bounds):  # unravel k in the window, ravel in the input
            inner = int(np.prod([e - s for s, e in bounds[d + 1:]]))
            flat = flat * spatial[d] + (k // inner) % (b - a) + a
        cells.append(flat)
    return corefw.stack(cells, -1).reshape(n, c, *size)


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, L) or (C, L) to length ``output_size`` (PyTorch's windows)."""
    return _adaptive_max("adaptive_max_pool1d", input, output_size, 1, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, H, W) or (C, H, W) to ``output_size`` (PyTorch's windows)."""
    return _adaptive_max("adaptive_max_pool2d", input, output_size, 2, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to ``output_size``."""
    return _adaptive_max("adaptive_max_pool3d", input, output_size, 3, return_indices)


def _lp(fn, input, norm_type, kernel_size, stride, ceil_mode, nd, pool):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: expected a corefw tensor, got {type(input).__name__}")
    ks = conv_tuple(kernel_size, nd, "kernel_size", fn)
    out = pool(input.pow(norm_type), ks, stride, 0, ceil_mode)
    size = 1
    for k in ks:
        size *= k
    return (out.sign() * relu(out.abs())).mul(size).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
    """Power-average pooling ``(sum over the window of x^p)^(1/p)`` over (N, C, L)."""
    from ._pool import avg_pool1d

    return _lp("lp_pool1d", input, norm_type, kernel_size, stride, ceil_mode, 1,
               lambda x, k, s, p, c: avg_pool1d(x, k[0], s, p, c))


def lp_pool2d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
    """Power-average pooling ``(sum over the window of x^p)^(1/p)`` over (N, C, H, W)."""
    return _lp("lp_pool2d", input, norm_type, kernel_size, stride, ceil_mode, 2, avg_pool2d)


def lp_pool3d(input, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
    """Power-average pooling over (N, C, D, H, W)."""
    return _lp("lp_pool3d", input, norm_type, kernel_size, stride, ceil_mode, 3, avg_pool3d)

