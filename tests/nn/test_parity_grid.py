"""affine_grid / grid_sample against scalar float64 loops of PyTorch's formulas; pdist and
gumbel_softmax."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw.autograd import gradcheck
from corefw.errors import ShapeError
from corefw.nn import functional as F

RNG = np.random.default_rng(0)


def _unnorm(c, n, align):
    return (c + 1) / 2 * (n - 1) if align else ((c + 1) * n - 1) / 2


def _reflect(x, lo2, hi2):
    if lo2 == hi2:
        return 0.0
    lo, span = lo2 / 2, (hi2 - lo2) / 2
    x = abs(x - lo)
    flips = math.floor(x / span)
    extra = math.fmod(x, span)
    return extra + lo if flips % 2 == 0 else span - extra + lo


def _coord(c, n, pad, align):
    x = _unnorm(c, n, align)
    if pad == "border":
        x = min(max(x, 0), n - 1)
    elif pad == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align else _reflect(x, -1, 2 * n - 1)
        x = min(max(x, 0), n - 1)
    return x


def _grid_sample_ref(x, grid, mode, pad, align):
    n, c, h, w = x.shape
    _, ho, wo, _ = grid.shape
    out = np.zeros((n, c, ho, wo))

    def at(b, yy, xx):
        return x[b, :, yy, xx] if 0 <= xx < w and 0 <= yy < h else np.zeros(c)

    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                ix = _coord(grid[b, i, j, 0], w, pad, align)
                iy = _coord(grid[b, i, j, 1], h, pad, align)
                if mode == "nearest":
                    out[b, :, i, j] = at(b, int(np.rint(iy)), int(np.rint(ix)))
                    continue
                x0, y0 = math.floor(ix), math.floor(iy)
                tx, ty = ix - x0, iy - y0
                out[b, :, i, j] = (at(b, y0, x0) * (1 - tx) * (1 - ty)
                                   + at(b, y0, x0 + 1) * tx * (1 - ty)
                                   + at(b, y0 + 1, x0) * (1 - tx) * ty
                                   + at(b, y0 + 1, x0 + 1) * tx * ty)
    return out


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_matches_pytorch_formulas(mode, pad, align):
    x = RNG.standard_normal((2, 3, 4, 5))
    grid = RNG.uniform(-1.6, 1.6, (2, 3, 4, 2))
    got = F.grid_sample(t64(x), t64(grid), mode, pad, align)
    np.testing.assert_allclose(npy(got), _grid_sample_ref(x, grid, mode, pad, align),
                               rtol=1e-12, atol=1e-12)
    if mode == "bilinear":
        g = t64(grid[:1, :2, :2], True)
        assert gradcheck(lambda a, b: F.grid_sample(a, b, mode, pad, align),
                         (t64(x[:1, :1], True), g))


def test_affine_grid_then_sample():
    theta = RNG.standard_normal((2, 2, 3))
    for align in (False, True):
        grid = npy(F.affine_grid(t64(theta), (2, 1, 3, 4), align))
        xs = np.linspace(-1, 1, 4) * (1 if align else 3 / 4)
        ys = np.linspace(-1, 1, 3) * (1 if align else 2 / 3)
        base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), -1)
        np.testing.assert_allclose(grid, np.einsum("hwk,nck->nhwc", base, theta), rtol=1e-12)
    identity = t64(np.array([[[1.0, 0, 0], [0, 1, 0]]]))
    x = t64(RNG.standard_normal((1, 2, 3, 4)))
    same = F.grid_sample(x, F.affine_grid(identity, (1, 2, 3, 4)))
    np.testing.assert_allclose(npy(same), npy(x), atol=1e-12)
    assert F.affine_grid(t64(RNG.standard_normal((1, 3, 4))), (1, 1, 2, 3, 4)).shape == \
        (1, 2, 3, 4, 3)
    assert gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 4)), (t64(theta, True),))
    with pytest.raises(ShapeError, match="affine_grid: expected theta of shape"):
        F.affine_grid(t64(theta), (2, 1, 2, 3, 4))
    with pytest.raises(ShapeError, match="grid_sample: expected input"):
        F.grid_sample(x, t64(np.zeros((1, 2, 2, 3))))


def test_pdist():
    x = RNG.standard_normal((5, 3))
    want = [np.linalg.norm(x[i] - x[j], 3) for i in range(5) for j in range(i + 1, 5)]
    np.testing.assert_allclose(npy(F.pdist(t64(x), 3)), want, rtol=1e-12)
    assert gradcheck(F.pdist, (t64(x, True),))


def test_gumbel_softmax_samples_the_softmax():
    corefw.manual_seed(0)
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    y = F.gumbel_softmax(t64(np.tile(logits, (20000, 1))), tau=0.5)
    np.testing.assert_allclose(npy(y).sum(1), 1.0)
    np.testing.assert_allclose(np.bincount(npy(y).argmax(1)) / 20000, [0.1, 0.2, 0.7],
                               atol=0.015)
    x = t64(np.tile(logits, (4, 1)), requires_grad=True)
    hard = F.gumbel_softmax(x, hard=True)
    assert set(np.unique(npy(hard))) <= {0.0, 1.0} and (npy(hard).sum(1) == 1).all()
    (hard * t64(RNG.standard_normal((4, 3)))).sum().backward()
    assert np.abs(npy(x.grad)).max() > 0  # straight-through gradient
