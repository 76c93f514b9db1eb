"""Alpha dropout and max unpooling with PyTorch's signatures: alpha_dropout,
feature_alpha_dropout, max_unpool1d/2d/3d (compositions of corefw ops)."""

from __future__ import annotations

import corefw

from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.inplace import _inplace
from ._conv import _fmt, _tuple
from ._dropout import _check

__all__ = ["alpha_dropout", "feature_alpha_dropout", "max_unpool1d", "max_unpool2d",
           "max_unpool3d"]

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
    ks = _tuple(kernel_size, nd, "kernel_size", fn)
    st = ks if stride is None else _tuple(stride, nd, "stride", fn)
    pd = _tuple(padding, nd, "padding", fn)
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
