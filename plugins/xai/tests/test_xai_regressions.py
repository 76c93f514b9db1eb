"""Regression tests of round 2 (issue 15): each bug with its hand-computed expected values."""

from __future__ import annotations

import warnings

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai.errors import CompletenessWarning
from xai_models import N, T

import corefw


def _sum(x):
    return x.reshape(x.shape[0], -1).sum(1)


@pytest.mark.parametrize("length,window,stride,expected", [
    # Captum: windows at 0, 2, 4 and a cut-off last window at 6 covering [6, 7]
    (8, 3, 2, [3, 3, 3, 3, 3, 3, 2.5, 2]),
    # windows at 0, 3 and a cut-off one at 6 (elements 6 and 7 lose only 2)
    (8, 3, 3, [3, 3, 3, 3, 3, 3, 2, 2]),
    # the stride lands on n - w exactly: no cut-off window
    (7, 3, 2, [3, 3, 3, 3, 3, 3, 3]),
])
def test_occlusion_adds_captums_cut_off_last_window(length, window, stride, expected):
    e = X.Occlusion(_sum).attribute(T(np.ones((1, length))), sliding_window_shapes=(window,),
                                    strides=stride)
    assert np.array_equal(N(e)[0], np.array(expected, dtype=float))


def test_occlusion_cut_off_window_in_two_dims():
    # 3x3 input, 2x2 windows, stride 2: windows at (0,0), (0,2), (2,0), (2,2); the last three
    # are cut off to 2x1, 1x2 and 1x1 elements; f = sum of ones
    e = X.Occlusion(_sum).attribute(T(np.ones((1, 3, 3))), sliding_window_shapes=(2, 2),
                                    strides=2)
    assert np.array_equal(N(e)[0], [[4, 4, 2], [4, 4, 2], [2, 2, 1]])


@pytest.mark.parametrize("seed", range(6))
def test_feature_permutation_never_uses_the_identity(seed):
    # with 2 examples the only non-identity permutation swaps them, so for F = x . w every
    # feature gets phi[0, j] = w_j (x_0j - x_1j) and phi[1, j] = -phi[0, j] (never 0)
    w = np.arange(1.0, 9.0)
    x = np.arange(16.0).reshape(2, 8)
    e = X.FeaturePermutation(lambda t: (t * T(w)).sum(1)).attribute(T(x), seed=seed)
    assert np.array_equal(N(e), np.stack([-8 * w, 8 * w]))
    assert all(not np.array_equal(p, [0, 1]) for p in e.extras["permutations"])


W2 = np.array([[1.0, -2.0], [0.5, 1.0], [-1.0, 3.0]])


def _relu_net(x):
    return (x @ T(W2)).relu()


X2 = np.array([[2.0, 1.0, 1.0], [-1.0, 0.0, 0.5]])
B2 = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_deeplift_custom_attribution_func_with_one_two_and_three_arguments():
    # F = relu(x . W2[:, 0]); at X2, B2: z = 1.5, -1.5 (example 0, 1) and z' = 0.5, 1 ->
    # F - F' = 1 and -1, multipliers m = W2[:, 0] (F - F') / (z - z') = W2[:, 0] * 1 and * 0.4
    m = np.stack([W2[:, 0], W2[:, 0] * 0.4])
    dl = X.DeepLift(_relu_net)
    one = dl.attribute(T(X2), T(B2), target=0, custom_attribution_func=lambda ms: ms)
    assert np.allclose(N(one), m, atol=1e-12)
    two = dl.attribute(T(X2), T(B2), target=0,
                       custom_attribution_func=lambda ms, xs: tuple(a * x for a, x in zip(ms,
                                                                                          xs)))
    assert np.allclose(N(two), m * X2, atol=1e-12)
    three = dl.attribute(T(X2), T(B2), target=0,
                         custom_attribution_func=lambda ms, xs, bs: tuple(
                             2 * a * (x - b) for a, x, b in zip(ms, xs, bs)))
    assert np.allclose(N(three), 2 * m * (X2 - B2), atol=1e-12)
    # the residual is computed from the custom attributions: 2 (F - F') - (F - F')
    assert np.allclose(N(three.delta), [1.0, -1.0], atol=1e-12)
    with pytest.raises(TypeError, match="1 to 3 arguments"):
        dl.attribute(T(X2), target=0, custom_attribution_func=lambda a, b, c, d: a)


def test_deeplift_shap_custom_attribution_func():
    # baselines B2 as a distribution (z' = 0.5 and 1). Example 0 (z = 1.5): multipliers
    # 1 / 1 and 0.5 / 0.5, mean 1. Example 1 (z = -1.5): -0.5 / -2 = 0.25 and -1 / -2.5 = 0.4,
    # mean 0.325; the custom function returns the multipliers alone
    e = X.DeepLiftShap(_relu_net).attribute(T(X2), T(B2), target=0,
                                            custom_attribution_func=lambda ms: ms)
    assert np.allclose(N(e), np.outer([1.0, 0.325], W2[:, 0]), atol=1e-12)


def test_completeness_tol_not_reached_warns_with_the_delta_and_tolerance():
    # F = sum(x^3) from 0 to x = 1: left Riemann sums of 3 a^2 with n steps give
    # (n - 1)(2n - 1) / (2 n^2), so at n = 8 the residual is -(3n - 1)/(2n^2) = -23/128
    f = lambda t: (t * t * t).sum(1)  # noqa: E731
    ig = X.IntegratedGradients(f)
    with pytest.warns(CompletenessWarning, match=r"completeness_tol=1e-06 not reached: "
                                                 r"max \|delta\| = 0\.18 at n_steps=8"):
        e = ig.attribute(T(np.ones((1, 1))), n_steps=2, method="riemann_left",
                         completeness_tol=1e-6, max_steps=8)
    assert e.params["n_steps"] == 8
    assert np.allclose(N(e.delta), [-23 / 128], atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reached: no warning
        ig.attribute(T(np.ones((1, 1))), n_steps=2, completeness_tol=1e-6)


def test_results_are_detached_even_when_inputs_require_grad():
    x = T(np.array([[1.0, 2.0], [3.0, -1.0]]), requires_grad=True)
    f = lambda t: (t * t).sum(1)  # noqa: E731
    for e in (X.IntegratedGradients(f).attribute(x, n_steps=4),
              X.DeepLift(f).attribute(x),
              X.GradientShap(f).attribute(x, baselines=T(np.zeros((2, 2))), seed=0),
              X.InputXGradient(f).attribute(x)):
        assert not e.attributions.requires_grad
        assert e.delta is None or not e.delta.requires_grad
        e.numpy()
        if e.delta is not None:
            e.delta.numpy()  # raised for IntegratedGradients before
    # IG of sum(x^2) from 0 with Gauss-Legendre (exact for this polynomial): x^2, delta 0
    e = X.IntegratedGradients(f).attribute(x, n_steps=4)
    assert np.allclose(N(e), N(x) ** 2) and np.allclose(e.delta.numpy(), 0.0, atol=1e-12)
    assert isinstance(e.delta, corefw.Tensor)


def _twins():
    f64 = corefw.float64
    corefw.manual_seed(11)
    mlp = corefw.nn.Sequential(corefw.nn.Linear(6, 3, dtype=f64), corefw.nn.Tanh(),
                               corefw.nn.Linear(3, 2, dtype=f64))
    cnn = corefw.nn.Sequential(corefw.nn.Conv2d(4, 2, 3, padding=1, dtype=f64),
                               corefw.nn.ReLU(), corefw.nn.Flatten(),
                               corefw.nn.Linear(2 * 5 * 5, 2, dtype=f64))
    rng = np.random.default_rng(12)
    return [(mlp, rng.normal(size=(3, 6))), (cnn, rng.normal(size=(3, 4, 5, 5)))]


@pytest.mark.parametrize("case", [0, 1])
def test_ig_through_the_first_affine_layer_equals_the_input_space_path(case):
    # a Sequential starting with a Linear / Conv2d no wider than its input integrates at that
    # layer's output and pulls back once; a plain function of the same model walks the path
    # in input space: the same integral
    model, x = _twins()[case]
    plain = lambda v: model(v)  # noqa: E731 - not a Sequential: the input-space path
    opts = {"baselines": T(x * 0.3), "targets": [0, 1], "n_steps": 9,
            "internal_batch_size": 7}
    seen = []
    handle = model[0].register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    a = X.IntegratedGradients(model).attribute(T(x), **opts)
    # 6 rows once: F at the 3 inputs and 3 baselines in one call; never on the chunks of
    # steps (6 rows each: 2 steps x 3 examples), which start at the layer's output
    assert max(seen) == 6 and seen.count(6) == 1
    seen.clear()
    b = X.IntegratedGradients(plain).attribute(T(x), **opts)
    assert seen.count(6) == 1 + 4  # and the chunks of steps (9 steps: 4 x 2 and 1)
    handle.remove()
    np.testing.assert_allclose(N(a), N(b), atol=1e-12)
    np.testing.assert_allclose(N(a.delta), N(b.delta), atol=1e-12)
    assert a.n_evals == b.n_evals
    m = X.IntegratedGradients(model, multiply_by_inputs=False).attribute(T(x), **opts)
    np.testing.assert_allclose(N(m), N(X.IntegratedGradients(plain, multiply_by_inputs=False)
                                       .attribute(T(x), **opts)), atol=1e-12)
