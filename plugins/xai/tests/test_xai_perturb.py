"""Perturbation and Shapley methods against numpy references (facts 3, 4, 6, 13)."""

from __future__ import annotations

import itertools
import math

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai._perturb import rise_masks, upsample_masks
from corefw_xai._shapley import weighted_lasso
from xai_models import MLP, Linear, N, T


def np_f(mlp, x, k=0):
    return mlp.np_forward(x.reshape(x.shape[0], -1))[0][:, k]


def np_shapley(f, x, b, groups):
    """Exact Shapley values by averaging marginal contributions over all orderings."""
    m = len(groups)
    phi = np.zeros((x.shape[0], m))
    for perm in itertools.permutations(range(m)):
        cur = b.copy()
        prev = f(cur)
        for g in perm:
            cur[:, groups[g]] = x[:, groups[g]]
            now = f(cur)
            phi[:, g] += now - prev
            prev = now
    return phi / math.factorial(m)


def test_occlusion_matches_numpy_windows(mlp, device):
    model = lambda v: mlp(v.reshape(v.shape[0], -1)[:, :5])  # noqa: E731
    x = np.random.default_rng(0).normal(size=(2, 2, 3))
    for win, stride in [((1, 1), 1), ((2, 2), 1), ((2, 2), (1, 2)), ((2, 3), 1)]:
        e = X.Occlusion(model).attribute(T(x, device=device), sliding_window_shapes=win,
                                         strides=stride, baselines=0.5, target=1)
        st = stride if isinstance(stride, tuple) else (stride, stride)
        acc, cnt = np.zeros_like(x), np.zeros(x.shape[1:])
        f0 = np_f(mlp, x[:, :].reshape(2, -1)[:, :5], 1)
        # Captum's starts: ceil((n - w) / s) + 1 per dim, the last window cut off at the edge
        for i in range(0, st[0] * math.ceil((2 - win[0]) / st[0]) + 1, st[0]):
            for j in range(0, st[1] * math.ceil((3 - win[1]) / st[1]) + 1, st[1]):
                xo = x.copy()
                xo[:, i:i + win[0], j:j + win[1]] = 0.5
                d = f0 - np_f(mlp, xo.reshape(2, -1)[:, :5], 1)
                acc[:, i:i + win[0], j:j + win[1]] += d[:, None, None]
                cnt[i:i + win[0], j:j + win[1]] += 1
        np.testing.assert_allclose(N(e), acc / np.maximum(cnt, 1), atol=1e-12)


def test_linear_model_occlusion_ablation_kernelshap_equal_w_times_difference(device):
    """Fact 3: on F = w.x + b, single-feature occlusion = feature ablation = KernelSHAP (exact
    and sampled) = Shapley sampling = w_i (x_i - x'_i)."""
    lin = Linear(d=12, device=device)
    rng = np.random.default_rng(1)
    x, b = rng.normal(size=(3, 12)), rng.normal(size=(3, 12))
    want = lin.w[:, 0] * (x - b)
    got = {
        "occlusion": X.Occlusion(lin).attribute(T(x, device=device), sliding_window_shapes=(1,),
                                                baselines=T(b, device=device)),
        "ablation": X.FeatureAblation(lin).attribute(T(x, device=device),
                                                     baselines=T(b, device=device)),
        "kernel_shap_sampled": X.KernelShap(lin).attribute(T(x, device=device),
                                                           baselines=T(b, device=device),
                                                           n_samples=60, seed=0),
        "kernel_shap_exact": X.KernelShap(lin).attribute(T(x, device=device),
                                                         baselines=T(b, device=device),
                                                         n_samples=5000),
        "shapley_sampling": X.ShapleyValueSampling(lin).attribute(T(x, device=device),
                                                                  baselines=T(b, device=device),
                                                                  n_samples=3, seed=0),
        "lime_linear": X.Lime(lin, interpretable_model="linear").attribute(
            T(x, device=device), baselines=T(b, device=device), n_samples=80, seed=0),
    }
    for name, e in got.items():
        np.testing.assert_allclose(N(e), want, atol=1e-9, err_msg=name)
    assert got["kernel_shap_exact"].params["exact"] is True
    assert got["kernel_shap_sampled"].params["exact"] is False


def test_feature_ablation_with_groups_matches_numpy(mlp, device):
    x = np.random.default_rng(2).normal(size=(3, 5))
    mask = np.array([[0, 0, 1, 2, 2]])
    e = X.FeatureAblation(mlp).attribute(T(x, device=device), target=2,
                                         feature_mask=T(mask, device=device).long(), baselines=-1.0)
    f0 = np_f(mlp, x, 2)
    ref = np.zeros_like(x)
    for g in range(3):
        xo = x.copy()
        xo[:, mask[0] == g] = -1.0
        ref[:, mask[0] == g] = (f0 - np_f(mlp, xo, 2))[:, None]
    np.testing.assert_allclose(N(e), ref, atol=1e-12)


@pytest.mark.parametrize("with_background", [False, True])
def test_exact_shapley_matches_brute_force_and_is_efficient(with_background, mlp, device):
    """Fact 6: efficiency sum(phi) = F(x) - E_b F(b); exact values by brute force."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5))
    groups = [[0], [1, 2], [3], [4]]
    mask = T(np.array([[0, 1, 1, 2, 3]]), device=device).long()
    f = lambda v: np_f(mlp, v, 0)  # noqa: E731
    if with_background:
        bg = rng.normal(size=(4, 5))
        e = X.ShapleyValues(mlp).attribute(T(x, device=device), target=0, feature_mask=mask,
                                           background=T(bg, device=device))
        ref = np.mean([np_shapley(f, x, np.tile(r, (2, 1)), groups) for r in bg], 0)
        expected = f(x) - f(bg).mean()
    else:
        b = rng.normal(size=(2, 5))
        e = X.ShapleyValues(mlp).attribute(T(x, device=device), target=0, feature_mask=mask,
                                           baselines=T(b, device=device))
        ref = np_shapley(f, x, b.copy(), groups)
        expected = f(x) - f(b)
    got = N(e)
    np.testing.assert_allclose(got[:, [0, 1, 3, 4]], ref, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], got[:, 2])
    np.testing.assert_allclose(got[:, [0, 1, 3, 4]].sum(1), expected, atol=1e-12)
    assert e.max_abs_delta() < 1e-12


def test_dummy_feature_gets_zero_shapley(device):
    """Fact 4 for the Shapley methods: a feature the model ignores gets exactly 0."""
    w = T(np.array([[1.0], [2.0], [0.0], [-1.0]]), device=device)
    f = lambda v: (v @ w).tanh() * (v[:, 0:1] + 1)  # noqa: E731  (feature 2 ignored)
    x = T(np.random.default_rng(4).normal(size=(2, 4)), device=device)
    for e in (X.ShapleyValues(f).attribute(x),
              X.ShapleyValueSampling(f).attribute(x, n_samples=7, seed=1),
              X.KernelShap(f).attribute(x, n_samples=100)):
        assert np.all(np.abs(N(e)[:, 2]) < 1e-12), e.method


def test_shapley_sampling_error_falls_as_one_over_sqrt_n(device):
    """Fact 6: exact Shapley on <= 10 features is the reference; the sampling error shrinks
    as 1/sqrt(n) and the reported standard error is calibrated."""
    m = MLP(sizes=(8, 6, 2), seed=5, act="tanh", device=device)
    rng = np.random.default_rng(5)
    x, bg = T(rng.normal(size=(2, 8)) * 2, device=device), T(rng.normal(size=(3, 8)), device=device)
    exact = N(X.ShapleyValues(m).attribute(x, target=1, background=bg))
    rms, covered = {}, []
    for n in (16, 256):
        errs = []
        for seed in range(12):
            e = X.ShapleyValueSampling(m).attribute(x, target=1, background=bg, n_samples=n,
                                                    seed=seed)
            errs.append(N(e) - exact)
            assert e.max_abs_delta() < 1e-12  # every ordering is exactly efficient
            if n == 256:
                covered.append(np.abs(N(e) - exact) <= 2.5 * N(e.stderr))
        rms[n] = np.sqrt(np.mean(np.square(errs)))
    assert 2.5 < rms[16] / rms[256] < 6.5, rms
    assert np.mean(covered) > 0.9


def test_kernel_shap_exact_enumeration_is_shapley_and_sampling_converges(mlp, device):
    rng = np.random.default_rng(6)
    x, bg = T(rng.normal(size=(2, 5)), device=device), T(rng.normal(size=(3, 5)), device=device)
    exact = N(X.ShapleyValues(mlp).attribute(x, target=0, background=bg))
    ks = X.KernelShap(mlp).attribute(x, target=0, background=bg, n_samples=30)
    assert ks.params["exact"]
    np.testing.assert_allclose(N(ks), exact, atol=1e-10)
    big = MLP(sizes=(10, 8, 2), seed=7, act="tanh", device=device)
    x10 = T(rng.normal(size=(2, 10)), device=device)
    ref = N(X.ShapleyValues(big).attribute(x10, target=1))
    errs = {}
    for n in (100, 1000):
        e = X.KernelShap(big).attribute(x10, target=1, n_samples=n, seed=3)
        assert e.max_abs_delta() < 1e-10
        errs[n] = np.sqrt(np.mean((N(e) - ref) ** 2))
        assert np.all(N(e.stderr) > 0)
    assert errs[1000] < errs[100] and errs[1000] < 0.02 * np.abs(ref).max() + 1e-3


def test_lime_matches_numpy_surrogate(mlp, device):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 5))
    n, seed, width, alpha = 60, 4, 0.7, 0.05
    z = (np.random.default_rng(seed).random((n, 5)) < 0.5).astype(float)
    for model in ("ridge", "linear"):
        lime = X.Lime(mlp, interpretable_model=model, alpha=alpha, kernel_width=width)
        e = lime.attribute(T(x, device=device), target=1, n_samples=n, seed=seed)
        for i in range(2):
            pert = z * x[i]
            y = np_f(mlp, pert, 1)
            den = np.linalg.norm(pert, axis=1) * np.linalg.norm(x[i])
            cos = np.where(den > 0, pert @ x[i] / np.where(den > 0, den, 1.0), 0.0)
            w = np.exp(-(1 - cos) ** 2 / (2 * width ** 2))
            w = w / w.sum()
            zc, yc = z - w @ z, y - w @ y
            a = zc.T @ (w[:, None] * zc) + (alpha if model == "ridge" else 0.0) * np.eye(5)
            coef = np.linalg.solve(a, zc.T @ (w * yc))
            np.testing.assert_allclose(N(e)[i], coef, rtol=1e-8, atol=1e-10)


def test_weighted_lasso_satisfies_kkt(device):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(40, 6))
    y = x @ np.array([1.5, 0.0, -2.0, 0.0, 0.3, 0.0]) + 0.1 * rng.normal(size=40)
    w = rng.uniform(0.2, 1.0, size=40)
    alpha = 0.05
    b, c = weighted_lasso(x, y, w, alpha, n_iter=5000, tol=1e-14)
    wn = w / w.sum()
    grad = x.T @ (wn * (y - x @ b - c))  # = alpha * sign(b) where b != 0, |.| <= alpha else
    active = b != 0
    np.testing.assert_allclose(grad[active], alpha * np.sign(b[active]), atol=1e-8)
    assert np.all(np.abs(grad[~active]) <= alpha + 1e-8)
    assert abs(wn @ (y - x @ b - c)) < 1e-10
    assert active.sum() < 6


def test_rise_matches_the_formula_with_its_masks(device):
    lin = Linear(d=36, outputs=2, device=device)
    model = lambda v: lin(v)  # noqa: E731
    x = np.random.default_rng(10).normal(size=(2, 1, 6, 6))
    seed, n, p, cells = 3, 50, 0.4, 3
    e = X.RISE(model).attribute(T(x, device=device), target=1, n_masks=n, p=p, mask_cells=cells,
                                seed=seed)
    grids, shifts = rise_masks(n, (6, 6), cells, p, np.random.default_rng(seed))
    masks = upsample_masks(grids, shifts, (6, 6))
    assert masks.shape == (n, 6, 6) and masks.min() >= 0 and masks.max() <= 1
    ref = np.zeros((2, 6, 6))
    terms = []
    for mk in masks:
        f = (x * mk).reshape(2, -1) @ lin.w[:, 1] + lin.b[1]
        terms.append(f[:, None, None] * mk / p)
    ref = np.mean(terms, 0)
    np.testing.assert_allclose(N(e)[:, 0], ref, atol=1e-12)
    np.testing.assert_allclose(N(e.stderr)[:, 0], np.std(terms, 0, ddof=1) / np.sqrt(n),
                               atol=1e-12)
    again = X.RISE(model).attribute(T(x, device=device), target=1, n_masks=n, p=p, mask_cells=cells,
                                    seed=seed, perturbations_per_eval=7)
    np.testing.assert_allclose(N(again), N(e), atol=1e-13)


def test_feature_permutation_permutes_within_the_batch(device):
    lin = Linear(d=4, device=device)
    x = np.random.default_rng(11).normal(size=(6, 4))
    e = X.FeaturePermutation(lin).attribute(T(x, device=device), seed=2)
    donor = x - N(e) / lin.w[:, 0]  # F(x) - F(x with feature i from another row)
    perms = e.extras["permutations"]
    for i in range(4):
        np.testing.assert_allclose(donor[:, i], x[perms[i], i], atol=1e-12)
        assert sorted(perms[i]) == list(range(6))


@pytest.mark.parametrize("name,opts", [
    ("occlusion", {"sliding_window_shapes": (2,)}),
    ("feature_ablation", {}),
    ("feature_permutation", {"seed": 1}),
    ("shapley_values", {}),
    ("shapley_value_sampling", {"n_samples": 4, "seed": 1}),
    ("kernel_shap", {"n_samples": 20, "seed": 1}),
    ("lime", {"n_samples": 20, "seed": 1}),
])
def test_perturbations_per_eval_does_not_change_results(name, opts, mlp, device):
    """Fact 13: the batch-size option of every sampling method leaves the result unchanged."""
    x = T(np.random.default_rng(12).normal(size=(3, 5)), device=device)
    ref = X.explain(mlp, x, method=name, target=0, **opts)
    for ppe in (1, 2, 13):
        got = X.explain(mlp, x, method=name, target=0, perturbations_per_eval=ppe, **opts)
        np.testing.assert_allclose(N(got), N(ref), atol=1e-12)
        assert got.n_evals == ref.n_evals


def test_kernel_shap_sampled_solution_is_the_constrained_least_squares(mlp, device):
    """The sampled KernelSHAP estimate solves min sum (v(S) - v(0) - z.phi)^2 subject to
    sum(phi) = v(1) - v(0): checked with the Lagrangian (KKT) system in numpy, on the same
    coalitions (paired draws from the kernel distribution, documented in kernel_coalitions)."""
    from corefw_xai._shapley import kernel_coalitions

    big = MLP(sizes=(7, 5, 2), seed=13, act="tanh", device=device)
    rng = np.random.default_rng(14)
    x, b = rng.normal(size=(2, 7)), rng.normal(size=(2, 7))
    e = X.KernelShap(big).attribute(T(x, device=device), baselines=T(b, device=device), target=1,
                                    n_samples=40, seed=5)
    z, w, exact = kernel_coalitions(7, 40, np.random.default_rng(5))
    assert not exact and len(z) == 40 and np.all(z[:20] + z[20:] == 1)
    f = lambda v: big.np_forward(v)[0][:, 1]  # noqa: E731
    for i in range(2):
        y = np.array([f((b[i] + zz * (x[i] - b[i]))[None])[0] for zz in z]) - f(b[i:i + 1])[0]
        total = f(x[i:i + 1])[0] - f(b[i:i + 1])[0]
        kkt = np.block([[2 * z.T @ z, np.ones((7, 1))], [np.ones((1, 7)), np.zeros((1, 1))]])
        sol = np.linalg.solve(kkt, np.concatenate([2 * z.T @ y, [total]]))
        np.testing.assert_allclose(N(e)[i], sol[:7], atol=1e-10)
