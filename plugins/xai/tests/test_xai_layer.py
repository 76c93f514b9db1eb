"""Layer and CAM methods against numpy references (fact 8 and hooks' exception safety)."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai.errors import XaiError
from xai_models import N, T

import corefw
import corefw.nn as nn
import corefw.nn.functional as F


def np_conv(x, w, b, pad):
    """Cross-correlation, stride 1, zero padding ``pad`` (loops over kernel offsets)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    out = np.zeros((n, o, oh, ow)) + b[None, :, None, None]
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return out


class Conv(nn.Module):
    def __init__(self, w, b, device=None) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(T(w, device=device)), nn.Parameter(T(b, device=device))

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, padding=1)


class TanhHead(nn.Module):
    """A = conv(x); F = tanh(A).flatten() @ V  (dF/dA in closed form)."""

    def __init__(self, seed=0, c=3, hw=5, device=None) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kw, self.kb = rng.normal(size=(c, 2, 3, 3)) * 0.4, rng.normal(size=c) * 0.1
        self.V = rng.normal(size=(c * hw * hw, 4))
        self.conv = Conv(self.kw, self.kb, device=device)
        self.tV = T(self.V, device=device)

    def forward(self, x):
        a = self.conv(x)
        return a.tanh().reshape(a.shape[0], -1) @ self.tV

    def np_act(self, x):
        return np_conv(x, self.kw, self.kb, 1)

    def np_head(self, a):
        return np.tanh(a).reshape(a.shape[0], -1) @ self.V

    def np_grad_act(self, a, t):
        return ((1 - np.tanh(a) ** 2).reshape(a.shape[0], -1) * self.V[:, t]).reshape(a.shape)


@pytest.fixture
def head(device):
    return TanhHead(device=device)


@pytest.fixture
def xin():
    return np.random.default_rng(1).normal(size=(3, 2, 5, 5))


def test_layer_activation(head, xin, device):
    e = X.LayerActivation(head, head.conv).attribute(T(xin, device=device))
    np.testing.assert_allclose(N(e), head.np_act(xin), atol=1e-12)
    e2 = X.LayerActivation(head, "conv").attribute(T(xin, device=device))
    np.testing.assert_allclose(N(e2), N(e))


@pytest.mark.parametrize("relu", [False, True])
def test_layer_grad_cam_matches_numpy(head, xin, relu, device):
    a = head.np_act(xin)
    g = head.np_grad_act(a, 2)
    cam = (g.mean((2, 3), keepdims=True) * a).sum(1, keepdims=True)
    if relu:
        cam = np.maximum(cam, 0)
    e = X.LayerGradCam(head, head.conv).attribute(T(xin, device=device), target=2,
                                                  relu_attributions=relu)
    np.testing.assert_allclose(N(e), cam, atol=1e-12)
    assert e.params["relu_attributions"] is relu


def test_grad_cam_is_relu_cam_over_z_on_gap_linear(device):
    """Fact 8: on conv -> global average pool -> linear, Grad-CAM with the ReLU equals
    ReLU(CAM) / Z exactly, CAM = sum_c W[t, c] A_c and Z the number of positions."""
    rng = np.random.default_rng(2)
    conv = Conv(rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4), device=device)
    fc = nn.Linear(4, 3, dtype=corefw.float64, device=device)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = conv, fc

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    net = Net()
    x = rng.normal(size=(2, 1, 6, 7))
    a = np_conv(x, N(conv.w), N(conv.b), 1)
    for t in range(3):
        cam = np.einsum("c,nchw->nhw", N(fc.weight)[t], a)[:, None]
        e = X.LayerGradCam(net, net.conv).attribute(T(x, device=device), target=t,
                                                    relu_attributions=True)
        np.testing.assert_allclose(N(e), np.maximum(cam, 0) / (6 * 7), rtol=1e-12, atol=1e-14)


def np_resize(a, size, mode):
    """Loop-based resize of the last two dims (PyTorch semantics, align_corners=False)."""
    h, w = a.shape[-2:]
    out = np.zeros(a.shape[:-2] + tuple(size))
    for i in range(size[0]):
        for j in range(size[1]):
            if mode == "nearest":
                out[..., i, j] = a[..., min(int(i * h / size[0]), h - 1),
                                   min(int(j * w / size[1]), w - 1)]
                continue
            sy = max((i + 0.5) * h / size[0] - 0.5, 0.0)
            sx = max((j + 0.5) * w / size[1] - 0.5, 0.0)
            y0, x0 = min(int(sy), h - 1), min(int(sx), w - 1)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            ly, lx = sy - y0, sx - x0
            out[..., i, j] = ((1 - ly) * (1 - lx) * a[..., y0, x0] + (1 - ly) * lx * a[..., y0, x1]
                              + ly * (1 - lx) * a[..., y1, x0] + ly * lx * a[..., y1, x1])
    return out


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(8, 8), (5, 11), (2, 3)])
def test_interpolate_matches_numpy(mode, size, device):
    a = np.random.default_rng(3).normal(size=(2, 3, 4, 6))
    np.testing.assert_allclose(N(X.interpolate(T(a, device=device), size, mode)),
                               np_resize(a, size, mode), atol=1e-12)


def test_guided_grad_cam_is_guided_backprop_times_upsampled_cam(device):
    rng = np.random.default_rng(4)
    conv = Conv(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), device=device)
    lin = T(rng.normal(size=(3 * 3 * 3, 2)), device=device)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            h = F.max_pool2d(self.conv(x).relu(), 2)
            return h.reshape(h.shape[0], -1) @ lin

    net = Net()
    x = T(rng.normal(size=(2, 1, 6, 6)), device=device)
    gbp = N(X.GuidedBackprop(net).attribute(x, target=1))
    cam = N(X.LayerGradCam(net, net.conv).attribute(x, target=1, relu_attributions=True))
    e = X.GuidedGradCam(net, net.conv).attribute(x, target=1)
    np.testing.assert_allclose(N(e), gbp * np_resize(cam, (6, 6), "nearest"), atol=1e-12)


def test_layer_integrated_gradients_matches_numpy_and_is_complete(head, xin, device):
    base = np.random.default_rng(5).normal(size=xin.shape) * 0.1
    e = X.LayerIntegratedGradients(head, head.conv).attribute(T(xin, device=device),
                                                              baselines=T(base, device=device),
                                                              target=1, n_steps=20)
    ax, ab = head.np_act(xin), head.np_act(base)
    alphas, weights = X.integration_points("gausslegendre", 20)
    avg = sum(w * head.np_grad_act(ab + al * (ax - ab), 1) for al, w in zip(alphas, weights))
    np.testing.assert_allclose(N(e), avg * (ax - ab), atol=1e-12)
    diff = head.np_head(ax)[:, 1] - head.np_head(ab)[:, 1]
    np.testing.assert_allclose(N(e.delta), N(e).reshape(3, -1).sum(1) - diff, atol=1e-12)
    assert e.max_abs_delta() < 1e-6
    chunked = X.LayerIntegratedGradients(head, head.conv).attribute(
        T(xin, device=device), baselines=T(base, device=device), target=1, n_steps=20,
        internal_batch_size=7)
    np.testing.assert_allclose(N(chunked), N(e), atol=1e-13)


def test_grad_cam_plus_plus_matches_numpy(head, xin, device):
    a = np.maximum(head.np_act(xin), 0)

    class Relu(nn.Module):
        def forward(self, v):
            return v.relu()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = head.conv, Relu()

        def forward(self, x):
            h = self.act(self.conv(x))
            return (h * h).reshape(h.shape[0], -1) @ head.tV

    net = Net()
    g = (2 * a).reshape(3, -1)[:, :, None] * head.V[None]
    g = g[:, :, 0].reshape(a.shape)
    g2, g3 = g ** 2, g ** 3
    alpha = g2 / (2 * g2 + a.sum((2, 3), keepdims=True) * g3 + 1e-7)
    alpha = np.where(g != 0, alpha, 0)
    w = (alpha * np.maximum(g, 0)).sum((2, 3), keepdims=True)
    ref = np.maximum((w * a).sum(1, keepdims=True), 0)
    e = X.GradCamPlusPlus(net, net.act).attribute(T(xin, device=device), target=0)
    np.testing.assert_allclose(N(e), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("weights", ["cic", "softmax"])
def test_score_cam_matches_numpy(head, xin, weights, device):
    a = head.np_act(xin)
    up = np_resize(a, (5, 5), "bilinear")
    lo, hi = up.min((2, 3), keepdims=True), up.max((2, 3), keepdims=True)
    masks = np.where(hi > lo, (up - lo) / np.where(hi > lo, hi - lo, 1), 0)
    scores = np.zeros((3, 3))
    for c in range(3):
        scores[:, c] = head.np_head(head.np_act(xin * masks[:, c:c + 1]))[:, 2]
    base = head.np_head(head.np_act(np.zeros_like(xin)))[:, 2]
    if weights == "cic":
        w = scores - base[:, None]
    else:
        w = np.exp(scores - scores.max(1, keepdims=True))
        w = w / w.sum(1, keepdims=True)
    ref = np.maximum((w[:, :, None, None] * a).sum(1, keepdims=True), 0)
    for bs in (1, 4, 64):
        e = X.ScoreCam(head, head.conv).attribute(T(xin, device=device), target=2, weights=weights,
                                                  batch_size=bs)
        np.testing.assert_allclose(N(e), ref, atol=1e-12)


def test_hooks_are_removed_after_errors_and_reuse_is_refused(head, xin, device):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = head.conv

        def forward(self, x):
            self.conv(x)
            raise RuntimeError("boom")

    broken = Broken()
    for cls in (X.LayerGradCam, X.LayerIntegratedGradients, X.LayerActivation,
                X.GradCamPlusPlus):
        with pytest.raises(RuntimeError, match="boom"):
            cls(broken, broken.conv).attribute(T(xin, device=device),
                                               **({} if cls is X.LayerActivation
                                                        else {"target": 0}))
        assert not head.conv._forward_hooks and not head.conv._forward_pre_hooks

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = Conv(np.ones((2, 2, 3, 3)) * 0.1, np.zeros(2), device=device)

        def forward(self, x):
            return self.conv(self.conv(x)).mean((1, 2, 3)).reshape(-1, 1)

    twice = Twice()
    with pytest.raises(XaiError, match="more than once"):
        X.LayerGradCam(twice, twice.conv).attribute(T(xin, device=device), target=0)
    assert not twice.conv._forward_hooks
    with pytest.raises(XaiError, match="not a submodule"):
        X.LayerGradCam(twice, "nope")


def test_layer_methods_take_several_targets(head, xin, device):
    e = X.LayerGradCam(head, head.conv).attribute(T(xin, device=device), targets=[0, 3])
    assert e.attributions.shape == (2, 3, 1, 5, 5)
    np.testing.assert_allclose(N(e)[1], N(X.LayerGradCam(head, head.conv).attribute(
        T(xin, device=device), target=3)), atol=1e-14)


def test_attribution_to_the_layer_input(head, xin, device):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = head.conv

        def forward(self, x):
            return head(2.0 * x)

    net = Net()
    act = X.LayerActivation(net, net.conv).attribute(T(xin, device=device),
                                                     attribute_to_layer_input=True)
    np.testing.assert_allclose(N(act), 2.0 * xin)
    lig = X.LayerIntegratedGradients(net, net.conv).attribute(
        T(xin, device=device), target=1, n_steps=30, attribute_to_layer_input=True)
    ig = X.IntegratedGradients(head).attribute(T(2.0 * xin, device=device), target=1, n_steps=30)
    np.testing.assert_allclose(N(lig), N(ig), atol=1e-12)
