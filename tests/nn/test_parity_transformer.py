"""TransformerDecoderLayer, TransformerDecoder and Transformer: forward against a float64 numpy
implementation of PyTorch's equations (post- and pre-norm, masks, batch_first), gradients,
PyTorch's state_dict keys, the causal mask helper and shape errors."""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.autograd import gradcheck
from corefw.errors import ShapeError

RNG = np.random.default_rng(0)


def _ln(x, w, b, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def _mha(q, kv, p, prefix, h, mask=None):
    """Batch-first multi-head attention from PyTorch's packed in_proj / out_proj weights."""
    w, b = p[prefix + "in_proj_weight"], p[prefix + "in_proj_bias"]
    e = q.shape[-1]
    qs, ks, vs = (x @ w[i * e:(i + 1) * e].T + b[i * e:(i + 1) * e]
                  for i, x in enumerate((q, kv, kv)))
    n, lq, d = q.shape[0], q.shape[1], e // h
    split = lambda t: t.reshape(n, t.shape[1], h, d).transpose(0, 2, 1, 3)  # noqa: E731
    s = split(qs) @ split(ks).transpose(0, 1, 3, 2) / np.sqrt(d)
    if mask is not None:
        s = s + mask
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    o = (a @ split(vs)).transpose(0, 2, 1, 3).reshape(n, lq, e)
    return o @ p[prefix + "out_proj.weight"].T + p[prefix + "out_proj.bias"]


def _decoder_layer(x, mem, p, h, norm_first, tgt_mask=None, pre=""):
    g = lambda k: p[pre + k]  # noqa: E731
    ln = lambda t, i: _ln(t, g(f"norm{i}.weight"), g(f"norm{i}.bias"))  # noqa: E731

    def ff(t):
        hid = np.maximum(t @ g("linear1.weight").T + g("linear1.bias"), 0)
        return hid @ g("linear2.weight").T + g("linear2.bias")

    sa = lambda t: _mha(t, t, p, pre + "self_attn.", h, tgt_mask)  # noqa: E731
    ca = lambda t: _mha(t, mem, p, pre + "multihead_attn.", h)  # noqa: E731
    if norm_first:
        x = x + sa(ln(x, 1))
        x = x + ca(ln(x, 2))
        return x + ff(ln(x, 3))
    x = ln(x + sa(x), 1)
    x = ln(x + ca(x), 2)
    return ln(x + ff(x), 3)


def _params(module):
    return {k: npy(v) for k, v in module.state_dict().items()}


LAYER_KEYS = [f"{m}.{k}" for m in ("self_attn", "multihead_attn") for k in
              ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")] + [
    f"{m}.{k}" for m in ("linear1", "linear2", "norm1", "norm2", "norm3")
    for k in ("weight", "bias")]


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_the_equations(norm_first):
    corefw.manual_seed(0)
    layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                       norm_first=norm_first).double()
    assert list(layer.state_dict()) == LAYER_KEYS
    with corefw.no_grad():  # non-trivial norms
        for i in (1, 2, 3):
            getattr(layer, f"norm{i}").weight.copy_(t64(RNG.uniform(0.5, 1.5, 8)))
            getattr(layer, f"norm{i}").bias.copy_(t64(RNG.standard_normal(8) * 0.1))
    tgt, mem = RNG.standard_normal((2, 4, 8)), RNG.standard_normal((2, 5, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=corefw.float64)
    got = layer(t64(tgt), t64(mem), tgt_mask=mask)
    want = _decoder_layer(tgt, mem, _params(layer), 2, norm_first, npy(mask))
    np.testing.assert_allclose(npy(got), want, rtol=1e-9, atol=1e-10)
    # sequence-first gives the transposed result
    seq = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first).double()
    seq.load_state_dict(layer.state_dict())
    got_sf = seq(t64(tgt.transpose(1, 0, 2)), t64(mem.transpose(1, 0, 2)), tgt_mask=mask)
    np.testing.assert_allclose(npy(got_sf).transpose(1, 0, 2), want, rtol=1e-9, atol=1e-10)
    small = nn.TransformerDecoderLayer(4, 2, 4, dropout=0.0, batch_first=True,
                                       norm_first=norm_first).double()
    assert gradcheck(lambda a, b: small(a, b), (t64(tgt[:1, :2, :4], True),
                                                t64(mem[:1, :3, :4], True)))


def test_decoder_stack_and_transformer():
    corefw.manual_seed(0)
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                           dim_feedforward=16, dropout=0.0, batch_first=True).double()
    keys = list(model.state_dict())
    assert keys[0] == "encoder.layers.0.self_attn.in_proj_weight"
    assert "encoder.norm.weight" in keys and "decoder.norm.bias" in keys
    assert [k[len("decoder.layers.0."):] for k in keys if k.startswith("decoder.layers.0.")
            ] == LAYER_KEYS
    assert not any(k.startswith("decoder.layers.1") for k in keys)
    src, tgt = RNG.standard_normal((2, 5, 8)), RNG.standard_normal((2, 3, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=corefw.float64)
    memory = model.encoder(t64(src))
    p = _params(model)
    x = _decoder_layer(tgt, npy(memory), p, 2, False, npy(mask), pre="decoder.layers.0.")
    want = _ln(x, p["decoder.norm.weight"], p["decoder.norm.bias"])
    got = model(t64(src), t64(tgt), tgt_mask=mask)
    np.testing.assert_allclose(npy(got), want, rtol=1e-9, atol=1e-10)
    # the causal flag and the explicit mask agree
    got_causal = model.decoder(t64(tgt), memory, tgt_mask=mask, tgt_is_causal=True)
    np.testing.assert_allclose(npy(got_causal), want, rtol=1e-9, atol=1e-10)


def test_generate_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(4).numpy()
    assert m.dtype == np.float32
    np.testing.assert_array_equal(np.isinf(m), np.triu(np.ones((4, 4), bool), 1))
    assert (m[np.tril_indices(4)] == 0).all()


def test_transformer_errors():
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=8)
    with pytest.raises(ShapeError, match="the batch number of src"):
        model(corefw.randn(5, 2, 8), corefw.randn(3, 3, 8))
    with pytest.raises(ShapeError, match="must be equal to d_model=8"):
        model(corefw.randn(5, 2, 4), corefw.randn(3, 2, 4))
    with pytest.raises(ValueError, match="TransformerDecoderLayer: activation should be"):
        nn.TransformerDecoderLayer(8, 2, activation="tanh")
