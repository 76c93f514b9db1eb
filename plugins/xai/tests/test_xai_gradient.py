"""Gradient methods against closed forms and float64 numpy references (facts 1-4, 9, 13)."""

from __future__ import annotations

import tracemalloc

import corefw_xai as X
import numpy as np
import pytest
from xai_models import MLP, Linear, N, T

import corefw

RULES = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
         "gausslegendre"]


def np_ig(mlp: MLP, x, b, k, alphas, weights):
    """IG by the formula: (x - b) * sum_s w_s dF/dx(b + a_s (x - b))."""
    total = np.zeros_like(x)
    for a, w in zip(alphas, weights):
        total += w * mlp.np_grad(b + a * (x - b), k)
    return (x - b) * total


def test_saliency_and_input_x_gradient_match_the_numpy_gradient(mlp, device):
    x = np.random.default_rng(0).normal(size=(4, 5))
    g = mlp.np_grad(x, 2)
    np.testing.assert_allclose(N(X.Saliency(mlp).attribute(T(x, device=device), target=2)),
                               np.abs(g), atol=1e-12)
    np.testing.assert_allclose(N(X.Saliency(mlp).attribute(T(x, device=device), target=2,
                                                           abs=False)), g,
                               atol=1e-12)
    np.testing.assert_allclose(N(X.InputXGradient(mlp).attribute(T(x, device=device), target=2)),
                               x * g, atol=1e-12)


def test_integration_points_are_the_textbook_rules():
    n = 4
    a, w = X.integration_points("riemann_left", n)
    assert np.allclose(a, [0, .25, .5, .75]) and np.allclose(w, .25)
    a, _ = X.integration_points("riemann_right", n)
    assert np.allclose(a, [.25, .5, .75, 1])
    a, _ = X.integration_points("riemann_middle", n)
    assert np.allclose(a, [.125, .375, .625, .875])
    a, w = X.integration_points("riemann_trapezoid", n)
    assert np.allclose(a, [0, 1 / 3, 2 / 3, 1]) and np.allclose(w, [1 / 6, 1 / 3, 1 / 3, 1 / 6])
    # Gauss-Legendre with n points integrates polynomials of degree 2n - 1 exactly
    a, w = X.integration_points("gausslegendre", n)
    for deg in range(2 * n):
        assert abs(np.sum(w * a ** deg) - 1 / (deg + 1)) < 1e-14


@pytest.mark.parametrize("rule", RULES)
def test_integrated_gradients_matches_the_numpy_formula(rule, mlp, device):
    rng = np.random.default_rng(1)
    x, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    e = X.IntegratedGradients(mlp).attribute(T(x, device=device), baselines=T(b, device=device),
                                             target=1, n_steps=7, method=rule)
    alphas, weights = X.integration_points(rule, 7)
    np.testing.assert_allclose(N(e), np_ig(mlp, x, b, 1, alphas, weights), atol=1e-12)
    out = mlp.np_forward(x)[0][:, 1] - mlp.np_forward(b)[0][:, 1]
    np.testing.assert_allclose(N(e.delta), N(e).sum(1) - out, atol=1e-12)


def test_ig_completeness_residual_shrinks_with_steps(device):
    """Fact 1: sum(IG) -> F(x) - F(x'); |delta| falls as n_steps grows (smooth model)."""
    m = MLP(act="tanh", seed=3, device=device)
    x = T(np.random.default_rng(2).normal(size=(4, 5)) * 2, device=device)
    ig = X.IntegratedGradients(m)
    for rule in ("riemann_middle", "riemann_trapezoid", "gausslegendre"):
        worst = [ig.attribute(x, target=0, n_steps=n, method=rule).max_abs_delta()
                 for n in (2, 8, 32)]
        assert worst[0] > worst[1] > worst[2], (rule, worst)
    assert ig.attribute(x, target=0, n_steps=32).max_abs_delta() < 1e-10


def test_ig_adaptive_steps_reach_the_tolerance(device):
    m = MLP(act="tanh", seed=4, device=device)
    x = T(np.random.default_rng(3).normal(size=(2, 5)) * 2, device=device)
    e = X.IntegratedGradients(m).attribute(x, target=0, n_steps=2, method="riemann_middle",
                                           completeness_tol=1e-4)
    history = e.extras["convergence"]
    assert history[-1][1] <= 1e-4 < history[0][1]
    assert [n for n, _ in history] == [2 * 2 ** i for i in range(len(history))]
    assert e.params["n_steps"] == history[-1][0]


def relu(v):
    return v.relu()


@pytest.mark.parametrize("form", ["a", "b"])
def test_ig_closed_form_of_sundararajan(form, device):
    """Fact 2: F = ReLU(ReLU(x1) - 1 - ReLU(x2)) and ReLU(ReLU(x1 - 1) - ReLU(x2)) at (3, 1)
    with baseline 0 both give IG = (1.5, -0.5); riemann_middle with an even n is exact."""
    if form == "a":
        f = lambda x: relu(relu(x[:, 0]) - 1 - relu(x[:, 1]))  # noqa: E731
    else:
        f = lambda x: relu(relu(x[:, 0] - 1) - relu(x[:, 1]))  # noqa: E731
    e = X.IntegratedGradients(f).attribute(T([[3.0, 1.0]], device=device), n_steps=100,
                                           method="riemann_middle")
    np.testing.assert_allclose(N(e), [[1.5, -0.5]], atol=1e-12)
    assert e.max_abs_delta() < 1e-12


def test_ig_is_one_where_the_gradient_is_zero(device):
    """Fact 2: F = 1 - ReLU(1 - x) at x = 2, x' = 0: IG = 1 while the gradient is 0."""
    f = lambda x: 1 - relu(1 - x[:, 0])  # noqa: E731
    x = T([[2.0]], device=device)
    assert N(X.Saliency(f).attribute(x, abs=False))[0, 0] == 0.0
    e = X.IntegratedGradients(f).attribute(x, n_steps=10, method="riemann_middle")
    np.testing.assert_allclose(N(e), [[1.0]], atol=1e-12)


@pytest.mark.parametrize("n_steps", [1, 2, 5, 50])
@pytest.mark.parametrize("rule", RULES)
def test_ig_on_a_linear_model_is_w_times_difference(rule, n_steps, device):
    """Fact 3 (IG part): for F = w.x + b, IG = w_i (x_i - x'_i) for any n_steps."""
    if rule == "riemann_trapezoid" and n_steps == 1:
        pytest.skip("the trapezoid rule needs two points")
    lin = Linear(device=device)
    rng = np.random.default_rng(5)
    x, b = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    e = X.IntegratedGradients(lin).attribute(T(x, device=device), baselines=T(b, device=device),
                                             n_steps=n_steps, method=rule)
    np.testing.assert_allclose(N(e), lin.w[:, 0] * (x - b), atol=1e-12)


def test_dummy_and_symmetry(device):
    """Fact 4: an ignored feature gets 0; symmetric features at equal values get equal IG."""
    f = lambda x: (x[:, 0] * x[:, 1]).tanh() + x[:, 0] * x[:, 1]  # noqa: E731  (x2 ignored)
    x = T([[0.7, 0.7, 5.0], [-1.2, -1.2, 3.0]], device=device)
    e = X.IntegratedGradients(f).attribute(x, n_steps=20)
    a = N(e)
    assert np.all(a[:, 2] == 0.0)
    np.testing.assert_allclose(a[:, 0], a[:, 1], rtol=1e-12)


def test_memory_does_not_grow_with_steps():
    """IntegratedGradients with 500 steps peaks at no more memory than with 50."""
    rng = np.random.default_rng(6)
    w1, w2 = T(rng.normal(size=(256, 256))), T(rng.normal(size=(256, 10)))
    model = lambda x: (x @ w1).relu() @ w2  # noqa: E731
    x = T(rng.normal(size=(16, 256)))
    ig = X.IntegratedGradients(model)
    peaks = {}
    for n in (50, 500):
        ig.attribute(x, target=0, n_steps=8)  # warm up caches
        tracemalloc.start()
        ig.attribute(x, target=0, n_steps=n)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[500] <= peaks[50] * 1.1, peaks


def test_chunk_sizes_do_not_change_results(mlp, device):
    """Fact 13: internal_batch_size (rows per call) does not change IG or GradientShap."""
    rng = np.random.default_rng(7)
    x, b = T(rng.normal(size=(5, 5)), device=device), T(rng.normal(size=(5, 5)), device=device)
    ig = X.IntegratedGradients(mlp)
    ref = N(ig.attribute(x, baselines=b, target=2, n_steps=9))
    for size in (1, 3, 5, 7, 45, 1000):
        got = N(ig.attribute(x, baselines=b, target=2, n_steps=9, internal_batch_size=size))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-13)
    gs = X.GradientShap(mlp)
    dist = T(rng.normal(size=(4, 5)), device=device)
    ref = gs.attribute(x, baselines=dist, n_samples=6, stdevs=0.1, target=1, seed=9)
    for size in (1, 4, 30):
        got = gs.attribute(x, baselines=dist, n_samples=6, stdevs=0.1, target=1, seed=9,
                           internal_batch_size=size)
        np.testing.assert_allclose(N(got), N(ref), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(N(got.stderr), N(ref.stderr), rtol=1e-9, atol=1e-13)


def test_gradient_shap_matches_the_numpy_formula(mlp, device):
    """GradientSHAP = mean_j dF/dx(b_j + a_j (x + e_j - b_j)) * (x + e_j - b_j), with the draws
    documented: seed -> baseline index, alpha, noise (shared by the examples)."""
    rng = np.random.default_rng(8)
    x, dist = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    n, sd, seed = 7, 0.2, 123
    e = X.GradientShap(mlp).attribute(T(x, device=device), baselines=T(dist, device=device),
                                      n_samples=n, stdevs=sd, target=0, seed=seed)
    r = np.random.default_rng(seed)
    pick = r.integers(0, 4, size=(n, 1))[:, 0]
    alpha = r.uniform(0.0, 1.0, size=(n, 1))[:, 0]
    noise = r.standard_normal((n, 5)) * sd
    terms = []
    for j in range(n):
        xt = x + noise[j]
        b = dist[pick[j]]
        terms.append(mlp.np_grad(b + alpha[j] * (xt - b), 0) * (xt - b))
    terms = np.stack(terms)
    np.testing.assert_allclose(N(e), terms.mean(0), atol=1e-12)
    np.testing.assert_allclose(N(e.stderr), terms.std(0, ddof=1) / np.sqrt(n), atol=1e-12)
    f = lambda v: mlp.np_forward(v)[0][:, 0]  # noqa: E731
    ref = np.mean([f(np.tile(dist[p], (3, 1))) for p in pick], 0)
    np.testing.assert_allclose(N(e.delta), terms.mean(0).sum(1) - (f(x) - ref), atol=1e-12)


def test_gradient_shap_on_linear_model_is_expected_difference(device):
    lin = Linear(device=device)
    rng = np.random.default_rng(10)
    x, dist = rng.normal(size=(2, 6)), rng.normal(size=(50, 6))
    e = X.GradientShap(lin).attribute(T(x, device=device), baselines=T(dist, device=device),
                                      n_samples=50, seed=0)
    r = np.random.default_rng(0)
    pick = r.integers(0, 50, size=(50, 1))[:, 0]
    np.testing.assert_allclose(N(e), lin.w[:, 0] * (x - dist[pick].mean(0)), atol=1e-12)
    assert e.max_abs_delta() < 1e-12


@pytest.mark.parametrize("n", [1, 4, 9])
def test_smoothgrad_with_zero_noise_is_the_gradient(n, mlp, device):
    """Fact 9: sigma = 0 gives the gradient for any number of samples."""
    x = np.random.default_rng(11).normal(size=(3, 5))
    e = X.NoiseTunnel(X.Saliency(mlp)).attribute(T(x, device=device), nt_samples=n, stdevs=0.0,
                                                 target=1, abs=False)
    np.testing.assert_allclose(N(e), mlp.np_grad(x, 1), atol=1e-12)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 10.0])
def test_smoothgrad_on_linear_model_is_the_gradient_and_vargrad_zero(sigma, device):
    """Fact 9: on a linear F SmoothGrad equals the gradient for any sigma; VarGrad is 0."""
    lin = Linear(device=device)
    x = T(np.random.default_rng(12).normal(size=(2, 6)), device=device)
    nt = X.NoiseTunnel(X.Saliency(lin))
    sg = nt.attribute(x, nt_samples=7, stdevs=sigma, abs=False)
    np.testing.assert_allclose(N(sg), np.tile(lin.w[:, 0], (2, 1)), rtol=1e-12)
    vg = nt.attribute(x, nt_type="vargrad", nt_samples=7, stdevs=sigma, abs=False)
    np.testing.assert_allclose(N(vg), 0.0, atol=1e-12)
    sq = nt.attribute(x, nt_type="smoothgrad_sq", nt_samples=7, stdevs=sigma, abs=False)
    np.testing.assert_allclose(N(sq), np.tile(lin.w[:, 0] ** 2, (2, 1)), rtol=1e-12)


def test_noise_tunnel_matches_numpy_and_batches_do_not_matter(mlp, device):
    x = np.random.default_rng(13).normal(size=(3, 5))
    nt = X.NoiseTunnel(X.Saliency(mlp))
    seed, n, sd = 5, 6, 0.3
    grads = np.stack([mlp.np_grad(x + eps, 2) for eps in
                      np.random.default_rng(seed).standard_normal((n, 5)) * sd])
    for kind, ref, err in [
            ("smoothgrad", grads.mean(0), grads.std(0, ddof=1) / np.sqrt(n)),
            ("smoothgrad_sq", (grads ** 2).mean(0), (grads ** 2).std(0, ddof=1) / np.sqrt(n)),
            ("vargrad", grads.var(0), None)]:
        for bs in (None, 1, 4):
            e = nt.attribute(T(x, device=device), nt_type=kind, nt_samples=n, stdevs=sd, target=2,
                             abs=False, seed=seed, nt_samples_batch_size=bs)
            np.testing.assert_allclose(N(e), ref, atol=1e-12)
            if err is not None:
                np.testing.assert_allclose(N(e.stderr), err, atol=1e-12)
    mu4 = ((grads - grads.mean(0)) ** 4).mean(0)
    e = nt.attribute(T(x, device=device), nt_type="vargrad", nt_samples=n, stdevs=sd, target=2,
                     abs=False, seed=seed)
    np.testing.assert_allclose(N(e.stderr), np.sqrt((mu4 - grads.var(0) ** 2) / (n - 1)),
                               atol=1e-12)


def test_noise_tunnel_over_integrated_gradients_keeps_the_residual(mlp, device):
    x = T(np.random.default_rng(14).normal(size=(2, 5)), device=device)
    e = X.NoiseTunnel(X.IntegratedGradients(mlp)).attribute(x, nt_samples=3, stdevs=0.1,
                                                            target=0, n_steps=64, seed=1)
    assert e.delta is not None and e.max_abs_delta() < 1e-2
    assert e.params["base"] == "integrated_gradients"
    by_name = X.explain(mlp, x, method="noise_tunnel", init={"base": "integrated_gradients"},
                        nt_samples=3, stdevs=0.1, target=0, n_steps=64, seed=1)
    np.testing.assert_allclose(N(by_name), N(e), atol=1e-14)


def test_float32_inputs_give_float32_attributions(mlp, device):
    w = corefw.tensor(np.ones((5, 2), np.float32), device=device)
    x = corefw.tensor(np.ones((2, 5), np.float32), device=device)
    e = X.IntegratedGradients(lambda v: v @ w).attribute(x, target=0, n_steps=4)
    assert e.attributions.dtype == corefw.float32


def test_noise_tunnel_draws_baselines_from_a_distribution(device):
    """draw_baseline_from_distrib: each sample uses one baseline of the distribution; with no
    noise on a linear model the result is w (x - mean of the drawn baselines)."""
    lin = Linear(device=device)
    rng = np.random.default_rng(15)
    x, dist = rng.normal(size=(2, 6)), rng.normal(size=(5, 6))
    seed, n = 4, 6
    e = X.NoiseTunnel(X.IntegratedGradients(lin)).attribute(
        T(x, device=device), nt_samples=n, stdevs=0.0, draw_baseline_from_distrib=True,
        baselines=T(dist, device=device), seed=seed, n_steps=2)
    r = np.random.default_rng(seed)
    r.standard_normal((n, 6))  # the (zero) noise is drawn first
    pick = r.integers(0, 5, size=(n, 1))[:, 0]
    np.testing.assert_allclose(N(e), lin.w[:, 0] * (x - dist[pick].mean(0)), atol=1e-12)
