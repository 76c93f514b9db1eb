"""DeepLift, DeepLiftShap, guided backprop and deconvolution through scoped VJP overrides
(facts 3, 5, 13): numpy references, summation to delta, functional code, reused modules,
residual additions, exception safety."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from xai_models import MLP, Linear, N, T

import corefw
import corefw.nn as nn
import corefw.nn.functional as F


def np_backprop(mlp: MLP, x, k, factor):
    """Backpropagate e_k through the MLP with ``factor(layer, z, g)`` at each activation."""
    _, zs, _ = mlp.np_forward(x)
    g = np.zeros((x.shape[0], mlp.W[-1].shape[1]))
    g[:, k] = 1.0
    for i in range(len(mlp.W) - 1, -1, -1):
        g = g @ mlp.W[i].T
        if i > 0:
            g = factor(i - 1, zs[i - 1], g)
    return g


def np_deeplift(mlp: MLP, x, b, k):
    _, zb, _ = mlp.np_forward(b)

    def rescale(layer, z, g):
        dz = z - zb[layer]
        ok = np.abs(dz) > 1e-10
        m = np.where(ok, (mlp.np_act(z) - mlp.np_act(zb[layer])) / np.where(ok, dz, 1.0),
                     mlp.np_dact(z))
        return g * m
    return np_backprop(mlp, x, k, rescale) * (x - b)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_deeplift_matches_the_numpy_rescale_rule(act, device):
    m = MLP(act=act, seed=2, device=device)
    rng = np.random.default_rng(0)
    x, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    e = X.DeepLift(m).attribute(T(x, device=device), baselines=T(b, device=device), target=1)
    np.testing.assert_allclose(N(e), np_deeplift(m, x, b, 1), atol=1e-12)
    # fact 5: summation to delta
    out = m.np_forward(x)[0][:, 1] - m.np_forward(b)[0][:, 1]
    np.testing.assert_allclose(N(e).sum(1), out, atol=1e-10)
    assert e.max_abs_delta() < 1e-10


def test_deeplift_without_multiplying_by_inputs_gives_multipliers(mlp, device):
    rng = np.random.default_rng(1)
    x, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    e = X.DeepLift(mlp, multiply_by_inputs=False).attribute(T(x, device=device),
                                                            baselines=T(b, device=device), target=0)
    np.testing.assert_allclose(N(e) * (x - b), np_deeplift(mlp, x, b, 0), atol=1e-12)
    assert e.max_abs_delta() < 1e-10


def test_deeplift_on_a_linear_model_is_w_times_difference(device):
    """Fact 3 (DeepLift part)."""
    lin = Linear(device=device)
    rng = np.random.default_rng(2)
    x, b = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    e = X.DeepLift(lin).attribute(T(x, device=device), baselines=T(b, device=device))
    np.testing.assert_allclose(N(e), lin.w[:, 0] * (x - b), atol=1e-12)


class ResidualCNN(nn.Module):
    """conv - relu - maxpool - (conv + skip) - relu - linear, with ReLU reused twice."""

    def __init__(self, device=None) -> None:
        super().__init__()
        rng = np.random.default_rng(3)
        self.c1 = nn.Parameter(T(rng.normal(size=(4, 1, 3, 3)) * 0.5, device=device))
        self.b1 = nn.Parameter(T(rng.normal(size=4) * 0.1, device=device))
        self.c2 = nn.Parameter(T(rng.normal(size=(4, 4, 3, 3)) * 0.3, device=device))
        self.fc = nn.Parameter(T(rng.normal(size=(4 * 3 * 3, 3)) * 0.3, device=device))
        self.act = nn.ReLU()

    def forward(self, x):
        h = F.max_pool2d(self.act(F.conv2d(x, self.c1, self.b1, padding=1)), 2)
        h = self.act(F.conv2d(h, self.c2, None, padding=1) + h)  # residual add, relu reused
        return h.reshape(h.shape[0], -1) @ self.fc


def test_deeplift_summation_to_delta_on_cnn_with_maxpool_residual_and_reused_relu(device):
    """Fact 5 with max pooling, a residual addition and one ReLU module used twice."""
    model = ResidualCNN(device=device)
    rng = np.random.default_rng(4)
    x = T(rng.normal(size=(3, 1, 6, 6)), device=device)
    b = T(rng.normal(size=(3, 1, 6, 6)) * 0.3, device=device)
    for t in range(3):
        e = X.DeepLift(model).attribute(x, baselines=b, target=t)
        with corefw.no_grad():
            diff = N(model(x))[:, t] - N(model(b))[:, t]
        np.testing.assert_allclose(N(e).reshape(3, -1).sum(1), diff, atol=1e-10)
        assert e.max_abs_delta() < 1e-10


def test_deeplift_on_maxpool_matches_captum_rule_in_numpy(device):
    """One max-pool window per output: numpy version of Captum's rule (difference placed at the
    argmax of the input and of the baseline, divided by the input difference there)."""
    model = lambda v: F.max_pool2d(v, 2).reshape(v.shape[0], -1).sum(1)  # noqa: E731
    rng = np.random.default_rng(5)
    x, b = rng.normal(size=(2, 1, 4, 4)), rng.normal(size=(2, 1, 4, 4))
    e = X.DeepLift(model).attribute(T(x, device=device), baselines=T(b, device=device))
    ref = np.zeros_like(x)
    for n in range(2):
        for i in range(2):
            for j in range(2):
                win = (n, 0, slice(2 * i, 2 * i + 2), slice(2 * j, 2 * j + 2))
                xw, bw = x[win].ravel(), b[win].ravel()
                top = max(xw.max(), bw.max())
                contrib = np.zeros(4)
                contrib[xw.argmax()] += top - bw.max()
                contrib[bw.argmax()] += xw.max() - top
                ref[win] += contrib.reshape(2, 2)
    np.testing.assert_allclose(N(e), ref, atol=1e-12)


def test_functional_relu_and_module_relu_agree(device):
    """Rules attach to ops: nn.ReLU, x.relu(), F.relu and maximum(x, 0) give the same result."""
    rng = np.random.default_rng(6)
    w1, w2 = T(rng.normal(size=(5, 6)), device=device), T(rng.normal(size=(6, 2)), device=device)
    relu_mod = nn.ReLU()
    variants = [lambda v: relu_mod(v @ w1) @ w2, lambda v: (v @ w1).relu() @ w2,
                lambda v: F.relu(v @ w1) @ w2, lambda v: corefw.maximum(v @ w1, 0.0) @ w2]
    x, b = T(rng.normal(size=(3, 5)), device=device), T(rng.normal(size=(3, 5)), device=device)
    for cls, kw in [(X.DeepLift, {"baselines": b}), (X.GuidedBackprop, {}),
                    (X.Deconvolution, {})]:
        results = [N(cls(f).attribute(x, target=1, **kw)) for f in variants]
        for r in results[1:]:
            np.testing.assert_allclose(r, results[0], atol=1e-12)


def test_guided_backprop_and_deconvolution_match_numpy(mlp, device):
    x = np.random.default_rng(7).normal(size=(4, 5))
    guided = np_backprop(mlp, x, 2, lambda i, z, g: np.maximum(g, 0) * (z > 0))
    deconv = np_backprop(mlp, x, 2, lambda i, z, g: np.maximum(g, 0))
    np.testing.assert_allclose(N(X.GuidedBackprop(mlp).attribute(T(x, device=device), target=2)),
                               guided, atol=1e-12)
    np.testing.assert_allclose(N(X.Deconvolution(mlp).attribute(T(x, device=device), target=2)),
                               deconv, atol=1e-12)
    plain = N(X.Saliency(mlp).attribute(T(x, device=device), target=2, abs=False))
    assert not np.allclose(plain, guided)


def test_deeplift_shap_is_the_mean_of_deeplift_over_baselines(mlp, device):
    rng = np.random.default_rng(8)
    x, dist = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    e = X.DeepLiftShap(mlp).attribute(T(x, device=device), baselines=T(dist, device=device),
                                      target=0)
    each = np.stack([np_deeplift(mlp, x, np.tile(d, (3, 1)), 0) for d in dist])
    np.testing.assert_allclose(N(e), each.mean(0), atol=1e-12)
    np.testing.assert_allclose(N(e.stderr), each.std(0, ddof=1) / 2.0, atol=1e-12)
    f = lambda v: mlp.np_forward(v)[0][:, 0]  # noqa: E731
    np.testing.assert_allclose(N(e).sum(1), f(x) - f(dist).mean(), atol=1e-10)
    for size in (1, 5, 100):
        got = X.DeepLiftShap(mlp).attribute(T(x, device=device), baselines=T(dist, device=device),
                                            target=0, internal_batch_size=size)
        np.testing.assert_allclose(N(got), N(e), atol=1e-13)


def test_an_exception_leaves_no_rule_behind(mlp, device):
    """Fact 13: rules and hooks are removed when the model raises, in forward or in the
    target selection."""
    def broken(v):
        mlp(v)
        raise RuntimeError("boom")

    for cls in (X.DeepLift, X.GuidedBackprop, X.Deconvolution, X.LRP):
        with pytest.raises(RuntimeError, match="boom"):
            cls(broken).attribute(T(np.zeros((2, 5)), device=device), target=0)
        assert not corefw.autograd.active_overrides()

    def bad_target(out):
        raise ValueError("bad target")

    with pytest.raises(ValueError, match="bad target"):
        X.DeepLift(mlp).attribute(T(np.zeros((2, 5)), device=device), target=bad_target)
    assert not corefw.autograd.active_overrides()
    # and plain gradients afterwards are the ordinary ones
    x = np.random.default_rng(9).normal(size=(2, 5))
    np.testing.assert_allclose(N(X.Saliency(mlp).attribute(T(x, device=device), target=0,
                                                           abs=False)),
                               mlp.np_grad(x, 0), atol=1e-12)
