"""LRP through max and average pooling (zennit's winner-take-all and proportional rules) and
Captum's rule names, on hand-computed cases."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from xai_models import N, T

import corefw

nn = corefw.nn
SQUARE = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)


@pytest.mark.parametrize("pool,rule,expected", [
    # F = 2 * max = 8: all of it to the maximum, or in proportion to x / sum(x) = x / 10
    (nn.MaxPool2d(2), X.WinnerTakesAll(), [0, 0, 0, 8]),
    (nn.MaxPool2d(2), X.Norm(), [0.8, 1.6, 2.4, 3.2]),
    # F = 2 * mean = 5
    (nn.AvgPool2d(2), X.Norm(), [0.5, 1.0, 1.5, 2.0]),
    (nn.AvgPool2d(2), X.WinnerTakesAll(), [0, 0, 0, 5]),
])
def test_pooling_rules_by_hand(pool, rule, expected):
    model = lambda v: 2 * pool(v).reshape(v.shape[0], 1)  # noqa: E731
    for key in (type(pool), "max_pool2d" if isinstance(pool, nn.MaxPool2d) else "avg_pool2d"):
        e = X.LRP(model, composite=X.Composite({key: rule})).attribute(T(SQUARE), target=0)
        np.testing.assert_allclose(N(e).ravel(), expected, atol=1e-12)
        np.testing.assert_allclose(N(e.delta), 0.0, atol=1e-12)
        assert e.extras["layers"][0]["rule"] == repr(rule)


def test_pooling_defaults_are_winner_take_all_for_max_and_proportional_for_average():
    for pool, expected in ((nn.MaxPool2d(2), [0, 0, 0, 8]), (nn.AvgPool2d(2), [0.5, 1, 1.5, 2])):
        model = lambda v, p=pool: 2 * p(v).reshape(v.shape[0], 1)  # noqa: E731
        e = X.LRP(model, rule=X.Epsilon(0.0)).attribute(T(SQUARE), target=0)
        np.testing.assert_allclose(N(e).ravel(), expected, atol=1e-12)


def _cnn(pool1, pool2):
    corefw.manual_seed(7)
    f64 = corefw.float64
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False, dtype=f64), nn.ReLU(),
                         pool1, nn.Conv2d(3, 4, 3, padding=1, bias=False, dtype=f64),
                         nn.ReLU(), pool2, nn.Flatten(),
                         nn.Linear(4 * 4, 3, bias=False, dtype=f64)).eval()


@pytest.mark.parametrize("rule", [X.WinnerTakesAll(), X.Norm()])
def test_relevance_is_conserved_through_pooling(rule):
    # bias-free ReLU CNN with LRP-0: every layer, the pools included, passes on exactly the
    # relevance it receives (overlapping 3x3 / stride 2 max windows and 2x2 average windows)
    net = _cnn(nn.MaxPool2d(3, stride=2, padding=1), nn.AvgPool2d(2))
    x = T(np.random.default_rng(0).uniform(size=(3, 1, 8, 8)))
    comp = X.Composite({nn.MaxPool2d: rule, nn.AvgPool2d: rule}, default=X.Epsilon(0.0))
    e = X.LRP(net, composite=comp).attribute(x, target=1)
    np.testing.assert_allclose(N(e.delta), 0.0, atol=1e-10)
    pools = [r for r in e.extras["layers"] if r["op"] in ("max_pool2d", "avg_pool2d")]
    assert len(pools) == 2 and all(r["rule"] == repr(rule) for r in pools)
    for r in e.extras["layers"]:
        np.testing.assert_allclose(r["relevance_in"], r["relevance_out"], atol=1e-10)
    # with the defaults (winner-take-all on max, proportional on average pooling, both what
    # the gradient does there) LRP-0 is gradient x input
    default = X.LRP(net, rule=X.Epsilon(0.0)).attribute(x, target=1)
    ixg = X.InputXGradient(net).attribute(x, target=1)
    np.testing.assert_allclose(N(default), N(ixg), atol=1e-10)


def _one_layer(bias=True):
    lin = nn.Linear(3, 1, bias=bias, dtype=corefw.float64)
    with corefw.no_grad():
        lin.weight.copy_(T([[1.0, -2.0, 0.5]]))
        if bias:
            lin.bias.copy_(T([0.75]))
    return lin


X1 = np.array([[2.0, 1.0, 4.0]])   # x w = 2 - 2 + 2 = 2, F = 2.75


def test_captum_rule_names_and_their_bias_handling():
    lin = _one_layer()
    w, b, f = np.array([1.0, -2.0, 0.5]), 0.75, 2.75
    run = lambda rule: N(X.LRP(lin, rule=rule).attribute(T(X1), target=0))[0]  # noqa: E731
    # EpsilonRule: Captum's default epsilon 1e-9
    np.testing.assert_allclose(run(X.EpsilonRule()), X1[0] * w * f / (2.0 + b), atol=1e-8)
    assert X.EpsilonRule().epsilon == 1e-9
    # GammaRule (Captum): w' = w + g w+, bias unchanged; Gamma (zennit) raises the bias too
    g = 0.25
    wg = w + g * np.clip(w, 0, None)
    np.testing.assert_allclose(run(X.GammaRule(g)), X1[0] * wg * f / (X1[0] @ wg + b),
                               atol=1e-8)
    np.testing.assert_allclose(run(X.GammaRule(g, set_bias_to_zero=True)),
                               X1[0] * wg * f / (X1[0] @ wg), atol=1e-8)
    np.testing.assert_allclose(run(X.Gamma(g, epsilon=0.0)),
                               X1[0] * wg * f / (X1[0] @ wg + b * (1 + g)), atol=1e-12)
    # Alpha1_Beta0_Rule (Captum): positive weights, bias kept; ZPlus (zennit) drops the bias
    wp = np.clip(w, 0, None)
    np.testing.assert_allclose(run(X.Alpha1_Beta0_Rule()), X1[0] * wp * f / (X1[0] @ wp + b),
                               atol=1e-8)
    np.testing.assert_allclose(run(X.ZPlus(epsilon=0.0)), X1[0] * wp * f / (X1[0] @ wp),
                               atol=1e-12)
    # IdentityRule: Pass
    assert isinstance(X.IdentityRule(), X.Pass)


def test_captum_module_rule_attribute_is_honoured():
    lin = _one_layer()
    lin.rule = X.Alpha1_Beta0_Rule(set_bias_to_zero=True)
    wp = np.array([1.0, 0.0, 0.5])
    e = X.LRP(lin).attribute(T(X1), target=0)
    np.testing.assert_allclose(N(e)[0], X1[0] * wp * 2.75 / (X1[0] @ wp), atol=1e-8)


def test_a_pooling_rule_on_a_dense_layer_is_a_typed_error():
    lin = _one_layer()
    with pytest.raises(TypeError, match="pooling rule"):
        X.LRP(lin, rule=X.Norm()).attribute(T(X1), target=0)
