"""Metrics (facts 10, 12) and the randomisation sanity check (fact 11)."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai import metrics, sanity
from xai_models import MLP, Linear, N, T

import corefw


def test_infidelity_of_the_baseline_perturbation_is_delta_squared(device):
    """Fact 10: with the single perturbation I = x - x', infidelity of IG's (global)
    attributions equals delta^2."""
    m = MLP(act="tanh", seed=1, device=device)
    rng = np.random.default_rng(0)
    x, b = T(rng.normal(size=(4, 5)) * 2, device=device), T(rng.normal(size=(4, 5)), device=device)
    e = X.IntegratedGradients(m).attribute(x, baselines=b, target=1, n_steps=3)
    assert e.max_abs_delta() > 1e-4  # a visible residual
    inf = metrics.infidelity(m, metrics.baseline_perturbation(b), x, e, target=1,
                             n_perturb_samples=1)
    np.testing.assert_allclose(inf, N(e.delta) ** 2, rtol=1e-10, atol=1e-15)
    via_arg = metrics.infidelity(m, metrics.baseline_perturbation(), x, e, baselines=b,
                                 target=1, n_perturb_samples=3)
    np.testing.assert_allclose(via_arg, N(e.delta) ** 2, rtol=1e-10, atol=1e-15)


def test_infidelity_with_gaussian_noise_matches_numpy(mlp, device):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5))
    attr = rng.normal(size=(3, 5))
    std, n, seed = 0.1, 4, 7
    got = metrics.infidelity(mlp, metrics.gaussian_perturbation(std), T(x, device=device),
                             T(attr, device=device), target=2, n_perturb_samples=n, seed=seed)
    r = np.random.default_rng(seed)
    f = lambda v: mlp.np_forward(v)[0][:, 2]  # noqa: E731
    errs = []
    for _ in range(n):
        noise = r.standard_normal((3, 5)) * std
        errs.append(((noise * attr).sum(1) - (f(x) - f(x - noise))) ** 2)
    np.testing.assert_allclose(got, np.mean(errs, 0), rtol=1e-10)
    normed = metrics.infidelity(mlp, metrics.gaussian_perturbation(std), T(x, device=device),
                                T(attr, device=device),
                                target=2, n_perturb_samples=n, seed=seed, normalize=True)
    assert np.all(normed <= got + 1e-15)  # the least-squares scale can only help


def test_sensitivity_max_matches_numpy(device):
    lin = Linear(d=5, device=device)
    x = np.random.default_rng(2).normal(size=(3, 5))
    sal = lambda inp: X.Saliency(lin).attribute(inp, abs=False)  # noqa: E731
    np.testing.assert_allclose(metrics.sensitivity_max(sal, T(x, device=device), seed=0), 0.0,
                               atol=1e-12)
    ixg = lambda inp: X.InputXGradient(lin).attribute(inp)  # noqa: E731
    got = metrics.sensitivity_max(ixg, T(x, device=device), perturb_radius=0.1, n_perturb_samples=5,
                                  seed=3)
    r = np.random.default_rng(3)
    w = lin.w[:, 0]
    ref = np.max([np.linalg.norm(w * r.uniform(-0.1, 0.1, (3, 5)), axis=1) for _ in range(5)],
                 0) / np.linalg.norm(w * x, axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_true_contributions_give_optimal_deletion_insertion_and_aopc(device):
    """Fact 12: for an additive F ordering by w_i (x_i - x'_i) is optimal, so it beats any
    random ordering on deletion AUC (lower), insertion AUC and AOPC (higher)."""
    lin = Linear(d=10, seed=3, device=device)
    rng = np.random.default_rng(4)
    x, b = rng.normal(size=(4, 10)), rng.normal(size=(4, 10))
    true = T(lin.w[:, 0] * (x - b), device=device)
    args = (lin, T(x, device=device))
    del_true, frac, curve = metrics.deletion(*args, true, baselines=T(b, device=device))
    ins_true = metrics.insertion(*args, true, baselines=T(b, device=device))[0]
    aopc_true = metrics.aopc(*args, true, baselines=T(b, device=device))
    assert frac[0] == 0 and frac[-1] == 1 and curve.shape == (11, 4)
    f = x @ lin.w[:, 0] + lin.b[0]
    np.testing.assert_allclose(curve[0], f)  # nothing deleted
    np.testing.assert_allclose(curve[-1], b @ lin.w[:, 0] + lin.b[0])  # everything deleted
    for seed in range(25):
        rand = T(np.random.default_rng(100 + seed).normal(size=(4, 10)), device=device)
        assert np.all(del_true <= metrics.deletion(*args, rand,
                                                   baselines=T(b, device=device))[0] + 1e-12)
        assert np.all(ins_true >= metrics.insertion(*args, rand,
                                                    baselines=T(b, device=device))[0] - 1e-12)
        assert np.all(aopc_true >= metrics.aopc(*args, rand, baselines=T(b, device=device)) - 1e-12)


def test_deletion_curve_and_auc_match_numpy(device):
    lin = Linear(d=6, seed=5, device=device)
    rng = np.random.default_rng(6)
    x, attr = rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    auc, frac, curve = metrics.deletion(lin, T(x, device=device), T(attr, device=device), n_steps=3,
                                        batch_size=1)
    ref = np.zeros((4, 2))
    for e in range(2):
        order = np.argsort(-attr[e], kind="stable")
        for s, k in enumerate([0, 2, 4, 6]):
            v = x[e].copy()
            v[order[:k]] = 0.0
            ref[s, e] = v @ lin.w[:, 0] + lin.b[0]
    np.testing.assert_allclose(curve, ref, atol=1e-12)
    np.testing.assert_allclose(auc, np.trapezoid(ref, frac, axis=0), atol=1e-12)
    flips = metrics.pixel_flipping(lin, T(x, device=device), T(attr, device=device), n_steps=3)
    np.testing.assert_allclose(flips, ref, atol=1e-12)
    np.testing.assert_allclose(metrics.aopc(lin, T(x, device=device), T(attr, device=device),
                                            n_steps=3),
                               (ref[0] - ref).mean(0), atol=1e-12)


def test_completeness_check(mlp, device):
    m = MLP(act="tanh", seed=7, device=device)
    x = T(np.random.default_rng(8).normal(size=(3, 5)), device=device)
    good = X.IntegratedGradients(m).attribute(x, target=0, n_steps=64)
    bad = X.IntegratedGradients(m).attribute(x, target=0, n_steps=2, method="riemann_left")
    rep = metrics.completeness(m, x, good, target=0, tolerance=1e-8)
    assert rep and rep.passed
    np.testing.assert_allclose(rep.residual, N(good.delta), atol=1e-14)
    rep = metrics.completeness(m, x, bad, target=0, tolerance=1e-3)
    assert not rep
    np.testing.assert_allclose(rep.residual, N(bad.delta), atol=1e-14)
    assert metrics.completeness(m, x, bad, target=0, tolerance=10.0, relative=True)


def test_sparseness_is_the_gini_index(device):
    one_hot = np.zeros((1, 8))
    one_hot[0, 3] = -2.0
    np.testing.assert_allclose(metrics.sparseness(T(one_hot, device=device)), [7 / 8])
    np.testing.assert_allclose(metrics.sparseness(T(np.ones((2, 5)), device=device)), [0.0, 0.0],
                               atol=1e-15)
    np.testing.assert_allclose(metrics.sparseness(T(np.zeros((1, 4)), device=device)), [0.0])
    a = np.abs(np.random.default_rng(9).normal(size=(3, 7)))
    # Gini as mean absolute difference / (2 mean)
    ref = np.abs(a[:, :, None] - a[:, None, :]).sum((1, 2)) / (2 * 7 * 7 * a.mean(1))
    np.testing.assert_allclose(metrics.sparseness(T(a, device=device)), ref, rtol=1e-12)


def test_spearman_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(10)
    a = rng.normal(size=(4, 30))
    b = a + rng.normal(size=(4, 30))
    b[0, :10] = 1.0  # ties
    a[1, :5] = 0.0
    got = sanity.spearman(a, b)
    for i in range(4):
        assert abs(got[i] - stats.spearmanr(a[i], b[i]).statistic) < 1e-12


def test_randomisation_reproduces_adebayo(digits_cnn):
    """Fact 11: after randomising the weights from the output backwards, gradients decorrelate
    from the trained model's while guided backprop stays similar."""
    model, x, y = digits_cnn
    before = {k: N(v).copy() for k, v in model.state_dict().items()}
    grad = sanity.model_parameter_randomisation(model, "saliency", x, y, mode="cascading")
    gbp = sanity.model_parameter_randomisation(model, "guided_backprop", x, y,
                                               mode="cascading")
    assert grad.layers == ["6", "3", "0"] == gbp.layers
    g, h = grad.mean(), gbp.mean()
    assert g["6"] < 0.45 and g["0"] < 0.2, grad.summary()
    assert h["6"] > 0.55 and h["0"] > 0.35, gbp.summary()
    assert all(h[k] - g[k] > 0.25 for k in g)
    after = {k: N(v) for k, v in model.state_dict().items()}
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_randomisation_modes_layers_and_restore_on_error(digits_cnn):
    model, x, y = digits_cnn
    before = {k: N(v).copy() for k, v in model.state_dict().items()}
    rep = sanity.model_parameter_randomisation(model, X.Saliency, x[:8], y[:8],
                                               mode="independent", layers=["0", "6"])
    assert rep.layers == ["0", "6"] and set(rep.similarity) == {"0", "6"}
    assert rep.similarity["0"].shape == (8,)
    assert "spearman" in rep.summary()
    calls = []

    def flaky(m, inputs, target):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("explainer failed")
        return X.Saliency(m).attribute(inputs, target=target)

    with pytest.raises(RuntimeError, match="explainer failed"):
        sanity.model_parameter_randomisation(model, flaky, x[:4], y[:4])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(N(v), before[k])
    with pytest.raises(ValueError, match="cascading"):
        sanity.model_parameter_randomisation(model, "saliency", x, y, mode="sideways")
    with pytest.raises(ValueError, match="no layers"):
        sanity.model_parameter_randomisation(model, "saliency", x, y, layers=["99"])


def test_trained_fixture_is_accurate(digits_cnn):
    model, x, y = digits_cnn
    with corefw.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean().item())
    assert acc > 0.9
