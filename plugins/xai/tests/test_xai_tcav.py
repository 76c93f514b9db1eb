"""TCAV on a model whose concept direction is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_xai import _tcav
from corefw_xai._tcav import TCAV, Concept, DefaultClassifier, tcav_significance, welch_t_test

import corefw
from corefw import nn


def _model():
    """x (6) -> Linear -> Tanh (the layer) -> Linear (2 classes). Class 0's weight is the
    concept direction ``u`` in activation space, class 1's is ``-u``."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    w1 = rng.normal(size=(4, 6)) * 0.3
    u_in = np.array([1.0, -1.0, 0.5, 0.0, 0.0, 0.0])
    u = np.tanh(w1 @ (3 * u_in))  # the concept's shift at the layer (tanh(0) = 0)
    u /= np.linalg.norm(u)
    with corefw.no_grad():
        model[0].weight.copy_(corefw.tensor(w1))
        model[0].bias.zero_()
        model[2].weight.copy_(corefw.tensor(np.stack([u, -u])))
        model[2].bias.zero_()
    return model, u_in, u


def _concept(cid, name, seed, shift=None, n=40):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) * 0.5
    if shift is not None:
        x = x + 3 * shift
    return Concept(cid, name, corefw.tensor(x))


def test_cav_points_along_the_concept_and_scores_are_exact():
    model, u_in, u = _model()
    stripes = _concept(0, "stripes", 1, u_in)
    rnd = _concept(1, "random", 2)
    tcav = TCAV(model, ["1"])
    inputs = corefw.tensor(np.random.default_rng(3).normal(size=(10, 6)))
    cavs = tcav.compute_cavs([[stripes, rnd]])
    cav = cavs["0-1"]["1"]
    w = cav.stats["weights"]
    assert w.shape == (2, 4) and cav.stats["classes"] == [0, 1]
    np.testing.assert_allclose(w[0], -w[1])  # Captum's two-class convention
    # the CAV of "stripes" points from random towards stripes: along u
    cos = w[0] @ u / np.linalg.norm(w[0])
    assert cos > 0.9, cos
    assert cav.stats["accs"] == 1.0
    scores = tcav.interpret(inputs, [[stripes, rnd]], target=0)
    # grad of class 0 w.r.t. the layer is u everywhere: d = u . cav > 0 for every input
    sc = scores["0-1"]["1"]
    np.testing.assert_array_equal(sc["sign_count"].numpy(), [1.0, 0.0])
    # magnitude: the mean directional derivative, here u . cav for both concepts' CAVs
    np.testing.assert_allclose(sc["magnitude"].numpy(), [w[0] @ u, w[1] @ u], rtol=1e-12)
    sc1 = tcav.interpret(inputs, [[stripes, rnd]], target=1)["0-1"]["1"]
    np.testing.assert_array_equal(sc1["sign_count"].numpy(), [0.0, 1.0])


def test_scores_match_hand_computed_directional_derivatives():
    """A model where the gradient at the layer varies per input: scores from numpy."""
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2), nn.Tanh(),
                          nn.Linear(2, 1)).double()
    rng = np.random.default_rng(5)
    c0 = Concept(5, "a", corefw.tensor(rng.normal(size=(30, 3)) + 1.0))
    c1 = Concept(7, "b", corefw.tensor(rng.normal(size=(30, 3)) - 1.0))
    x = corefw.tensor(rng.normal(size=(25, 3)) * 2)
    tcav = TCAV(model, [model[1]])
    res = tcav.interpret(x, [[c0, c1]])
    cav = tcav.cavs["5-7"]["1"].stats["weights"]
    w2, w3 = model[2].weight.detach().numpy(), model[4].weight.detach().numpy()
    b2 = model[2].bias.detach().numpy()
    with corefw.no_grad():
        h = model[1](model[0](x)).numpy()
    z = h @ w2.T + b2
    grad = (w3 * (1 - np.tanh(z) ** 2)) @ w2  # dF/dh per input (25, 3)
    d = grad @ cav.T
    sc = res["5-7"]["1"]
    np.testing.assert_allclose(sc["sign_count"].numpy(), np.mean(d > 0, 0))
    np.testing.assert_allclose(sc["magnitude"].numpy(), d.mean(0), rtol=1e-12)


def test_logistic_classifier_reaches_the_regularised_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = np.where(x @ [1.0, -2.0, 0.5] + rng.normal(size=60) > 0, 4, 9)
    clf = DefaultClassifier(alpha=0.01, test_split_ratio=0.0)
    clf.train_and_eval(x, y)
    w = clf.weights()[1]
    xb = np.concatenate([x, np.ones((60, 1))], 1)
    wb = np.concatenate([w, [clf._newton(xb, (y == 9).astype(float))[-1]]])
    p = 1 / (1 + np.exp(-(xb @ wb)))
    grad = xb.T @ (p - (y == 9)) / 60 + 0.01 * np.concatenate([w, [0.0]])
    np.testing.assert_allclose(grad, 0.0, atol=1e-9)  # stationary point of the objective
    assert clf.classes() == [4, 9]
    multi = DefaultClassifier(test_split_ratio=0.3)
    y3 = np.argmax(x @ rng.normal(size=(3, 3)), 1)
    acc = multi.train_and_eval(x, y3)["accs"]
    assert multi.weights().shape == (3, 3) and acc > 0.7


def test_significance_separates_a_real_concept_from_a_random_one():
    model, u_in, _ = _model()
    tcav = TCAV(model, ["1"])
    inputs = corefw.tensor(np.random.default_rng(3).normal(size=(20, 6)))
    randoms = [_concept(10 + i, f"random{i}", 100 + i, n=15) for i in range(6)]
    real = tcav_significance(tcav, inputs, _concept(0, "stripes", 1, u_in), randoms, target=0)
    assert real.significant and np.all(real.concept_scores == 1.0), real.summary()
    fake = tcav_significance(tcav, inputs, _concept(1, "noise", 7, n=15), randoms, target=0)
    assert not fake.significant, fake.summary()
    assert "NOT significant" in fake.summary()


def test_welch_t_test_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n1, n2 in [(3, 4), (5, 5), (10, 30)]:
        a, b = rng.normal(size=n1), rng.normal(0.7, 2.0, size=n2)
        t, p = welch_t_test(a, b)
        ref = stats.ttest_ind(a, b, equal_var=False)
        np.testing.assert_allclose([t, p], [ref.statistic, ref.pvalue], rtol=1e-9)
    assert welch_t_test([1, 1], [1, 1]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        welch_t_test([1.0], [1.0, 2.0])


def test_errors_name_the_problem():
    model, u_in, _ = _model()
    with pytest.raises(_tcav.XaiError, match="not a submodule"):
        TCAV(model, ["nope"])
    c = _concept(0, "a", 1)
    with pytest.raises(_tcav.XaiError, match="distinct"):
        TCAV(model, ["1"]).compute_cavs([[c, c]])
    with pytest.raises(ValueError, match="at least 3 random"):
        tcav_significance(TCAV(model, ["1"]), c.data_iter, c, [c], target=0)
