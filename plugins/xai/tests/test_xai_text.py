"""Token attribution for a generated continuation, checked on a bag-of-embeddings model whose
log-probabilities are computed by hand in numpy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from corefw_xai import FeatureAblation, LayerIntegratedGradients, ShapleyValues
from corefw_xai._text import (
    CharTokenizer,
    LLMAttribution,
    LLMGradientAttribution,
    TextTemplateInput,
    TextTokenInput,
)
from corefw_xai.errors import XaiError

import corefw
from corefw import nn

VOCAB = "_abcd <&"


class Bag(nn.Module):
    """Next-token logits from the sum of the token embeddings (not causal: every token counts)."""

    def __init__(self, v=8, d=5) -> None:
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.head = nn.Linear(d, v)

    def forward(self, ids):
        return self.head(self.emb(ids).sum(1)).unsqueeze(1)


@pytest.fixture
def bag():
    corefw.manual_seed(0)
    m = Bag().double()
    E = m.emb.weight.detach().numpy()
    W, b = m.head.weight.detach().numpy(), m.head.bias.detach().numpy()

    def logp(ids, targets):
        """Per target token: log p(t_i | ids + t_<i), by hand."""
        out, seq = [], list(ids)
        for t in targets:
            z = W @ E[seq].sum(0) + b
            out.append(z[t] - np.log(np.exp(z - z.max()).sum()) - z.max())
            seq.append(t)
        return np.array(out)

    return m, logp, (E, W, b)


def test_feature_ablation_over_tokens_equals_hand_computed(bag):
    model, logp, _ = bag
    tok = CharTokenizer(VOCAB)
    inp = TextTokenInput("abcd", tok, baselines="_")
    assert inp.values == list("abcd") and inp.n_itp_features == 4
    res = LLMAttribution(FeatureAblation(model), tok).attribute(inp, target="ca")
    ids, tgt = tok.encode("abcd"), tok.encode("ca")
    full = logp(ids, tgt)
    want = np.stack([full - logp(ids[:j] + [0] + ids[j + 1:], tgt) for j in range(4)], 1)
    np.testing.assert_allclose(res.token_attr.numpy(), want, atol=1e-12)
    np.testing.assert_allclose(res.seq_attr.numpy(), want.sum(0), atol=1e-12)
    assert res.output_tokens == ["c", "a"] and res.input_tokens == list("abcd")


def test_shapley_values_over_tokens_equal_exact_enumeration(bag):
    model, logp, _ = bag
    tok = CharTokenizer(VOCAB)
    inp = TextTokenInput("dcba", tok, skip_tokens=["c"])  # c is kept, not a feature
    assert inp.values == ["d", "b", "a"]
    res = LLMAttribution(ShapleyValues(model), tok).attribute(inp, target="b")
    ids, pos = tok.encode("dcba"), [0, 2, 3]

    def f(present):
        seq = [t if (i not in pos or pos.index(i) in present) else 0 for i, t in enumerate(ids)]
        return logp(seq, tok.encode("b")).sum()

    n = 3
    phi = np.zeros(n)
    for j in range(n):
        others = [k for k in range(n) if k != j]
        for r in range(n):
            for s in itertools.combinations(others, r):
                wgt = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
                phi[j] += wgt * (f(set(s) | {j}) - f(set(s)))
    np.testing.assert_allclose(res.seq_attr.numpy(), phi, atol=1e-12)
    # efficiency: the attributions add up to F(text) - F(all ablated)
    np.testing.assert_allclose(phi.sum(), f({0, 1, 2}) - f(set()), atol=1e-12)


def test_template_segments_are_features(bag):
    model, logp, _ = bag
    tok = CharTokenizer(VOCAB)
    inp = TextTemplateInput("{} & {}", ["ab", "cd"], baselines=["", "d"])
    assert inp.to_model_input() == "ab & cd"
    assert inp.to_model_input(corefw.tensor([[0.0, 1.0]])) == " & cd"
    res = LLMAttribution(FeatureAblation(model), tok).attribute(inp, target="a")
    t = tok.encode("a")
    full = logp(tok.encode("ab & cd"), t)[0]
    want = [full - logp(tok.encode(" & cd"), t)[0], full - logp(tok.encode("ab & d"), t)[0]]
    np.testing.assert_allclose(res.seq_attr.numpy(), want, atol=1e-12)
    named = TextTemplateInput("{who} is {what}", {"who": "a", "what": "b"}, mask={"who": 0,
                                                                                  "what": 0})
    assert named.n_itp_features == 1 and named.to_model_input(corefw.zeros(1, 1)) == " is "


def test_layer_integrated_gradients_on_the_embedding(bag):
    model, logp, (E, W, b) = bag
    tok = CharTokenizer(VOCAB)
    inp = TextTokenInput("bad", tok, baselines=0)
    lig = LayerIntegratedGradients(model, model.emb)
    res = LLMGradientAttribution(lig, tok).attribute(inp, target="ac", n_steps=64)
    ids, tgt = tok.encode("bad"), tok.encode("ac")
    # by hand: the logits depend on the sum of embeddings, so every position's gradient is
    # W^T (onehot(t) - softmax(z)) on the straight path of the whole embedding sequence
    nodes, wts = np.polynomial.legendre.leggauss(64)
    alphas, wts = (nodes + 1) / 2, wts / 2
    want = []
    for i, t in enumerate(tgt):
        xs = E[ids].sum(0) + E[tgt[:i]].sum(0)
        bs = E[[0] * 3].sum(0) + E[tgt[:i]].sum(0)
        g = np.zeros(E.shape[1])
        for a, w in zip(alphas, wts):
            z = W @ (bs + a * (xs - bs)) + b
            p = np.exp(z - z.max())
            p /= p.sum()
            g += w * W.T @ (np.eye(len(VOCAB))[t] - p)
        want.append([(E[j] - E[0]) @ g for j in ids])
    np.testing.assert_allclose(res.token_attr.numpy(), want, atol=1e-10)
    # completeness per target token: sum over tokens = log p(x) - log p(baseline)
    np.testing.assert_allclose(res.token_attr.numpy().sum(1),
                               logp(ids, tgt) - logp([0, 0, 0], tgt), atol=1e-10)
    assert np.max(np.abs(res.delta.numpy())) < 1e-10


def test_generated_target_is_the_greedy_continuation(bag):
    model, _, (E, W, b) = bag
    tok = CharTokenizer(VOCAB)
    inp = TextTokenInput("ab", tok)
    res = LLMAttribution(FeatureAblation(model), tok).attribute(
        inp, gen_args={"max_new_tokens": 3})
    seq, want = tok.encode("ab"), []
    for _ in range(3):
        want.append(int(np.argmax(W @ E[seq].sum(0) + b)))
        seq.append(want[-1])
    assert res.output_tokens == tok.convert_ids_to_tokens(want)
    assert res.token_attr.shape == (3, 2)


def test_html_highlights_and_escapes_tokens(bag):
    model, _, _ = bag
    tok = CharTokenizer(VOCAB)
    res = LLMAttribution(FeatureAblation(model), tok).attribute(TextTokenInput("a<&", tok),
                                                                 target="<b")
    page = res.html(title="<script>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<span") == 3 * (1 + 2) and "&lt;" in page and "&amp;" in page
    assert "background:rgb(" in page


def test_errors(bag):
    model, _, _ = bag
    tok = CharTokenizer(VOCAB)
    with pytest.raises(XaiError, match="not in the vocabulary"):
        TextTokenInput("xyz", tok)
    with pytest.raises(XaiError, match="attr_target"):
        LLMAttribution(FeatureAblation(model), tok, attr_target="logit")
    with pytest.raises(XaiError, match="TextTokenInput"):
        LLMGradientAttribution(LayerIntegratedGradients(model, model.emb), tok).attribute(
            TextTemplateInput("{}", ["a"]), target="b")
    with pytest.raises(XaiError, match="logits of shape"):
        LLMAttribution(FeatureAblation(lambda ids: ids.double()), tok).attribute(
            TextTokenInput("ab", tok), target="a")


def test_the_char_transformer_example():
    """The repository's causal char transformer (examples/char_transformer.py), tiny: feature
    ablation and Shapley values against log-probabilities read off the model directly, and
    LayerIntegratedGradients on its token embedding adding up to the change of log p."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples",
                        "char_transformer.py")
    if not os.path.exists(path):
        pytest.skip("examples/char_transformer.py is not in this checkout")
    spec = importlib.util.spec_from_file_location("char_transformer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    corefw.manual_seed(0)
    model = mod.CharTransformer(vocab=8, block=12, d_model=8, nhead=2, layers=1).double().eval()
    tok = CharTokenizer("_abcdefg")
    inp = TextTokenInput("abcdef", tok)

    def logp(text, target):
        ids, out = tok.encode(text), []
        for t in tok.encode(target):
            with corefw.no_grad():
                z = model(corefw.tensor([ids]))[0, -1].numpy()
            out.append(z[t] - np.log(np.exp(z - z.max()).sum()) - z.max())
            ids.append(t)
        return np.array(out)

    fa = LLMAttribution(FeatureAblation(model), tok).attribute(inp, target="ga")
    full = logp("abcdef", "ga")
    want = np.stack([full - logp("abcdef"[:j] + "_" + "abcdef"[j + 1:], "ga")
                     for j in range(6)], 1)
    np.testing.assert_allclose(fa.token_attr.numpy(), want, atol=1e-12)
    sv = LLMAttribution(ShapleyValues(model), tok).attribute(inp, target="ga")
    np.testing.assert_allclose(sv.seq_attr.numpy().sum(),
                               full.sum() - logp("______", "ga").sum(), atol=1e-12)
    lig = LayerIntegratedGradients(model, model.tokens)
    res = [LLMGradientAttribution(lig, tok).attribute(inp, target="ga", n_steps=n)
           for n in (8, 64)]
    np.testing.assert_allclose(res[1].token_attr.numpy().sum(1),
                               full - logp("______", "ga"), atol=1e-3)
    assert np.abs(res[1].delta.numpy()).max() < np.abs(res[0].delta.numpy()).max()
