"""LRP rules, composites and the BatchNorm canonizer against a layer-by-layer numpy reference
(fact 7)."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from xai_models import MLP, N, T

import corefw
import corefw.nn as nn
import corefw.nn.functional as F


def stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0) if eps else np.where(z == 0, 1e-12, z)


def np_epsilon(eps):
    def rule(a, w, b, r):
        return a * ((r / stab(a @ w + b, eps)) @ w.T)
    return rule


def np_gamma(g, eps=1e-6):
    def rule(a, w, b, r):
        wg, bg = w + g * np.maximum(w, 0), b + g * np.maximum(b, 0)
        return a * ((r / stab(a @ wg + bg, eps)) @ wg.T)
    return rule


def np_zplus(a, w, b, r, eps=1e-6):
    ap, an, wp, wn = np.maximum(a, 0), np.minimum(a, 0), np.maximum(w, 0), np.minimum(w, 0)
    s = r / stab(ap @ wp + an @ wn, eps)
    return ap * (s @ wp.T) + an * (s @ wn.T)


def np_alpha_beta(alpha, beta, eps=1e-6):
    def rule(a, w, b, r):
        ap, an, wp, wn = np.maximum(a, 0), np.minimum(a, 0), np.maximum(w, 0), np.minimum(w, 0)
        sp = r / stab(ap @ wp + an @ wn, eps)
        sn = r / stab(ap @ wn + an @ wp, eps)
        return alpha * (ap * (sp @ wp.T) + an * (sp @ wn.T)) - \
            beta * (ap * (sn @ wn.T) + an * (sn @ wp.T))
    return rule


def np_zbox(lo, hi, eps=1e-6):
    def rule(a, w, b, r):
        low, high = np.full_like(a, lo), np.full_like(a, hi)
        wp, wn = np.maximum(w, 0), np.minimum(w, 0)
        s = r / stab(a @ w + b - low @ wp - high @ wn, eps)
        return a * (s @ w.T) - low * (s @ wp.T) - high * (s @ wn.T)
    return rule


def np_wsquare(a, w, b, r, eps=1e-6):
    one = np.ones_like(a)
    s = r / stab(one @ (w * w), eps)
    return s @ (w * w).T


def np_flat(a, w, b, r, eps=1e-6):
    one = np.ones_like(a)
    s = r / stab(one @ np.ones_like(w), eps)
    return s @ np.ones_like(w).T


def np_lrp(mlp: MLP, x, k, rules):
    """Relevance at the input, and per layer (out, in) relevance totals (output first)."""
    out, zs, hs = mlp.np_forward(x)
    r = np.zeros_like(out)
    r[:, k] = out[:, k]
    layers = []
    for i in range(len(mlp.W) - 1, -1, -1):
        rule = rules[i] if isinstance(rules, (list, tuple)) else rules
        new = rule(hs[i], mlp.W[i], mlp.b[i], r)
        layers.append((r.sum(1), new.sum(1)))
        r = new  # ReLU passes relevance unchanged
    return r, layers


def test_lrp0_conserves_relevance_exactly_layer_by_layer_without_biases(device):
    """Fact 7: LRP-0 on bias-free ReLU layers conserves relevance layer by layer."""
    m = MLP(bias=False, seed=1, device=device)
    x = np.random.default_rng(0).normal(size=(4, 5))
    e = X.LRP(m, rule=X.Epsilon(0.0)).attribute(T(x, device=device), target=1)
    layers = e.extras["layers"]
    assert len(layers) == 3
    f = m.np_forward(x)[0][:, 1]
    for rec in layers:
        np.testing.assert_allclose(rec["relevance_out"], f, atol=1e-12)
        np.testing.assert_allclose(rec["relevance_in"], f, atol=1e-12)
    np.testing.assert_allclose(N(e).sum(1), f, atol=1e-12)
    assert e.max_abs_delta() < 1e-12


@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.5])
def test_the_leak_equals_the_share_absorbed_by_biases_and_epsilon(eps, device):
    """Fact 7: with biases or epsilon > 0 each layer loses sum_j R_j (b_j + eps s_j) /
    (z_j + eps s_j): checked amount for amount against numpy."""
    m = MLP(bias=True, seed=2, device=device)
    x = np.random.default_rng(1).normal(size=(3, 5))
    e = X.LRP(m, rule=X.Epsilon(eps)).attribute(T(x, device=device), target=0)
    ref, ref_layers = np_lrp(m, x, 0, np_epsilon(eps))
    np.testing.assert_allclose(N(e), ref, atol=1e-12)
    _, zs, _ = m.np_forward(x)
    r = np.zeros_like(zs[-1])
    r[:, 0] = zs[-1][:, 0]
    for rec, (_, in_ref), i in zip(e.extras["layers"], ref_layers, (2, 1, 0)):
        leak = rec["relevance_out"] - rec["relevance_in"]
        z = zs[i]
        s = np.where(z >= 0, 1.0, -1.0)
        absorbed = (r * (m.b[i] + eps * s) / (z + eps * s)).sum(1) if eps else \
            (r * m.b[i] / z).sum(1)
        np.testing.assert_allclose(leak, absorbed, atol=1e-12)
        np.testing.assert_allclose(rec["relevance_in"], in_ref, atol=1e-12)
        hs = m.np_forward(x)[2]
        r = np_epsilon(eps)(hs[i], m.W[i], m.b[i], r)


def test_lrp0_equals_gradient_times_input_on_relu_networks(device):
    """Fact 7: LRP-0 = gradient x input on ReLU networks (with biases too)."""
    m = MLP(bias=True, seed=3, device=device)
    x = np.random.default_rng(2).normal(size=(4, 5))
    e = X.LRP(m, rule=X.Epsilon(0.0)).attribute(T(x, device=device), target=2)
    np.testing.assert_allclose(N(e), x * m.np_grad(x, 2), atol=1e-12)
    rng = np.random.default_rng(3)
    k, kb = T(rng.normal(size=(3, 1, 3, 3)), device=device), T(rng.normal(size=3), device=device)
    wl = T(rng.normal(size=(3 * 3 * 3, 2)), device=device)

    def cnn(v):
        h = F.max_pool2d(F.conv2d(v, k, kb, padding=1).relu(), 2)
        return h.reshape(h.shape[0], -1) @ wl

    xi = T(rng.normal(size=(2, 1, 6, 6)), device=device)
    lrp = N(X.LRP(cnn, rule=X.Epsilon(0.0)).attribute(xi, target=1))
    np.testing.assert_allclose(lrp, N(X.InputXGradient(cnn).attribute(xi, target=1)),
                               atol=1e-12)


@pytest.mark.parametrize("name,rule,ref", [
    ("gamma", X.Gamma(0.25), np_gamma(0.25)),
    ("zplus", X.ZPlus(), np_zplus),
    ("alpha2beta1", X.AlphaBeta(2.0, 1.0), np_alpha_beta(2.0, 1.0)),
    ("zbox", X.ZBox(-2.0, 2.0), np_zbox(-2.0, 2.0)),
    ("wsquare", X.WSquare(), np_wsquare),
    ("flat", X.Flat(), np_flat),
])
def test_rules_match_numpy(name, rule, ref, device):
    m = MLP(bias=True, seed=4, device=device)
    x = np.random.default_rng(4).normal(size=(3, 5))
    e = X.LRP(m, rule=rule).attribute(T(x, device=device), target=1)
    np.testing.assert_allclose(N(e), np_lrp(m, x, 1, ref)[0], rtol=1e-9, atol=1e-12)


def test_zplus_conserves_relevance_without_biases(device):
    """z+ conserves wherever the positive pre-activations are not all zero (here: positive
    output weights and positive inputs)."""
    m = MLP(bias=False, seed=5, device=device)
    m.W[-1] = np.abs(m.W[-1])
    m.tW[-1] = T(m.W[-1], device=device)
    x = np.abs(np.random.default_rng(5).normal(size=(3, 5)))
    e = X.LRP(m, rule=X.ZPlus(epsilon=0.0)).attribute(T(x, device=device), target=0)
    for rec in e.extras["layers"]:
        np.testing.assert_allclose(rec["relevance_in"], rec["relevance_out"], rtol=1e-9)


def _sequential(device=None):
    corefw.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7, dtype=corefw.float64), nn.ReLU(),
                         nn.Linear(7, 6, dtype=corefw.float64), nn.ReLU(),
                         nn.Linear(6, 3, dtype=corefw.float64)).to(device)


def _as_mlp(seq, device=None) -> MLP:
    m = MLP(sizes=(5, 7, 6, 3))
    lin = [seq[0], seq[2], seq[4]]
    m.W = [N(layer.weight).T for layer in lin]
    m.b = [N(layer.bias) for layer in lin]
    m.tW, m.tb = [T(w, device=device) for w in m.W], [T(b, device=device) for b in m.b]
    return m


def test_composite_by_first_layer_type_and_name(device):
    seq = _sequential(device=device)
    ref_mlp = _as_mlp(seq, device=device)
    x = np.random.default_rng(6).normal(size=(3, 5))
    comp = X.Composite({nn.Linear: X.Epsilon(0.1), "2": X.Gamma(0.5)}, first=X.ZBox(-3, 3))
    e = X.LRP(seq, composite=comp).attribute(T(x, device=device), target=0)
    ref = np_lrp(ref_mlp, x, 0, [np_zbox(-3, 3), np_gamma(0.5), np_epsilon(0.1)])[0]
    np.testing.assert_allclose(N(e), ref, rtol=1e-9, atol=1e-12)
    rules = [rec["rule"] for rec in e.extras["layers"]]
    assert rules[0].startswith("Epsilon") and rules[1].startswith("Gamma")
    assert rules[2].startswith("ZBox")
    assert [rec["module"] for rec in e.extras["layers"]] == ["4", "2", "0"]
    # op-name keys serve functional code the same way
    comp2 = X.Composite({"matmul": X.Epsilon(0.1)}, first=X.ZBox(-3, 3))
    e2 = X.LRP(ref_mlp, composite=comp2).attribute(T(x, device=device), target=0)
    ref2 = np_lrp(ref_mlp, x, 0, [np_zbox(-3, 3), np_epsilon(0.1), np_epsilon(0.1)])[0]
    np.testing.assert_allclose(N(e2), ref2, rtol=1e-9, atol=1e-12)


def test_presets_build(device):
    for comp in (X.Composite.epsilon_plus(), X.Composite.epsilon_gamma_box(0.0, 1.0),
                 X.Composite.epsilon_alpha2_beta1()):
        e = X.LRP(_sequential(device=device),
                  composite=comp).attribute(T(np.ones((1, 5)), device=device), target=0)
        assert np.isfinite(N(e)).all()
    with pytest.raises(ValueError, match="alpha - beta"):
        X.AlphaBeta(2.0, 2.0)


def test_reused_module_and_residual_addition_conserve_relevance(device):
    lin = nn.Linear(4, 4, bias=False, dtype=corefw.float64, device=device)
    act = nn.ReLU()
    head = T(np.random.default_rng(7).normal(size=(4, 2)), device=device)

    def model(v):
        h = act(lin(v))
        h = act(lin(h) + h)  # the same Linear and ReLU twice, and a residual addition
        return h @ head

    x = T(np.random.default_rng(8).normal(size=(5, 4)), device=device)
    e = X.LRP(model, rule=X.Epsilon(0.0)).attribute(x, target=1)
    with corefw.no_grad():
        f = N(model(x))[:, 1]
    np.testing.assert_allclose(N(e).sum(1), f, atol=1e-12)
    assert len(e.extras["layers"]) == 3


def test_merge_batchnorm_canonizer(device):
    corefw.manual_seed(1)
    seq = nn.Sequential(nn.Linear(5, 6, dtype=corefw.float64),
                        nn.BatchNorm1d(6, dtype=corefw.float64), nn.ReLU(),
                        nn.Linear(6, 2, dtype=corefw.float64)).to(device)
    rng = np.random.default_rng(9)
    bn = seq[1]
    with corefw.no_grad():
        bn.running_mean.copy_(T(rng.normal(size=6), device=device))
        bn.running_var.copy_(T(rng.uniform(0.5, 2.0, size=6), device=device))
        bn.weight.copy_(T(rng.normal(size=6), device=device))
        bn.bias.copy_(T(rng.normal(size=6), device=device))
    seq.eval()
    before = {k: N(v).copy() for k, v in seq.state_dict().items()}
    x = T(rng.normal(size=(4, 5)), device=device)
    with corefw.no_grad():
        out = N(seq(x))
    with X.merge_batchnorm(seq):
        with corefw.no_grad():
            np.testing.assert_allclose(N(seq(x)), out, atol=1e-12)
    # merged weights by hand
    w, b = before["0.weight"], before["0.bias"]
    s = before["1.weight"] / np.sqrt(before["1.running_var"] + bn.eps)
    ref = MLP(sizes=(5, 6, 2), device=device)
    ref.W = [(w * s[:, None]).T, before["3.weight"].T]
    ref.b = [(b - before["1.running_mean"]) * s + before["1.bias"], before["3.bias"]]
    comp = X.Composite(default=X.Epsilon(0.0), canonizers=[X.merge_batchnorm])
    e = X.LRP(seq, composite=comp).attribute(x, target=1)
    np.testing.assert_allclose(N(e), np_lrp(ref, N(x), 1, np_epsilon(0.0))[0], atol=1e-10)
    after = {k: N(v) for k, v in seq.state_dict().items()}
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_merge_batchnorm_after_a_convolution_keeps_outputs_and_restores(device):
    corefw.manual_seed(2)
    seq = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, dtype=corefw.float64),
                        nn.BatchNorm2d(3, dtype=corefw.float64), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 2, dtype=corefw.float64)).to(device)
    rng = np.random.default_rng(10)
    with corefw.no_grad():
        seq[1].running_mean.copy_(T(rng.normal(size=3), device=device))
        seq[1].running_var.copy_(T(rng.uniform(0.5, 2.0, size=3), device=device))
        seq[1].weight.copy_(T(rng.normal(size=3), device=device))
    seq.eval()
    before = {k: N(v).copy() for k, v in seq.state_dict().items()}
    x = T(rng.normal(size=(2, 1, 4, 4)), device=device)
    with corefw.no_grad():
        out = N(seq(x))
        with X.merge_batchnorm(seq):
            np.testing.assert_allclose(N(seq(x)), out, atol=1e-12)
            np.testing.assert_allclose(N(seq[1].running_mean), 0.0)
    with pytest.raises(RuntimeError, match="inside"):
        with X.merge_batchnorm(seq):
            raise RuntimeError("inside")
    for k, v in seq.state_dict().items():
        np.testing.assert_array_equal(N(v), before[k])
