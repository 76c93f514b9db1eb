"""Pooling against float64 NumPy references written from PyTorch's definitions (loops over output
positions), backward by finite differences (first and second order), tie-breaking, the cpu
kernels against the ops' decompositions, the layers, and the error messages."""

import math

import numpy as np
import pytest
from nn_helpers import gradgrad, npy, t64

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw._call import apply
from corefw.autograd import gradcheck
from corefw.errors import ShapeError
from corefw.ops.nn_conv import (
    AVG_POOL2D,
    AVG_POOL2D_GRAD_INPUT,
    MAX_POOL2D,
    MAX_POOL2D_GRAD_INPUT,
    MAX_POOL2D_INDICES,
)


# ---- references (PyTorch's definitions, one output cell at a time) -------------------------
def out_len(n, k, s, p, d, ceil_mode):
    num = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(num / s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def ref_max_pool2d(x, k, s, p, d, ceil_mode):
    """(values, flat indices of the first maximum) by scanning each window row-major."""
    n, c, h, w = x.shape
    ho, wo = (out_len(h, k[0], s[0], p[0], d[0], ceil_mode),
              out_len(w, k[1], s[1], p[1], d[1], ceil_mode))
    vals, idx = np.full((n, c, ho, wo), -np.inf), np.zeros((n, c, ho, wo), np.int64)
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    for u in range(k[0]):
                        for v in range(k[1]):
                            r, q = i * s[0] - p[0] + u * d[0], j * s[1] - p[1] + v * d[1]
                            if 0 <= r < h and 0 <= q < w and x[a, b, r, q] > vals[a, b, i, j]:
                                vals[a, b, i, j], idx[a, b, i, j] = x[a, b, r, q], r * w + q
    return vals, idx


def ref_avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override):
    n, c, h, w = x.shape
    ho, wo = out_len(h, k[0], s[0], p[0], 1, ceil_mode), out_len(w, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            pool = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
            div = divisor_override or (pool if count_include_pad else (h1 - h0) * (w1 - w0))
            out[:, :, i, j] = total / div
    return out


def ref_adaptive_avg_pool2d(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


MAX_CASES = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 2, 7, 9), (3, 2), (2, 3), (1, 1), (1, 1), True),
    ((1, 2, 9, 8), (3, 2), (1, 2), (1, 0), (2, 3), False),
    ((2, 1, 6, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),
    ((1, 1, 5, 5), (4, 4), (3, 3), (2, 2), (1, 1), True),
]


@pytest.mark.parametrize("shape,k,s,p,d,ceil_mode", MAX_CASES)
def test_max_pool2d_matches_definition(rng, shape, k, s, p, d, ceil_mode, device):
    x = rng.standard_normal(shape)
    vals, idx = ref_max_pool2d(x, k, s, p, d, ceil_mode)
    tx = t64(x, device=device)
    out, ind = F.max_pool2d(tx, k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(npy(out), vals)
    np.testing.assert_array_equal(ind.numpy(), idx)
    assert ind.dtype == corefw.int64
    attrs = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": ceil_mode}
    np.testing.assert_array_equal(npy(MAX_POOL2D.decomposition(tx, **attrs)), vals)
    np.testing.assert_array_equal(MAX_POOL2D_INDICES.decomposition(tx, **attrs).numpy(), idx)
    out32 = F.max_pool2d(corefw.tensor(x, dtype=corefw.float32, device=device), k, s, p, d,
                         ceil_mode)
    np.testing.assert_array_equal(npy(out32), vals.astype(np.float32))
    g = rng.standard_normal(vals.shape)
    expected = np.zeros(x.size)
    np.add.at(expected.reshape(shape[0] * shape[1], -1), (np.arange(shape[0] * shape[1])[:, None],
              idx.reshape(shape[0] * shape[1], -1)), g.reshape(shape[0] * shape[1], -1))
    tvals, tg = t64(vals, device=device), t64(g, device=device)
    gi = apply(MAX_POOL2D_GRAD_INPUT, (tx, tvals, tg), attrs)
    np.testing.assert_allclose(npy(gi).ravel(), expected, rtol=1e-12, atol=1e-12)
    dec = MAX_POOL2D_GRAD_INPUT.decomposition(tx, tvals, tg, **attrs)
    np.testing.assert_allclose(npy(dec).ravel(), expected, rtol=1e-12, atol=1e-12)


def test_max_pool2d_ties_go_to_the_first_maximum(device):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = -1.0  # window 0 still ties at 0 in the first row
    xt = t64(x, requires_grad=True, device=device)
    F.max_pool2d(xt, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[0::2, 0::2] = 1.0
    np.testing.assert_array_equal(npy(xt.grad)[0, 0], expected)
    # overlapping windows (stride 1) all tied: each window's grad lands on its own first cell
    xt = t64(np.ones((1, 1, 3, 3)), requires_grad=True, device=device)
    F.max_pool2d(xt, 2, 1).sum().backward()
    np.testing.assert_array_equal(npy(xt.grad)[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    attrs = {"kernel_size": (2, 2), "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1),
             "ceil_mode": False}
    dec = MAX_POOL2D_GRAD_INPUT.decomposition(
        t64(np.ones((1, 1, 3, 3)), device=device), t64(np.ones((1, 1, 2, 2)), device=device),
        t64(np.ones((1, 1, 2, 2)), device=device), **attrs)
    np.testing.assert_array_equal(npy(dec), npy(xt.grad))


def test_max_pool2d_nan_propagates(device):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    xt = t64(x, requires_grad=True, device=device)
    out = F.max_pool2d(xt, 2)
    assert np.isnan(npy(out)[0, 0, 0, 0]) and npy(out)[0, 0, 1, 1] == 15
    out.sum().backward()
    assert npy(xt.grad)[0, 0, 0, 1] == 1 and npy(xt.grad)[0, 0, 0, 0] == 0


AVG_CASES = [  # (shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor)
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), False, True, None),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1), True, False, None),
    ((1, 2, 7, 8), (3, 2), (2, 3), (1, 1), True, True, None),
    ((1, 1, 5, 6), (2, 3), (1, 2), (1, 0), False, True, 5),
]


@pytest.mark.parametrize("shape,k,s,p,ceil_mode,cip,div", AVG_CASES)
def test_avg_pool2d_matches_definition(rng, shape, k, s, p, ceil_mode, cip, div, device):
    x = rng.standard_normal(shape)
    expected = ref_avg_pool2d(x, k, s, p, ceil_mode, cip, div)
    tx = t64(x, device=device)
    out = F.avg_pool2d(tx, k, s, p, ceil_mode, cip, div)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)
    attrs = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil_mode,
             "count_include_pad": cip, "divisor_override": div}
    np.testing.assert_allclose(npy(AVG_POOL2D.decomposition(tx, **attrs)), expected,
                               rtol=1e-12, atol=1e-12)
    g = t64(rng.standard_normal(expected.shape), device=device)
    gi = apply(AVG_POOL2D_GRAD_INPUT, (g,), {"input_size": shape[2:], **attrs})
    dec = AVG_POOL2D_GRAD_INPUT.decomposition(g, input_size=shape[2:], **attrs)
    np.testing.assert_allclose(npy(gi), npy(dec), rtol=1e-12, atol=1e-12)
    # the gradient is the adjoint: <g, pool(x)> = <grad_input(g), x>
    assert np.isclose(np.sum(npy(g) * expected), np.sum(npy(gi) * x))


@pytest.mark.parametrize("size,out", [((7, 9), (3, 4)), ((8, 8), (4, 2)), ((5, 6), (1, 1)),
                                      ((4, 5), (6, 5)), ((6, 7), (None, 3))])
def test_adaptive_avg_pool2d_matches_definition(rng, size, out, device):
    x = rng.standard_normal((2, 3) + size)
    oh, ow = (size[0] if out[0] is None else out[0]), out[1]
    expected = ref_adaptive_avg_pool2d(x, oh, ow)
    np.testing.assert_allclose(npy(F.adaptive_avg_pool2d(t64(x, device=device), out)), expected,
                               rtol=1e-12, atol=1e-12)


def test_pool1d_variants(rng, device):
    x = rng.standard_normal((2, 3, 11))
    tx = t64(x, device=device)
    out, idx = F.max_pool1d(tx, 3, 2, 1, return_indices=True)
    vals, ref_idx = ref_max_pool2d(x[:, :, None], (1, 3), (1, 2), (0, 1), (1, 1), False)
    np.testing.assert_array_equal(npy(out), vals[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), ref_idx[:, :, 0])
    np.testing.assert_allclose(npy(F.avg_pool1d(tx, 4, 3, 2, count_include_pad=False)),
                               ref_avg_pool2d(x[:, :, None], (1, 4), (1, 3), (0, 2), False,
                                              False, None)[:, :, 0], rtol=1e-12)
    np.testing.assert_allclose(npy(F.adaptive_avg_pool1d(tx, 4)),
                               ref_adaptive_avg_pool2d(x[:, :, None], 1, 4)[:, :, 0], rtol=1e-12)
    assert F.max_pool2d(t64(x[0, :, :9].reshape(3, 3, 3), device=device), 2,
                        ceil_mode=True).shape == (3, 2, 2)


# ---- backward -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape,k,s,p,d,ceil_mode", [MAX_CASES[1], MAX_CASES[2], MAX_CASES[3]])
def test_max_pool2d_gradcheck(rng, shape, k, s, p, d, ceil_mode, device):
    x = t64(rng.permutation(np.prod(shape)).reshape(shape) * 0.1, requires_grad=True,
            device=device)  # no ties
    assert gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode), (x,))


@pytest.mark.parametrize("shape,k,s,p,ceil_mode,cip,div", AVG_CASES[1:])
def test_avg_pool2d_gradcheck(rng, shape, k, s, p, ceil_mode, cip, div, device):
    x = t64(rng.standard_normal(shape), requires_grad=True, device=device)
    assert gradcheck(lambda x: F.avg_pool2d(x, k, s, p, ceil_mode, cip, div), (x,))


def test_pool_double_backward_and_adaptive_gradcheck(rng, device):
    x = t64(rng.permutation(2 * 36).reshape(1, 2, 6, 6) * 0.1, requires_grad=True, device=device)
    assert gradgrad(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    assert gradgrad(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    y = t64(rng.standard_normal((1, 2, 5, 7)), requires_grad=True, device=device)
    assert gradcheck(lambda y: F.adaptive_avg_pool2d(y, (3, 4)), (y,))
    assert gradcheck(lambda y: F.adaptive_avg_pool2d(y, 1), (y,))


# ---- layers and errors --------------------------------------------------------------------
def test_pool_layers(rng, device):
    x = rng.standard_normal((2, 3, 8, 8))
    pool = nn.MaxPool2d(2)
    assert pool.stride == 2 and list(pool.state_dict()) == []
    assert repr(pool) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                          "ceil_mode=False)")
    tx = t64(x, device=device)
    np.testing.assert_array_equal(npy(pool(tx)), x.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(tx)
    assert out.shape == idx.shape == (2, 3, 4, 4)
    avg = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(npy(avg(t64(x[:, :, :7, :7], device=device))),
                               ref_avg_pool2d(x[:, :, :7, :7], (2, 2), (2, 2), (0, 0), True, False,
                                              None), rtol=1e-12)
    assert repr(nn.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    ad = nn.AdaptiveAvgPool2d((1, 1))
    assert repr(ad) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    np.testing.assert_allclose(npy(ad(tx)), x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    assert nn.MaxPool1d(2)(corefw.randn(2, 3, 9, device=device)).shape == (2, 3, 4)
    assert nn.AvgPool1d(3, 1, 1)(corefw.randn(2, 3, 9, device=device)).shape == (2, 3, 9)
    assert nn.AdaptiveAvgPool1d(5)(corefw.randn(2, 3, 9, device=device)).shape == (2, 3, 5)


def test_pool_errors(device):
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(corefw.randn(1, 1, 8, 8, device=device), 2, padding=2)
    with pytest.raises(ShapeError, match="too small"):
        F.avg_pool2d(corefw.randn(1, 1, 2, 2, device=device), 3)
    with pytest.raises(ShapeError, match=r"3-D \(unbatched\) or 4-D"):
        nn.MaxPool2d(2)(corefw.randn(8, 8, device=device))
    with pytest.raises(ValueError, match="positive"):
        F.max_pool2d(corefw.randn(1, 1, 4, 4, device=device), 2, stride=0)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(corefw.randn(1, 1, 4, 4, device=device), 2, divisor_override=0)
