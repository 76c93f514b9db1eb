"""Pooling with PyTorch's signatures: max/avg/adaptive-avg pooling in 1-D and 2-D.

Max and average pooling run on the ``max_pool2d`` / ``avg_pool2d`` ops of
:mod:`corefw.ops.nn_conv` (1-D pooling is 2-D pooling over a height of 1). Adaptive average
pooling is a pair of matrix products with averaging matrices (a mean for a 1x1 output, plain
average pooling when the sizes divide). Inputs are ``(N, C, *spatial)`` or ``(C, *spatial)``.
"""

from __future__ import annotations

import numpy as np

from ..._call import apply
from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.nn_conv import AVG_POOL2D, MAX_POOL2D, MAX_POOL2D_INDICES, pool_output_size
from ._conv import _fmt, conv_tuple

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d",
           "max_pool1d", "max_pool2d"]


def _batched(fn, input, nd):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: expected a corefw tensor, got {type(input).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{fn}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                         f"input, got input of shape {_fmt(input.shape)}")
    return input.ndim == nd + 1


def _pool_attrs(fn, x, kernel_size, stride, padding, dilation, ceil_mode):
    ks = conv_tuple(kernel_size, 2, "kernel_size", fn)
    st = ks if stride is None or stride == () or stride == [] else conv_tuple(stride, 2, "stride",
                                                                              fn)
    pd = conv_tuple(padding, 2, "padding", fn)
    dl = conv_tuple(dilation, 2, "dilation", fn)
    if min(ks) < 1 or min(st) < 1 or min(dl) < 1:
        raise ValueError(f"{fn}: kernel_size {ks}, stride {st} and dilation {dl} must be "
                         f"positive")
    if any(p < 0 or 2 * p > d * (k - 1) + 1 for p, k, d in zip(pd, ks, dl)):
        raise ValueError(f"{fn}: padding {pd} should be non-negative and at most half of the "
                         f"(dilated) kernel size {ks}")
    out = tuple(pool_output_size(n, k, s, p, d, bool(ceil_mode)) for n, k, s, p, d in
                zip(x.shape[2:], ks, st, pd, dl))
    if min(out) < 1:
        raise ShapeError(f"{fn}: input of shape {_fmt(x.shape)} is too small for kernel {ks}, "
                         f"stride {st}, padding {pd}, dilation {dl} (output size {out})")
    return {"kernel_size": ks, "stride": st, "padding": pd, "dilation": dl,
            "ceil_mode": bool(ceil_mode)}


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Padding is implicit ``-inf``; ``stride`` defaults to ``kernel_size``. The gradient of each
    window goes to its first maximum (row-major), and ``return_indices=True`` also returns those
    positions as flat indices ``h * W + w`` (int64), as PyTorch.
    """
    unbatched = _batched("max_pool2d", input, 2)
    x = input.unsqueeze(0) if unbatched else input
    attrs = _pool_attrs("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    y = apply(MAX_POOL2D, (x,), attrs)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    idx = apply(MAX_POOL2D_INDICES, (x,), attrs)
    return y, (idx.squeeze(0) if unbatched else idx)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over (N, C, L) or (C, L)."""
    _batched("max_pool1d", input, 1)
    one = lambda v, name, lead: (lead, conv_tuple(v, 1, name, "max_pool1d")[0])  # noqa: E731
    out = max_pool2d(input.unsqueeze(-2), one(kernel_size, "kernel_size", 1),
                     None if stride is None else one(stride, "stride", 1),
                     one(padding, "padding", 0), one(dilation, "dilation", 1), ceil_mode,
                     return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Padding is zeros, counted in the divisor unless ``count_include_pad=False``; windows that
    ``ceil_mode`` lets run past the padded input are clipped; ``divisor_override`` replaces the
    divisor.
    """
    unbatched = _batched("avg_pool2d", input, 2)
    if not input.dtype.is_floating_point:
        raise DTypeError(f"avg_pool2d: expected a floating point input, got {input.dtype}")
    x = input.unsqueeze(0) if unbatched else input
    attrs = _pool_attrs("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    del attrs["dilation"]
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero")
    attrs["count_include_pad"] = bool(count_include_pad)
    attrs["divisor_override"] = None if divisor_override is None else int(divisor_override)
    y = apply(AVG_POOL2D, (x,), attrs)
    return y.squeeze(0) if unbatched else y


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True):
    """1-D average pooling over (N, C, L) or (C, L)."""
    _batched("avg_pool1d", input, 1)
    one = lambda v, name, lead: (lead, conv_tuple(v, 1, name, "avg_pool1d")[0])  # noqa: E731
    return avg_pool2d(input.unsqueeze(-2), one(kernel_size, "kernel_size", 1),
                      None if stride is None else one(stride, "stride", 1),
                      one(padding, "padding", 0), ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_matrix(n_in: int, n_out: int, like) -> Tensor:
    """(n_out, n_in) averaging matrix over PyTorch's windows [floor(i*n/o), ceil((i+1)*n/o))."""
    from ..._creation import tensor

    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    cols = np.arange(n_in)
    m = ((cols >= start[:, None]) & (cols < end[:, None])) / (end - start)[:, None]
    return tensor(m, dtype=like.dtype, device=like.device)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed ``output_size`` (an int, a pair, None keeps that dim).

    Output cell ``i`` averages input rows ``floor(i * H / Ho)`` to ``ceil((i + 1) * H / Ho)``
    (exclusive), as PyTorch.
    """
    unbatched = _batched("adaptive_avg_pool2d", input, 2)
    x = input.unsqueeze(0) if unbatched else input
    size = (output_size, output_size) if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got "
                         f"{output_size!r}")
    h, w = x.shape[2:]
    ho, wo = (h if size[0] is None else int(size[0]), w if size[1] is None else int(size[1]))
    if ho < 1 or wo < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {(ho, wo)}")
    if not x.dtype.is_floating_point:
        raise DTypeError(f"adaptive_avg_pool2d: expected a floating point input, got {x.dtype}")
    if (ho, wo) == (1, 1):
        y = x.mean((2, 3), keepdim=True)
    elif (ho, wo) == (h, w):
        y = x.clone()
    elif h % ho == 0 and w % wo == 0:
        y = avg_pool2d(x, (h // ho, w // wo))
    else:
        y = _adaptive_matrix(h, ho, x) @ x if ho != h else x
        y = y @ _adaptive_matrix(w, wo, x).transpose(0, 1) if wo != w else y
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) to length ``output_size``."""
    _batched("adaptive_avg_pool1d", input, 1)
    n = output_size if isinstance(output_size, int) else conv_tuple(output_size, 1, "output_size",
                                                                "adaptive_avg_pool1d")[0]
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, n)).squeeze(-2)
