"""The fast paths of the conv and pool kernels against plain float64 numpy: small-image
convolutions as one dense GEMM (forward and gradient to the input), and the max-pool gradient
for windows that tile the input, with ties (all-zero windows after a ReLU), in both layouts and
over several of its 64K-element blocks."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_cpu import _conv, _pool


def _conv_ref(x, w, b, stride, pad, dil):
    """Direct convolution by loops over the kernel taps (float64)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), pad[0], pad[1]))
    ho = (h + sum(pad[0]) - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + sum(pad[1]) - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, ho, wo)) + b.reshape(1, o, 1, 1)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dil[0]:i * dil[0] + stride[0] * (ho - 1) + 1:stride[0],
                       j * dil[1]:j * dil[1] + stride[1] * (wo - 1) + 1:stride[1]]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y


@pytest.mark.parametrize("seed", range(12))
def test_dense_convolution_equals_the_direct_one(seed, monkeypatch):
    monkeypatch.setattr(_conv, "_DENSE_RATIO", 100)  # the dense path for every geometry here
    rng = np.random.default_rng(seed)
    n, c, o = 9 + seed, 1 + seed % 3, 2 + seed % 4
    h, wd = 3 + seed % 3, 2 + seed % 4
    kh, kw = 1 + seed % min(h, 3), 1 + (seed // 2) % min(wd, 3)
    stride, dil = (1 + seed % 2, 1 + (seed // 3) % 2), (1 + (seed // 4) % 2, 1)
    pad = ((seed % 2, (seed // 2) % 2), ((seed // 3) % 2, seed % 2))
    x, w, b = rng.normal(size=(n, c, h, wd)), rng.normal(size=(o, c, kh, kw)), rng.normal(size=o)
    want = _conv_ref(x, w, b, stride, pad, dil)
    assert min(want.shape[2:]) >= 1
    assert _conv._use_dense(n, c, (h, wd), o, want.shape[2:], (kh, kw), 1)
    np.testing.assert_allclose(_conv._conv2d(x, w, b, stride, pad, dil, 1), want, atol=1e-12)
    # the gradient to the input is the transposed map: <g, conv(x)> = <grad_input(g), x>
    g = rng.normal(size=want.shape)
    gx = _conv._conv2d_grad_input(g, w, (h, wd), stride, pad, dil, 1)
    np.testing.assert_allclose(np.sum(gx * x), np.sum(g * (want - b.reshape(1, o, 1, 1))),
                               rtol=1e-10)
    basis = np.zeros_like(x)  # and element by element, on one sample
    for k in range(x[0].size):
        basis.reshape(n, -1)[0, k] = 1.0
        col = _conv_ref(basis, w, np.zeros(o), stride, pad, dil)[0]
        assert abs(gx[0].reshape(-1)[k] - np.sum(col * g[0])) < 1e-10
        basis.reshape(n, -1)[0, k] = 0.0


def test_dense_matrix_is_rebuilt_when_the_weight_changes():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(8, 2, 4, 4)), rng.normal(size=(3, 2, 3, 3))
    pad = ((1, 1), (1, 1))
    first = _conv._conv2d(x, w, None, (1, 1), pad, (1, 1), 1).copy()
    w[0, 0, 1, 1] += 1.0  # in place, as an optimizer step does
    np.testing.assert_allclose(_conv._conv2d(x, w, None, (1, 1), pad, (1, 1), 1),
                               _conv_ref(x, w, np.zeros(3), (1, 1), pad, (1, 1)), atol=1e-12)
    assert not np.allclose(first, _conv._conv2d(x, w, None, (1, 1), pad, (1, 1), 1))


@pytest.mark.parametrize("kernel,n", [((2, 2), 150), ((3, 3), 80), ((2, 3), 300), ((1, 2), 7)])
@pytest.mark.parametrize("channel_major", [False, True])
def test_tiled_max_pool_gradient_goes_to_the_first_maximum(kernel, n, channel_major):
    kh, kw = kernel
    rng = np.random.default_rng(kh * 10 + kw)
    c, ho, wo = 8, 4, 3
    x = np.maximum(rng.integers(-2, 3, (n, c, ho * kh, wo * kw)), 0).astype(np.float32)
    if channel_major:  # the layout the conv kernels return
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    g = rng.normal(size=(n, c, ho, wo)).astype(np.float32)
    out = _pool._max_pool2d(x, kernel, kernel, (0, 0), (1, 1), False)
    got = _pool._max_pool2d_grad_input(x, out, g, kernel, kernel, (0, 0), (1, 1), False)
    # reference: np.argmax picks the first maximum of each window in row-major order
    win = x.reshape(n, c, ho, kh, wo, kw).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, -1)
    ref = np.zeros(win.shape, np.float32)
    np.put_along_axis(ref, win.argmax(-1)[..., None], g[..., None], -1)
    ref = ref.reshape(n, c, ho, wo, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    assert np.array_equal(got, ref)
    assert (win == win.max(-1, keepdims=True)).sum(-1).max() > 1  # the data has ties


def test_tiled_max_pool_gradient_with_nan_takes_the_general_path():
    x = np.array([[[[1.0, np.nan], [0.0, 2.0]]]], np.float32)
    out = _pool._max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert _pool._max_pool2d_grad_tiled(x, out, np.ones((1, 1, 1, 1), np.float32), (2, 2),
                                        (2, 2), (0, 0), (1, 1)) is None
    got = _pool._max_pool2d_grad_input(x, out, np.ones((1, 1, 1, 1), np.float32), (2, 2),
                                       (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(got, [[[[0.0, 1.0], [0.0, 0.0]]]])  # PyTorch: the NaN


def _batch_last(a):
    """``a`` (N, C, H, W) stored as (C, H, W, N), the layout the small-image kernels return."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("dense", [False, True])
def test_batch_last_convolution_equals_the_direct_one(seed, dense, monkeypatch):
    """im2col (and the dense matrix) in the batch-last layout: forward against the direct
    float64 convolution, the gradient to the input by the adjoint identity and element by
    element, for NCHW and batch-last operands."""
    monkeypatch.setattr(_conv, "_BL_MIN_BATCH", 4)
    monkeypatch.setattr(_conv, "_DENSE_RATIO", 100 if dense else 0)
    monkeypatch.setattr(_conv, "_DENSE_MIN_BATCH", 1)
    rng = np.random.default_rng(100 + seed)
    n, c, o = 4 + seed, 1 + seed % 3, 2 + seed % 4
    h, wd = 3 + seed % 4, 2 + seed % 5
    kh, kw = 1 + seed % min(h, 3), 1 + (seed // 2) % min(wd, 3)
    stride, dil = (1 + seed % 2, 1 + (seed // 3) % 2), (1 + (seed // 4) % 2, 1)
    pad = ((seed % 2, (seed // 2) % 2), ((seed // 3) % 2, seed % 2))
    x, w, b = rng.normal(size=(n, c, h, wd)), rng.normal(size=(o, c, kh, kw)), rng.normal(size=o)
    want = _conv_ref(x, w, b, stride, pad, dil)
    assert _conv._use_dense(n, c, (h, wd), o, want.shape[2:], (kh, kw), 1) == dense
    for xin in (x, _batch_last(x)):
        y = _conv._conv2d(xin, w, b, stride, pad, dil, 1)
        np.testing.assert_allclose(y, want, atol=1e-12)
        assert dense or _conv._bl(y) is not None  # im2col's result is batch-last
    g = rng.normal(size=want.shape)
    for gin in (g, _batch_last(g)):  # im2col takes the batch-last path for such a gradient
        gx = _conv._conv2d_grad_input(gin, w, (h, wd), stride, pad, dil, 1)
        assert (_conv._bl(gx) is not None) == (dense or gin is not g)
        np.testing.assert_allclose(np.sum(gx * x), np.sum(g * (want - b.reshape(1, o, 1, 1))),
                                   rtol=1e-10)
    basis = np.zeros_like(x)
    for k in range(x[0].size):
        basis.reshape(n, -1)[0, k] = 1.0
        col = _conv_ref(basis, w, np.zeros(o), stride, pad, dil)[0]
        assert abs(gx[0].reshape(-1)[k] - np.sum(col * g[0])) < 1e-10
        basis.reshape(n, -1)[0, k] = 0.0
    # the weight gradient (its own path) accepts the batch-last gradient
    gw = _conv._conv2d_grad_weight(_batch_last(x), _batch_last(g), (kh, kw), stride, pad, dil, 1)
    np.testing.assert_allclose(np.sum(gw * w), np.sum(g * (want - b.reshape(1, o, 1, 1))),
                               rtol=1e-10)


def test_batch_last_gradient_to_a_larger_input_is_zero_past_the_reach(monkeypatch):
    monkeypatch.setattr(_conv, "_BL_MIN_BATCH", 2)
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(3, 2, 7, 7)), rng.normal(size=(2, 2, 3, 3))
    pad = ((1, 1), (1, 1))
    g = rng.normal(size=(3, 2, 3, 3))  # stride 2 from a 6x6 input reaches rows 0..5 only
    gx = _conv._conv2d_grad_input(_batch_last(g), w, (7, 7), (2, 2), pad, (1, 1), 1)
    assert _conv._bl(gx) is not None and gx.shape == (3, 2, 7, 7)
    want = _conv_ref(x, w, np.zeros(2), (2, 2), ((1, 0), (1, 0)), (1, 1))  # 7 -> 3 as 6 -> 3
    np.testing.assert_allclose(np.sum(gx * x), np.sum(g * want), rtol=1e-10)
    assert not gx[:, :, 6].any() and not gx[:, :, :, 6].any()


def _pool_ref(x, k, s, p, d, ceil):
    """Max pooling by loops over the windows (float64, padding reads as -inf)."""
    from corefw.ops.nn_conv import pool_output_size

    n, c, h, w = x.shape
    ho, wo = (pool_output_size(a, kk, ss, pp, dd, ceil) for a, kk, ss, pp, dd in
              zip((h, w), k, s, p, d))
    out = np.full((n, c, ho, wo), -np.inf)
    for i in range(ho):
        for j in range(wo):
            for a in range(k[0]):
                for b in range(k[1]):
                    r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + b * d[1]
                    if 0 <= r < h and 0 <= q < w:
                        out[:, :, i, j] = np.maximum(out[:, :, i, j], x[:, :, r, q])
    return out


@pytest.mark.parametrize("geo", [
    ((2, 2), (2, 2), (0, 0), (1, 1), False, (4, 6)),  # tiled: the fast gradient
    ((3, 3), (3, 3), (0, 0), (1, 1), False, (6, 3)),  # tiled 3x3
    ((3, 3), (1, 1), (1, 1), (1, 1), False, (4, 5)),  # overlapping, padded
    ((2, 2), (2, 2), (0, 0), (1, 1), True, (5, 5)),  # ceil_mode
    ((2, 2), (1, 1), (0, 0), (2, 2), False, (6, 6)),  # dilation
    ((2, 2), (1, 2), (1, 0), (1, 1), False, (4, 4)),
])
def test_batch_last_max_pool_and_its_gradient(geo):
    """Max pooling of a batch-last input (the conv kernels' result) against loops, and the
    gradient against np.argmax's first maximum per window, with ties (ReLU zeros); windows
    that do not tile the input go through the general gradient."""
    k, s, p, d, ceil, hw = geo
    rng = np.random.default_rng(sum(hw))
    n, c = 70, 3
    x = np.maximum(rng.integers(-2, 3, (n, c) + hw), 0).astype(np.float64)
    xb = _batch_last(x)
    out = _pool._max_pool2d(xb, k, s, p, d, ceil)
    assert _conv._bl(out) is not None
    np.testing.assert_array_equal(out, _pool_ref(x, k, s, p, d, ceil))
    g = rng.normal(size=out.shape)
    got = _pool._max_pool2d_grad_input(xb, out, g, k, s, p, d, ceil)
    tiled = s == k and p == (0, 0) and not ceil and hw[0] % k[0] == 0 and hw[1] % k[1] == 0
    assert (_pool._max_pool2d_grad_bl(xb, out, g, k, s, p, d) is not None) == tiled
    np.testing.assert_array_equal(got, _pool._max_pool2d_grad_input(x, out, g, k, s, p, d, ceil))
    if tiled:
        kh, kw = k
        ho, wo = out.shape[2:]
        win = x.reshape(n, c, ho, kh, wo, kw).transpose(0, 1, 2, 4, 3, 5).reshape(
            n, c, ho, wo, -1)
        assert (win == win.max(-1, keepdims=True)).sum(-1).max() > 1  # the data has ties
        ref = np.zeros(win.shape)
        np.put_along_axis(ref, win.argmax(-1)[..., None], g[..., None], -1)
        ref = ref.reshape(n, c, ho, wo, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
        np.testing.assert_array_equal(got, ref)
        assert _conv._bl(got) is not None


def test_batch_last_max_pool_gradient_with_nan_takes_the_general_path():
    x = np.zeros((4, 1, 2, 2))
    x[1, 0] = [[1.0, np.nan], [0.0, 2.0]]
    xb = _batch_last(x)
    out = _pool._max_pool2d(xb, (2, 2), (2, 2), (0, 0), (1, 1), False)
    g = np.ones((4, 1, 1, 1))
    assert _pool._max_pool2d_grad_bl(xb, out, g, (2, 2), (2, 2), (0, 0), (1, 1)) is None
    got = _pool._max_pool2d_grad_input(xb, out, g, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(got[1, 0], [[0.0, 1.0], [0.0, 0.0]])  # PyTorch: the NaN
    np.testing.assert_array_equal(got[0, 0], [[1.0, 0.0], [0.0, 0.0]])  # a tie: the first
