"""Alpha dropout, max unpooling and fractional max pooling with PyTorch's signatures:
alpha_dropout, feature_alpha_dropout, max_unpool1d/2d/3d, fractional_max_pool2d/3d
(compositions of corefw ops)."""

from __future__ import annotations

import numpy as np

import corefw

from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.inplace import _inplace
from ._conv import _fmt, conv_tuple
from ._dropout import _check

__all__ = ["alpha_dropout", "feature_alpha_dropout", "fractional_max_pool2d",
           "fractional_max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d"]

#: ``-SELU scale * SELU alpha``: the value SELU saturates to, which dropped units take
_ALPHA = 1.7580993408473766


def _alpha(fn, input, p, training, noise_shape):
    _check(fn, input, p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    # PyTorch's affine correction: keeps zero mean and unit variance for SELU activations
    a = 1.0 / ((_ALPHA * _ALPHA * p + 1) * (1 - p)) ** 0.5
    keep = (corefw.rand(noise_shape, dtype=input.dtype, device=input.device) >= p).to(
        input.dtype)
    return input * (keep * a) + ((keep - 1) * (_ALPHA * a) + _ALPHA * a * p)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Dropout for SELU networks: dropped elements take SELU's negative saturation value, then
    an affine map restores the input's mean and variance."""
    if inplace:
        return _inplace(input, "alpha_dropout_",
                        lambda x: _alpha("alpha_dropout", x, p, training, x.shape))
    return _alpha("alpha_dropout", input, p, training, input.shape)


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False,
                          inplace: bool = False):
    """:func:`alpha_dropout` of whole channels (dim 1) of ``(N, C, *)`` input."""
    if isinstance(input, Tensor) and input.ndim < 2:
        raise ShapeError(f"feature_alpha_dropout: expected an input of at least 2 dims "
                         f"(N, C, *), got shape {_fmt(input.shape)}")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if isinstance(input, Tensor) \
        else ()
    if inplace:
        return _inplace(input, "feature_alpha_dropout_",
                        lambda x: _alpha("feature_alpha_dropout", x, p, training, shape))
    return _alpha("feature_alpha_dropout", input, p, training, shape)


def _max_unpool(fn, input, indices, kernel_size, stride, padding, output_size, nd):
    if not isinstance(input, Tensor) or input.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{fn}: expected a {nd + 1}-D or {nd + 2}-D input, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if not isinstance(indices, Tensor) or indices.dtype is not corefw.int64 or \
            tuple(indices.shape) != tuple(input.shape):
        raise DTypeError(f"{fn}: indices must be an int64 tensor of the input's shape "
                         f"{_fmt(input.shape)} (as returned by max_pool{nd}d(..., "
                         f"return_indices=True)), got {getattr(indices, 'dtype', None)} "
                         f"{_fmt(getattr(indices, 'shape', ()))}")
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    idx = indices.unsqueeze(0) if unbatched else indices
    ks = conv_tuple(kernel_size, nd, "kernel_size", fn)
    st = ks if stride is None else conv_tuple(stride, nd, "stride", fn)
    pd = conv_tuple(padding, nd, "padding", fn)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], st, pd, ks))
    size = default if output_size is None else tuple(int(v) for v in output_size)[-nd:]
    if len(size) != nd or any(not d - s < o < d + s for o, d, s in zip(size, default, st)):
        raise ShapeError(f"{fn}: output_size {output_size} must be within a stride {st} of "
                         f"the default size {default}")
    n, c = x.shape[:2]
    cells = 1
    for v in size:
        cells *= v
    if idx.numel() and not idx.is_meta and (int(idx.amin().item()) < 0 or
                                            int(idx.amax().item()) >= cells):
        raise ShapeError(f"{fn}: found an index out of the output's {cells} cells "
                         f"(output size {size})")
    out = corefw.zeros(n, c, cells, dtype=x.dtype, device=x.device)
    out = out.scatter_add(2, idx.reshape(n, c, -1), x.reshape(n, c, -1))
    out = out.reshape(n, c, *size)
    return out.squeeze(0) if unbatched else out


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool1d``: each value goes to its index, zeros elsewhere."""
    return _max_unpool("max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size, 1)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d``: each value goes to its flat ``h * W + w`` index."""
    return _max_unpool("max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size, 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool3d``: each value goes to its flat index."""
    return _max_unpool("max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size, 3)


def _intervals(sample: float, n_in: int, n_out: int, k: int, ft) -> np.ndarray:
    """PyTorch's pseudo-random window starts (``generate_intervals``), in precision ``ft``."""
    seq = np.zeros(n_out, dtype=np.int64)
    if n_out > 1:
        alpha = ft(n_in - k) / ft(n_out - 1)
        s = ft(sample)
        for i in range(n_out - 1):
            seq[i] = int(ft(i + s) * alpha) - int(s * alpha)
    if n_out > 0:
        seq[-1] = n_in - k
    return seq


def _fractional(fn, nd, input, kernel_size, output_size, output_ratio, return_indices,
                samples):
    if not isinstance(input, Tensor) or input.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{fn}: expected a {nd + 1}-D or {nd + 2}-D input, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    n, c, *spatial = x.shape
    ks = conv_tuple(kernel_size, nd, "kernel_size", fn)
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f"{fn} requires specifying either an output_size or an "
                             f"output_ratio")
        ratio = _tuple_f(output_ratio, nd)
        output_size = tuple(int(m * r) for m, r in zip(spatial, ratio))
    out = conv_tuple(output_size, nd, "output_size", fn)
    if any(o + k - 1 > m or o < 1 for o, k, m in zip(out, ks, spatial)):
        raise ShapeError(f"{fn}: output_size {out} + kernel_size {ks} - 1 must fit in the "
                         f"input's spatial size {tuple(spatial)}")
    if samples is None:
        samples = corefw.rand(n, c, nd, dtype=x.dtype, device=x.device)
    if tuple(samples.shape) != (n, c, nd):
        raise ShapeError(f"{fn}: _random_samples must have shape ({n}, {c}, {nd}), got "
                         f"{_fmt(samples.shape)}")
    ft = np.dtype(x.dtype.np).type if x.dtype.is_floating_point else np.float32
    u = samples.detach().cpu().numpy()
    # ATen's sample order: 2-D (w, h); 3-D (t, h, w)
    order = (1, 0) if nd == 2 else (0, 1, 2)
    kk = int(np.prod(ks))
    offsets = np.stack(np.unravel_index(np.arange(kk), ks), -1)  # (kk, nd)
    strides = np.cumprod((1,) + tuple(spatial[::-1]))[:nd][::-1]
    flat_idx = np.zeros((n, c) + out + (kk,), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            starts = [_intervals(u[b, ch, order[d]], spatial[d], out[d], ks[d], ft)
                      for d in range(nd)]
            grids = np.meshgrid(*starts, indexing="ij")  # each: out
            pos = sum((g[..., None] + offsets[:, d]) * strides[d]
                      for d, g in enumerate(grids))
            flat_idx[b, ch] = pos
    idx = corefw.tensor(flat_idx.reshape(n, c, -1), device=x.device)
    vals = x.reshape(n, c, -1).gather(2, idx).reshape(n, c, *out, kk)
    y = vals.amax(-1)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    k = vals.detach().argmax(-1, keepdim=True)
    where = corefw.tensor(flat_idx, device=x.device).gather(-1, k).squeeze(-1)
    return y, (where.squeeze(0) if unbatched else where)


def _tuple_f(v, n):
    return (float(v),) * n if isinstance(v, (int, float)) else tuple(float(e) for e in v)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling (Graham, 2014) of (N, C, H, W): windows of ``kernel_size`` at
    PyTorch's pseudo-random starts drawn from ``_random_samples`` (N, C, 2) in [0, 1)."""
    return _fractional("fractional_max_pool2d", 2, input, kernel_size, output_size,
                       output_ratio, return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling of (N, C, T, H, W), samples (N, C, 3)."""
    return _fractional("fractional_max_pool3d", 3, input, kernel_size, output_size,
                       output_ratio, return_indices, _random_samples)
