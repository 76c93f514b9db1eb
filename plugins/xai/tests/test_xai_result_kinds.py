"""TCAV, TracInCP and the LLM attributions in the explainer registry: found by name, listed by
``corefw plugins``, built by ``explain`` and returning their own result types, checked against
hand-computed values."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai._results import InfluenceScores, KMostInfluentialResults, TCAVScores
from corefw_xai._tcav import Concept
from corefw_xai._text import CharTokenizer, LLMAttributionResult, TextTokenInput
from corefw_xai.errors import XaiError

import corefw
from corefw import nn

KINDS = {"tcav": "concept", "tracin_cp": "data", "llm_attribution": "text",
         "llm_gradient_attribution": "text"}


def test_registered_by_name_with_their_kind_and_result_type():
    names = set(corefw.explainers())
    assert set(KINDS) <= names and set(KINDS) <= set(X.methods())
    assert X.lookup("tcav") is X.TCAV and X.lookup("tracin_cp") is X.TracInCP
    assert X.lookup("llm_attribution") is X.LLMAttribution
    assert X.lookup("llm_gradient_attribution") is X.LLMGradientAttribution
    for name, kind in KINDS.items():
        assert X.method_kind(name) == kind
    assert X.method_kind("integrated_gradients") == "feature"
    assert X.lookup("integrated_gradients").result_type is X.Explanation
    assert X.TCAV.result_type is TCAVScores and X.TracInCP.result_type is InfluenceScores
    assert X.LLMAttribution.result_type is LLMAttributionResult
    records = {r.name: r for r in corefw.plugins.plugin_records()}
    assert set(KINDS) <= set(records["xai"].registered["explainers"])


def test_corefw_plugins_lists_them(capsys):
    from corefw import cli

    assert cli.main(["plugins", "--json"]) == 0
    import json

    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(KINDS) <= set(rows["xai"]["registers"]["explainers"])


def _tcav_model():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    rng = np.random.default_rng(5)
    c0 = Concept(5, "up", corefw.tensor(rng.normal(size=(30, 3)) + 1.0))
    c1 = Concept(7, "down", corefw.tensor(rng.normal(size=(30, 3)) - 1.0))
    return model, c0, c1, corefw.tensor(rng.normal(size=(25, 3)) * 2)


def test_tcav_by_name_returns_tcav_scores_equal_to_hand_computed():
    model, c0, c1, x = _tcav_model()
    res = X.explain(model, x, method="tcav", init={"layers": ["1"]},
                    experimental_sets=[[c0, c1]], target=0)
    assert isinstance(res, TCAVScores) and isinstance(res, dict)
    tcav = X.TCAV(model, ["1"])
    tcav.compute_cavs([[c0, c1]])
    cav = tcav.cavs["5-7"]["1"].stats["weights"]
    # dF/dh for F = w2 . tanh-layer output h: w2, the same for every input
    d = np.repeat(model[2].weight.detach().numpy(), 25, 0) @ cav.T
    np.testing.assert_array_equal(res.score("5-7", "1"), np.mean(d > 0, 0))
    np.testing.assert_allclose(res.score("5-7", score_type="magnitude"), d.mean(0), rtol=1e-12)
    assert res.concepts == {"5-7": ["up", "down"]} and res.layers == ["1"] and res.target == 0
    rows = res.rows()
    assert [r[2] for r in rows] == ["up", "down"]
    assert "up" in res.summary() and "sign_count" in res.summary()
    with pytest.raises(KeyError, match="no experimental set"):
        res.score("1-2")
    with pytest.raises(XaiError, match="score_type"):
        res.score("5-7", score_type="size")


def test_tracin_by_name_returns_influence_scores_equal_to_the_closed_form():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    xt, yt = rng.normal(size=(2, 3)), rng.normal(size=(2, 1))
    w, b, lr = rng.normal(size=(1, 3)), rng.normal(size=1), 0.3
    state = {"model_state_dict": {"weight": corefw.tensor(w), "bias": corefw.tensor(b)},
             "learning_rate": lr}
    model = nn.Linear(3, 1).double()
    res = X.explain(model, (corefw.tensor(xt), corefw.tensor(yt)), method="tracin_cp",
                    init={"train_dataset": (corefw.tensor(x), corefw.tensor(y)),
                          "checkpoints": [state], "loss_fn": nn.MSELoss(reduction="sum")})
    assert isinstance(res, InfluenceScores)

    def grad(xs, ys):  # d/d(w, b) of (w.x + b - y)^2 = 2 r [x, 1]
        return 2 * (xs @ w.T + b - ys) * np.concatenate([xs, np.ones((len(xs), 1))], 1)

    want = lr * grad(xt, yt) @ grad(x, y).T
    np.testing.assert_allclose(res.scores.numpy(), want, rtol=1e-12)
    top = res.top(2)
    assert isinstance(top, KMostInfluentialResults)
    np.testing.assert_array_equal(top.indices.numpy(), np.argsort(-want, 1)[:, :2])
    np.testing.assert_allclose(top.influence_scores.numpy(), -np.sort(-want, 1)[:, :2])
    np.testing.assert_array_equal(res.opponents(1).indices.numpy()[:, 0], want.argmin(1))
    assert res.summary(2).count("proponents") == 2
    # Captum's influence(k=...) gives the same named tuple
    tr = X.TracInCP(model, (corefw.tensor(x), corefw.tensor(y)), [state],
                    loss_fn=nn.MSELoss(reduction="sum"))
    k = tr.influence((corefw.tensor(xt), corefw.tensor(yt)), k=2)
    assert isinstance(k, KMostInfluentialResults)
    np.testing.assert_array_equal(k.indices.numpy(), top.indices.numpy())
    with pytest.raises(XaiError, match="k must be in"):
        res.top(6)
    with pytest.raises(XaiError, match="labels"):
        tr.attribute((corefw.tensor(xt), corefw.tensor(yt)), target=0)


class _Bag(nn.Module):
    """Next-token logits from the sum of the token embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(6, 4)
        self.head = nn.Linear(4, 6)

    def forward(self, ids):
        return self.head(self.emb(ids).sum(1)).unsqueeze(1)


def test_llm_attribution_by_name_from_the_model():
    corefw.manual_seed(0)
    model = _Bag().double()
    tok = CharTokenizer("_abcd ")
    E, W = model.emb.weight.detach().numpy(), model.head.weight.detach().numpy()
    bias = model.head.bias.detach().numpy()

    def logp(ids, t):
        z = W @ E[ids].sum(0) + bias
        return z[t] - np.log(np.exp(z).sum())

    inp = TextTokenInput("abc", tok, baselines="_")
    res = X.explain(model, inp, method="llm_attribution", init={"tokenizer": tok}, target="d")
    assert isinstance(res, LLMAttributionResult)
    ids, t = tok.encode("abc"), tok.encode("d")[0]
    want = [logp(ids, t) - logp(ids[:j] + [0] + ids[j + 1:], t) for j in range(3)]
    np.testing.assert_allclose(res.seq_attr.numpy(), want, atol=1e-12)
    # the gradient variant finds the embedding itself; completeness holds on the linear bag
    g = X.explain(model, TextTokenInput("abc", tok, baselines=0),
                  method="llm_gradient_attribution", init={"tokenizer": tok}, target="d",
                  n_steps=64)
    assert isinstance(g, LLMAttributionResult)
    np.testing.assert_allclose(g.seq_attr.numpy().sum(),
                               logp(ids, t) - logp([0, 0, 0], t), atol=1e-8)
    with pytest.raises(XaiError, match="no nn.Embedding"):
        X.LLMGradientAttribution(nn.Linear(2, 2), tok)
