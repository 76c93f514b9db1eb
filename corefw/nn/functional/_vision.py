"""Resampling and rearranging with PyTorch's signatures: interpolate (upsample), pixel_shuffle,
pixel_unshuffle, channel_shuffle, unfold (im2col) and fold (col2im).

``interpolate`` is separable: along each spatial dim the output is a weighted sum of
``index_select`` gathers of the input, with PyTorch's source-index and weight formulas
(``area_pixel_compute_source_index``, the cubic convolution with ``A = -0.75``), computed in
the input's precision. ``unfold`` is a grouped convolution with one-hot kernels and ``fold`` is
its adjoint, the transposed convolution, so both run on the fused conv kernels.
"""

from __future__ import annotations

import math

import numpy as np

import corefw

from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ._activation import pad
from ._conv import _fmt, conv2d, conv_transpose2d, conv_tuple
from ._pool import adaptive_avg_pool1d, adaptive_avg_pool2d
from ._pool_nd import adaptive_avg_pool3d

__all__ = ["channel_shuffle", "fold", "interpolate", "pixel_shuffle", "pixel_unshuffle",
           "unfold", "upsample", "upsample_bilinear", "upsample_nearest"]

_LINEAR = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_MODES = ("nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic", "trilinear")


def _output_sizes(input, size, scale_factor, recompute_scale_factor):
    """(output sizes, scales passed to the kernels: None or 1 / scale_factor per dim)."""
    nd = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size or scale_factor must be given")
    if size is not None:
        sizes = (size,) * nd if isinstance(size, int) else tuple(int(s) for s in size)
        if len(sizes) != nd:
            raise ValueError(f"interpolate: input of shape {_fmt(input.shape)} has {nd} "
                             f"spatial dims, but size has {len(sizes)}: {size!r}; give one "
                             f"size per spatial dim")
        if min(sizes, default=1) < 1:
            raise ValueError(f"interpolate: output sizes must be positive, got {sizes}")
        return sizes, (None,) * nd
    scales = ((float(scale_factor),) * nd if isinstance(scale_factor, (int, float))
              else tuple(float(s) for s in scale_factor))
    if len(scales) != nd:
        raise ValueError(f"interpolate: input of shape {_fmt(input.shape)} has {nd} spatial "
                         f"dims, but scale_factor has {len(scales)}: {scale_factor!r}")
    sizes = tuple(math.floor(float(n) * s) for n, s in zip(input.shape[2:], scales))
    if min(sizes, default=1) < 1:
        raise ValueError(f"interpolate: scale_factor {scales} gives an empty output for input "
                         f"{_fmt(input.shape)}")
    if recompute_scale_factor:
        return sizes, (None,) * nd
    return sizes, scales


def _nearest(n_in, n_out, scale, exact, ft):
    """PyTorch's nearest source indices (float32 arithmetic, as its kernels; equal and
    doubled sizes take its exact fast paths whatever the scale)."""
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) >> 1
    s = np.float32(n_in / n_out if scale is None else 1.0 / scale)
    dst = np.arange(n_out, dtype=np.float32)
    if exact:
        dst = dst + np.float32(0.5)
    return np.minimum(np.floor(dst * s).astype(np.int64), n_in - 1)


def _source(n_in, n_out, scale, align_corners, cubic, ft):
    """``area_pixel_compute_source_index`` in the opmath type ``ft``."""
    if align_corners:
        s = ft((n_in - 1) / (n_out - 1)) if n_out > 1 else ft(0)
    else:
        s = ft(n_in / n_out if scale is None else 1.0 / scale)
    dst = np.arange(n_out).astype(ft)
    if align_corners:
        return s * dst
    src = s * (dst + ft(0.5)) - ft(0.5)
    return src if cubic else np.maximum(src, ft(0))


def _taps(mode, n_in, n_out, scale, align_corners, ft):
    """[(indices, weights)] of one dim: the output is ``sum_k w_k * x[idx_k]``."""
    if mode in ("nearest", "nearest-exact"):
        return [(_nearest(n_in, n_out, scale, mode == "nearest-exact", ft), None)]
    if mode == "bicubic":
        real = _source(n_in, n_out, scale, align_corners, True, ft)
        idx = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
        t = np.clip(real - idx.astype(ft), ft(0), ft(1))
        a = ft(-0.75)

        def near(x):  # |x| <= 1
            return ((a + 2) * x - (a + 3)) * x * x + 1

        def far(x):  # 1 < |x| < 2
            return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

        ws = (far(t + 1), near(t), near(1 - t), far(2 - t))
        return [(np.clip(idx - 1 + k, 0, n_in - 1), w.astype(ft)) for k, w in enumerate(ws)]
    if n_in == n_out and not align_corners or n_in == n_out == 1:
        return [(np.arange(n_in), None)]
    real = _source(n_in, n_out, scale, align_corners, False, ft)
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    lam1 = np.clip(real - i0.astype(ft), ft(0), ft(1)).astype(ft)
    i1 = i0 + (i0 < n_in - 1)
    return [(i0, (ft(1) - lam1).astype(ft)), (i1, lam1)]


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False):
    """Resample ``(N, C, *spatial)`` to ``size`` or by ``scale_factor``, as
    ``torch.nn.functional.interpolate``.

    Modes: ``nearest`` (3-5-D), ``nearest-exact``, ``linear`` (3-D), ``bilinear`` and
    ``bicubic`` (4-D), ``trilinear`` (5-D), ``area`` (adaptive average pooling).
    ``align_corners`` (linear modes only) maps the corner pixels' centres onto each other;
    otherwise a scale_factor given is used as is in the index formula unless
    ``recompute_scale_factor=True``. ``antialias=True`` is not supported.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: expected a corefw tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if input.ndim not in (3, 4, 5):
        raise ShapeError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), "
                         f"got shape {_fmt(input.shape)}")
    if mode in _LINEAR and input.ndim != _LINEAR[mode]:
        raise ShapeError(f"interpolate: mode {mode!r} needs a {_LINEAR[mode]}-D input, got "
                         f"shape {_fmt(input.shape)}; use "
                         f"{[m for m, n in _LINEAR.items() if n == input.ndim]} instead")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError("interpolate: align_corners option can only be set with the "
                         "interpolating modes: linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by corefw")
    if mode != "nearest" and not input.dtype.is_floating_point:
        raise DTypeError(f"interpolate: mode {mode!r} needs a floating point input, got "
                         f"{input.dtype}")
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        pool = {3: adaptive_avg_pool1d, 4: adaptive_avg_pool2d, 5: adaptive_avg_pool3d}
        return pool[input.ndim](input, sizes if input.ndim > 3 else sizes[0])
    ft = np.dtype(input.dtype.np).type if input.dtype.is_floating_point else np.float32
    ft = np.float32 if ft == np.float16 else ft
    if mode == "bicubic" and tuple(sizes) == tuple(input.shape[2:]):
        return input.clone()  # PyTorch copies when no size changes, whatever the scale
    out = input
    for axis, (n_in, n_out, scale) in enumerate(zip(input.shape[2:], sizes, scales)):
        dim = axis + 2
        taps = _taps(mode, n_in, n_out, scale, bool(align_corners), ft)
        acc = None
        for idx, w in taps:
            part = out.index_select(dim, corefw.tensor(idx, dtype=corefw.int64,
                                                       device=input.device))
            if w is not None:
                shape = (n_out,) + (1,) * (input.ndim - 1 - dim)
                part = part * corefw.tensor(w.reshape(shape), dtype=input.dtype,
                                            device=input.device)
            acc = part if acc is None else acc + part
        out = acc
    return out


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(..., mode='nearest')``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(..., mode='bilinear', align_corners=True)``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input, upscale_factor: int):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""
    r = int(upscale_factor)
    if not isinstance(input, Tensor) or input.ndim < 3:
        raise ShapeError(f"pixel_shuffle: expected an input of at least 3 dims (*, C, H, W), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    *lead, c, h, w = input.shape
    if r < 1 or c % (r * r):
        raise ShapeError(f"pixel_shuffle: the channels ({c}) of input {_fmt(input.shape)} "
                         f"must be divisible by upscale_factor**2 = {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of :func:`pixel_shuffle`."""
    r = int(downscale_factor)
    if not isinstance(input, Tensor) or input.ndim < 3:
        raise ShapeError(f"pixel_unshuffle: expected an input of at least 3 dims (*, C, H, W), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    *lead, c, h, w = input.shape
    if r < 1 or h % r or w % r:
        raise ShapeError(f"pixel_unshuffle: height and width of input {_fmt(input.shape)} "
                         f"must be divisible by downscale_factor={r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input, groups: int):
    """(N, C, *) with its channels regrouped: ``(g, C / g)`` -> ``(C / g, g)``."""
    if not isinstance(input, Tensor) or input.ndim < 3:
        raise ShapeError(f"channel_shuffle: expected an input of at least 3 dims (N, C, *), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    n, c, *rest = input.shape
    g = int(groups)
    if g < 1 or c % g:
        raise ShapeError(f"channel_shuffle: number of channels ({c}) of input "
                         f"{_fmt(input.shape)} must be divisible by groups={g}")
    x = input.reshape(n, g, c // g, *rest).transpose(1, 2)
    return x.reshape(n, c, *rest)


def _eye_kernel(kernel, like):
    kk = kernel[0] * kernel[1]
    return corefw.tensor(np.eye(kk).reshape(kk, 1, *kernel), dtype=like.dtype,
                         device=like.device)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), the row ``c * kh * kw + i * kw + j``
    holding kernel offset (i, j) of channel c over the L sliding positions."""
    fn = "unfold"
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise ShapeError(f"{fn}: expected a 3-D (unbatched) or 4-D (batched) input, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {input.dtype}")
    ks = conv_tuple(kernel_size, 2, "kernel_size", fn)
    x = input.unsqueeze(0) if input.ndim == 3 else input
    n, c, h, w = x.shape
    y = conv2d(x.reshape(n * c, 1, h, w), _eye_kernel(ks, x), None,
               conv_tuple(stride, 2, "stride", fn), conv_tuple(padding, 2, "padding", fn),
               conv_tuple(dilation, 2, "dilation", fn))
    y = y.reshape(n, c * ks[0] * ks[1], -1)
    return y.squeeze(0) if input.ndim == 3 else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of :func:`unfold`: (N, C * kh * kw, L) -> (N, C, *output_size),
    summing overlapping values."""
    fn = "fold"
    if not isinstance(input, Tensor) or input.ndim not in (2, 3):
        raise ShapeError(f"{fn}: expected a 2-D (unbatched) or 3-D (batched) input, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {input.dtype}")
    size = conv_tuple(output_size, 2, "output_size", fn)
    ks = conv_tuple(kernel_size, 2, "kernel_size", fn)
    dl = conv_tuple(dilation, 2, "dilation", fn)
    pd = conv_tuple(padding, 2, "padding", fn)
    st = conv_tuple(stride, 2, "stride", fn)
    x = input.unsqueeze(0) if input.ndim == 2 else input
    n, ckk, length = x.shape
    kk = ks[0] * ks[1]
    blocks = [(s + 2 * p - d * (k - 1) - 1) // t + 1 for s, p, d, k, t in
              zip(size, pd, dl, ks, st)]
    if ckk % kk or min(blocks) < 1 or blocks[0] * blocks[1] != length:
        raise ShapeError(f"{fn}: expected an input of shape (N, C * {kk}, {max(blocks[0], 0)}"
                         f" * {max(blocks[1], 0)}) for output_size={size}, kernel_size={ks}, "
                         f"dilation={dl}, padding={pd}, stride={st}; got {_fmt(input.shape)}")
    c = ckk // kk
    cols = x.reshape(n * c, kk, blocks[0], blocks[1])
    y = conv_transpose2d(cols, _eye_kernel(ks, x), None, st, 0, 0, 1, dl)
    # y covers padded rows [0, (b - 1) * s + d * (k - 1) + 1): crop/pad to the output
    hi = [s + p - y.shape[2 + i] for i, (s, p) in enumerate(zip(size, pd))]
    y = pad(y, (-pd[1], hi[1], -pd[0], hi[0]))
    y = y.reshape(n, c, *size)
    return y.squeeze(0) if input.ndim == 2 else y
