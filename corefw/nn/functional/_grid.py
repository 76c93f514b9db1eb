"""Spatial transformers with PyTorch's signatures: affine_grid and grid_sample (4-D input,
``bilinear`` / ``nearest``, padding ``zeros`` / ``border`` / ``reflection``), plus pdist and
gumbel_softmax.

``grid_sample`` gathers the four neighbours of every sampling point from the flattened input
and weighs them with PyTorch's bilinear weights, so it differentiates with respect to both the
input (through the gathers) and the grid (through the weights), as PyTorch.
"""

from __future__ import annotations

import numpy as np

import corefw

from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ._activation import softmax
from ._conv import _fmt

__all__ = ["affine_grid", "grid_sample", "gumbel_softmax", "pdist"]


def _base(n: int, align_corners: bool, like):
    """PyTorch's normalised pixel-centre coordinates along one dim of size ``n``."""
    if n <= 1:
        return corefw.zeros(max(n, 0), dtype=like.dtype, device=like.device)
    v = corefw.linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    return v if align_corners else v * ((n - 1) / n)


def affine_grid(theta, size, align_corners: bool = False):
    """Sampling grid ``(N, H, W, 2)`` (or ``(N, D, H, W, 3)``) of the affine maps ``theta``
    ``(N, 2, 3)`` (or ``(N, 3, 4)``) for an output of ``size`` ``(N, C, H, W)`` (or
    ``(N, C, D, H, W)``): each output pixel's normalised ``(x, y[, z])`` times ``theta``."""
    fn = "affine_grid"
    if not isinstance(theta, Tensor) or not theta.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point theta tensor, got "
                         f"{getattr(theta, 'dtype', type(theta).__name__)}")
    size = tuple(int(s) for s in size)
    nd = len(size) - 2
    if nd not in (2, 3) or tuple(theta.shape) != (size[0], nd, nd + 1):
        raise ShapeError(f"{fn}: expected theta of shape (N, 2, 3) for a 4-D size or (N, 3, 4) "
                         f"for a 5-D size (N = size[0]), got theta {_fmt(theta.shape)} and "
                         f"size {list(size)}")
    axes = [_base(s, align_corners, theta) for s in reversed(size[2:])]  # x (W), y (H), z (D)
    spatial = size[2:]
    cols = []
    for i, a in enumerate(axes):
        shape = [1] * nd
        shape[nd - 1 - i] = spatial[nd - 1 - i]
        cols.append(a.reshape(shape).expand(*spatial))
    cols.append(corefw.ones(spatial, dtype=theta.dtype, device=theta.device))
    base = corefw.stack(cols, -1).reshape(-1, nd + 1)  # (P, nd + 1)
    grid = base @ theta.transpose(1, 2)  # (N, P, nd)
    return grid.reshape(size[0], *spatial, nd)


def _unnormalize(coord, n: int, align_corners: bool):
    if align_corners:
        return (coord + 1) / 2 * (n - 1)
    return ((coord + 1) * n - 1) / 2


def _reflect(x, twice_low: int, twice_high: int):
    if twice_low == twice_high:
        return x * 0.0
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    x = (x - low).abs()
    flips = (x / span).floor()
    extra = x - flips * span
    even = (flips - 2 * (flips / 2).floor()) == 0
    return corefw.where(even, extra + low, span - extra + low)


def _source(coord, n, padding_mode, align_corners):
    x = _unnormalize(coord, n, align_corners)
    if padding_mode == "border":
        x = x.clamp(0, n - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align_corners else _reflect(x, -1, 2 * n - 1)
        x = x.clamp(0, n - 1)
    return x


def grid_sample(input, grid, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None):
    """Sample ``input`` ``(N, C, H, W)`` at the normalised ``(x, y)`` points of ``grid``
    ``(N, Ho, Wo, 2)`` (-1 and 1 are the edges, or the corner pixels' centres with
    ``align_corners=True``); points outside read zeros, the border, or the reflection."""
    fn = "grid_sample"
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"{fn}: mode must be 'bilinear' or 'nearest' (bicubic is not "
                         f"supported by corefw), got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"{fn}: padding_mode must be 'zeros', 'border' or 'reflection', got "
                         f"{padding_mode!r}")
    if not isinstance(input, Tensor) or not isinstance(grid, Tensor) or input.ndim != 4 or \
            grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ShapeError(f"{fn}: expected input (N, C, H, W) and grid (N, Ho, Wo, 2) with the "
                         f"same N, got {_fmt(getattr(input, 'shape', ()))} and "
                         f"{_fmt(getattr(grid, 'shape', ()))} (5-D input is not supported)")
    if input.dtype is not grid.dtype or not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: input ({input.dtype}) and grid ({grid.dtype}) must have the "
                         f"same floating point dtype")
    align = bool(align_corners)
    n, c, h, w = input.shape
    ho, wo = grid.shape[1:3]
    ix = _source(grid[..., 0], w, padding_mode, align).reshape(n, 1, ho * wo)
    iy = _source(grid[..., 1], h, padding_mode, align).reshape(n, 1, ho * wo)
    flat = input.reshape(n, c, h * w)

    def tap(x, y, weight):
        inside = ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).to(input.dtype)
        xi, yi = x.clamp(0, w - 1), y.clamp(0, h - 1)
        idx = (yi * w + xi).detach().to(corefw.int64).expand(n, c, ho * wo)
        return flat.gather(2, idx) * (weight * inside)

    if mode == "nearest":
        out = tap(ix.round(), iy.round(), 1.0)
    else:
        x0, y0 = ix.detach().floor(), iy.detach().floor()
        x1, y1 = x0 + 1, y0 + 1
        out = (tap(x0, y0, (x1 - ix) * (y1 - iy)) + tap(x1, y0, (ix - x0) * (y1 - iy))
               + tap(x0, y1, (x1 - ix) * (iy - y0)) + tap(x1, y1, (ix - x0) * (iy - y0)))
    return out.reshape(n, c, ho, wo)


def pdist(input, p: float = 2.0):
    """The ``p``-norm distances between the rows of ``input`` (N, M): the upper triangle (row
    ``i < j``, row-major) of the distance matrix, shape ``(N * (N - 1) / 2,)``."""
    if not isinstance(input, Tensor) or input.ndim != 2:
        raise ShapeError(f"pdist: only supports 2D tensors, got "
                         f"{_fmt(getattr(input, 'shape', ()))}")
    n = input.shape[0]
    rows = [i for i in range(n) for _ in range(i + 1, n)]
    cols = [j for i in range(n) for j in range(i + 1, n)]
    if not rows:
        return input.new_zeros((0,))
    ri = corefw.tensor(rows, dtype=corefw.int64, device=input.device)
    ci = corefw.tensor(cols, dtype=corefw.int64, device=input.device)
    return (input.index_select(0, ri) - input.index_select(0, ci)).norm(p, 1)


def gumbel_softmax(logits, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1):
    """``softmax((logits + g) / tau)`` with Gumbel(0, 1) noise ``g``; ``hard=True`` returns
    the one-hot argmax with the soft sample's gradient (straight-through), as PyTorch."""
    if not isinstance(logits, Tensor) or not logits.dtype.is_floating_point:
        raise DTypeError("gumbel_softmax: expected floating point logits")
    u = corefw.rand(logits.shape, dtype=logits.dtype, device=logits.device)
    exp_noise = (-(1 - u).log()).clamp(min=float(np.finfo(logits.dtype.np).tiny))
    y = softmax((logits - exp_noise.log()) / tau, dim)  # -log(Exp(1)) is Gumbel(0, 1)
    if not hard:
        return y
    index = y.detach().argmax(dim, keepdim=True)
    shape = [-1 if d == dim % y.ndim else 1 for d in range(y.ndim)]
    one_hot = (corefw.arange(y.shape[dim], device=y.device).reshape(shape) == index).to(
        y.dtype)
    return one_hot - y.detach() + y
