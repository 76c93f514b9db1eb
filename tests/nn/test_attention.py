"""Attention modules against float64 references written head by head: MultiheadAttention
(PyTorch's parameters, masks, layouts, bias_kv, zero attention, weights), TransformerEncoderLayer
(post- and pre-norm); scaled_dot_product_attention's special cases (fully masked rows, dropout,
errors). The function's values and gradients are rows of the op table (corefw.testing)."""

import math

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.autograd import gradcheck as _gradcheck
from corefw.errors import ShapeError
from corefw.testing import reference_nn as RN

_erf = np.vectorize(math.erf)


def gradcheck(fn, inputs):
    """Finite differences in float64, with tolerances tight enough to catch a 1e-4 error."""
    return _gradcheck(fn, inputs, atol=1e-7, rtol=1e-6)


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def t64s(device, *arrays):
    """float64 tensors on ``device`` with the values of ``arrays``."""
    return tuple(t64(a, device=device) for a in arrays)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def np_softmax(x, axis=-1):
    return RN.softmax(x, axis)


def additive(mask_np, true_means_masked):
    """A bool mask as the float mask it stands for (-inf where attention is not allowed)."""
    blocked = mask_np if true_means_masked else ~mask_np
    return np.where(blocked, -np.inf, 0.0)


# ---- scaled_dot_product_attention ---------------------------------------------------------
def ref_sdpa(q, k, v, mask=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return RN.scaled_dot_product_attention(q, k, v, mask, scale, False)


# F.scaled_dot_product_attention's values and gradients (scales, bool and float masks that
# broadcast, causal, batch broadcasting, grouped-query attention), through the kernel and the
# decomposition: rows of the op table (corefw.testing.cases_nn_functions, test_op_table.py).


def _qkv(rng, batch=(2, 3), n_q=4, n_k=5, e=6, ev=7):
    return (rng.normal(size=batch + (n_q, e)), rng.normal(size=batch + (n_k, e)),
            rng.normal(size=batch + (n_k, ev)))


def test_sdpa_causal_is_top_left_aligned(rng, device):
    q, k, v = _qkv(rng, n_q=3, n_k=5)
    allowed = np.tril(np.ones((3, 5), bool))
    out = F.scaled_dot_product_attention(*t64s(device, q, k, v), is_causal=True)
    np.testing.assert_allclose(npy(out), ref_sdpa(q, k, v, additive(allowed, False)),
                               rtol=1e-12)
    np.testing.assert_allclose(npy(out)[..., 0, :], v[..., 0, :], rtol=1e-12)  # sees key 0


def test_sdpa_fully_masked_row_is_nan_like_pytorch(rng, device):
    q, k, v = _qkv(rng, batch=(1,), n_q=2, n_k=3)
    mask = np.array([[True, False, True], [False, False, False]])
    out = npy(F.scaled_dot_product_attention(*t64s(device, q, k, v),
                                             attn_mask=corefw.tensor(mask, device=device)))
    assert np.isfinite(out[0, 0]).all() and np.isnan(out[0, 1]).all()


def test_sdpa_dropout_draws_its_mask_from_the_device_rng(rng, device):
    q, k, v = _qkv(rng, batch=(2,), n_q=3, n_k=4, e=2, ev=2)
    corefw.manual_seed(7)
    out = F.scaled_dot_product_attention(*t64s(device, q, k, v), dropout_p=0.5)
    corefw.manual_seed(7)
    u = npy(corefw.rand(2, 3, 4, dtype=corefw.float64, device=device))
    p = np_softmax(np.einsum("ble,bse->bls", q, k) / math.sqrt(2))
    expected = np.einsum("bls,bse->ble", np.where(u >= 0.5, p / 0.5, 0.0), v)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12)


def test_sdpa_errors(device):
    q = corefw.randn(2, 3, 4, device=device)
    with pytest.raises(ShapeError, match="scaled_dot_product_attention.*do not fit"):
        F.scaled_dot_product_attention(q, corefw.randn(2, 5, 3, device=device),
                                       corefw.randn(2, 5, 4, device=device))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=corefw.ones(3, 3, device=device),
                                       is_causal=True)


# ---- MultiheadAttention -------------------------------------------------------------------
def ref_mha(query, key, value, mha, attn_mask=None, kpm=None):
    """Sequence-first NumPy multi-head attention, one (batch, head) pair at a time.

    ``attn_mask``: float (L, S) or (N * H, L, S); ``kpm``: float (N, S)."""
    sd = {name: npy(t) for name, t in mha.state_dict().items()}
    e, h = mha.embed_dim, mha.num_heads
    hd = e // h
    if "in_proj_weight" in sd:
        wq, wk, wv = np.split(sd["in_proj_weight"], 3)
    else:
        wq, wk, wv = sd["q_proj_weight"], sd["k_proj_weight"], sd["v_proj_weight"]
    bq, bk, bv = np.split(sd["in_proj_bias"], 3) if "in_proj_bias" in sd else (0, 0, 0)
    q, k, v = query @ wq.T + bq, key @ wk.T + bk, value @ wv.T + bv
    n_q, n_b = q.shape[:2]
    if "bias_k" in sd:
        k = np.concatenate([k, np.broadcast_to(sd["bias_k"], (1, n_b, e))])
        v = np.concatenate([v, np.broadcast_to(sd["bias_v"], (1, n_b, e))])
        attn_mask = None if attn_mask is None else np.pad(attn_mask, [(0, 0)] * (
            attn_mask.ndim - 1) + [(0, 1)])
        kpm = None if kpm is None else np.pad(kpm, [(0, 0), (0, 1)])
    out = np.zeros((n_q, n_b, e))
    weights = np.zeros((n_b, h, n_q, k.shape[0] + mha.add_zero_attn))
    for b in range(n_b):
        for i in range(h):
            cols = slice(i * hd, (i + 1) * hd)
            qh, kh, vh = q[:, b, cols], k[:, b, cols], v[:, b, cols]
            if mha.add_zero_attn:
                kh, vh = np.vstack([kh, np.zeros(hd)]), np.vstack([vh, np.zeros(hd)])
            s = qh @ kh.T / math.sqrt(hd)
            if attn_mask is not None:
                m = attn_mask if attn_mask.ndim == 2 else attn_mask[b * h + i]
                s = s + np.pad(m, [(0, 0), (0, s.shape[1] - m.shape[1])])
            if kpm is not None:
                s = s + np.pad(kpm[b], (0, s.shape[1] - kpm.shape[1]))[None]
            p = np_softmax(s)
            weights[b, i] = p
            out[:, b, cols] = p @ vh
    out = out @ sd["out_proj.weight"].T + sd.get("out_proj.bias", 0)
    return out, weights


def test_mha_parameters_follow_pytorch():
    mha = nn.MultiheadAttention(8, 2)
    assert [(k, tuple(v.shape)) for k, v in mha.state_dict().items()] == [
        ("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)), ("out_proj.weight", (8, 8)),
        ("out_proj.bias", (8,))]
    assert type(mha.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    kv = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True, bias=False)
    assert [(k, tuple(v.shape)) for k, v in kv.state_dict().items()] == [
        ("q_proj_weight", (8, 8)), ("k_proj_weight", (8, 3)), ("v_proj_weight", (8, 5)),
        ("bias_k", (1, 1, 8)), ("bias_v", (1, 1, 8)), ("out_proj.weight", (8, 8))]
    assert kv.in_proj_weight is None and kv.in_proj_bias is None
    # PyTorch's initialisation: Xavier-uniform packed projection, zero biases
    big = nn.MultiheadAttention(64, 4)
    w = npy(big.in_proj_weight)
    bound = math.sqrt(6 / (64 + 3 * 64))
    assert np.abs(w).max() <= bound and np.std(w) == pytest.approx(bound / math.sqrt(3),
                                                                    rel=0.03)
    np.testing.assert_array_equal(npy(big.in_proj_bias), 0.0)
    np.testing.assert_array_equal(npy(big.out_proj.bias), 0.0)
    with pytest.raises(ShapeError, match="divisible"):
        nn.MultiheadAttention(10, 3)


def _masks(rng, kind, n_b, h, n_q, n_k, device=None):
    """(corefw masks on ``device`` for forward(), float masks for the reference)."""
    if kind == "none":
        return {}, {}
    if kind == "attn_bool":
        m = rng.uniform(size=(n_q, n_k)) > 0.5
        m[:, 0] = False
        return {"attn_mask": corefw.tensor(m, device=device)}, {"attn_mask": additive(m, True)}
    if kind == "attn_float3d":
        m = rng.normal(size=(n_b * h, n_q, n_k))
        return {"attn_mask": t64(m, device=device)}, {"attn_mask": m}
    if kind == "kpm_bool":
        m = np.zeros((n_b, n_k), bool)
        m[0, -2:] = True
        return {"key_padding_mask": corefw.tensor(m, device=device)}, {"kpm": additive(m, True)}
    if kind == "both":
        a = rng.normal(size=(n_q, n_k))
        p = np.zeros((n_b, n_k), bool)
        p[1, 1] = True
        return ({"attn_mask": t64(a, device=device),
                 "key_padding_mask": corefw.tensor(p, device=device)},
                {"attn_mask": a, "kpm": additive(p, True)})
    raise ValueError(kind)


@pytest.mark.parametrize("masks", ["none", "attn_bool", "attn_float3d", "kpm_bool", "both"])
@pytest.mark.parametrize("config", ["self", "cross_kvdim", "bias_kv_zero_attn", "no_bias"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_forward_matches_reference(rng, masks, config, batch_first, device):
    e, h, n_b, n_q, n_k = 6, 2, 2, 3, 4
    kw = {"cross_kvdim": dict(kdim=3, vdim=5), "bias_kv_zero_attn": dict(
        add_bias_kv=True, add_zero_attn=True), "no_bias": dict(bias=False)}.get(config, {})
    mha = nn.MultiheadAttention(e, h, batch_first=batch_first, **kw).double().to(device)
    if config == "self":
        n_k = n_q
    query = rng.normal(size=(n_q, n_b, e))
    key = query if config == "self" else rng.normal(size=(n_k, n_b, mha.kdim))
    value = query if config == "self" else rng.normal(size=(n_k, n_b, mha.vdim))
    fw_masks, ref_masks = _masks(rng, masks, n_b, h, n_q, n_k, device=device)
    if config == "bias_kv_zero_attn" and masks == "attn_float3d":
        fw_masks, ref_masks = {}, {}  # 3-D masks must already cover the extra keys
    expected, weights = ref_mha(query, key, value, mha, **ref_masks)

    def layout(a):
        return t64(a.transpose(1, 0, 2) if batch_first else a, device=device)

    q_t = layout(query)
    k_t = q_t if config == "self" else layout(key)
    v_t = q_t if config == "self" else layout(value)
    out, w = mha(q_t, k_t, v_t, **fw_masks)
    got = npy(out).transpose(1, 0, 2) if batch_first else npy(out)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(npy(w), weights.mean(axis=1), rtol=1e-11, atol=1e-12)
    out2, w2 = mha(q_t, k_t, v_t, need_weights=False, **fw_masks)
    assert w2 is None
    np.testing.assert_allclose(npy(out2), npy(out), rtol=1e-11, atol=1e-12)
    _, w3 = mha(q_t, k_t, v_t, average_attn_weights=False, **fw_masks)
    np.testing.assert_allclose(npy(w3), weights, rtol=1e-11, atol=1e-12)


def test_mha_unbatched_and_float_key_padding_mask(rng, device):
    mha = nn.MultiheadAttention(4, 2).double().to(device)
    x = rng.normal(size=(3, 4))
    kpm = np.array([0.0, -1.5, 0.5])
    out, w = mha(*t64s(device, x, x, x), key_padding_mask=t64(kpm, device=device))
    expected, weights = ref_mha(x[:, None], x[:, None], x[:, None], mha, kpm=kpm[None])
    assert out.shape == (3, 4) and w.shape == (3, 3)
    np.testing.assert_allclose(npy(out), expected[:, 0], rtol=1e-12)
    np.testing.assert_allclose(npy(w), weights[0].mean(axis=0), rtol=1e-12)


def test_mha_is_causal_builds_the_causal_mask(rng, device):
    mha = nn.MultiheadAttention(4, 1).double().to(device)
    x = rng.normal(size=(3, 2, 4))
    out, w = mha(*t64s(device, x, x, x), is_causal=True)
    causal = additive(~np.tril(np.ones((3, 3), bool)), True)
    expected, _ = ref_mha(x, x, x, mha, attn_mask=causal)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12)
    assert (npy(w)[:, 0, 1:] == 0).all()


def test_mha_gradcheck(rng, device):
    e, h = 4, 2
    q = t64(rng.normal(size=(2, 2, e)), requires_grad=True, device=device)
    kv = t64(rng.normal(size=(3, 2, e)), requires_grad=True, device=device)
    w_in = t64(rng.normal(size=(3 * e, e)) * 0.5, requires_grad=True, device=device)
    b_in = t64(rng.normal(size=(3 * e,)) * 0.1, requires_grad=True, device=device)
    w_out = t64(rng.normal(size=(e, e)) * 0.5, requires_grad=True, device=device)
    mask = corefw.tensor([[False, False, True], [False, True, False]], device=device)

    def fn(q, kv, w_in, b_in, w_out):
        return F.multi_head_attention_forward(q, kv, kv, e, h, w_in, b_in, None, None, False,
                                              0.0, w_out, None, attn_mask=mask)[0]

    assert gradcheck(fn, (q, kv, w_in, b_in, w_out))


def test_mha_dropout_only_in_training(rng, device):
    mha = nn.MultiheadAttention(4, 2, dropout=0.5).double().to(device)
    x = t64(rng.normal(size=(5, 2, 4)), device=device)
    mha.eval()
    a, _ = mha(x, x, x)
    expected, _ = ref_mha(npy(x), npy(x), npy(x), mha)
    np.testing.assert_allclose(npy(a), expected, rtol=1e-12)
    mha.train()
    b, _ = mha(x, x, x)
    assert not np.allclose(npy(b), expected)


def test_mha_mask_errors(device):
    mha = nn.MultiheadAttention(4, 2, device=device)
    x = corefw.randn(3, 2, 4, device=device)
    with pytest.raises(ShapeError, match=r"2-D attn_mask is \(2, 2\), but should be \(3, 3\)"):
        mha(x, x, x, attn_mask=corefw.zeros(2, 2, device=device))
    with pytest.raises(ShapeError, match=r"key_padding_mask should have shape \(2, 3\)"):
        mha(x, x, x, key_padding_mask=corefw.zeros(3, 2, dtype=corefw.bool, device=device))
    with pytest.raises(ShapeError, match="expecting embedding dimension of 4"):
        mha(corefw.randn(3, 2, 5, device=device), x, x)


# ---- TransformerEncoderLayer --------------------------------------------------------------
def ref_layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def ref_encoder_layer(x, layer, kpm=None, activation="relu"):
    sd = {k: npy(v) for k, v in layer.state_dict().items()}
    eps = layer.norm1.eps
    act = (lambda z: np.maximum(z, 0)) if activation == "relu" else (
        lambda z: 0.5 * z * (1 + _erf(z / math.sqrt(2))))

    def sa(z):
        return ref_mha(z, z, z, layer.self_attn, kpm=kpm)[0]

    def ff(z):
        return act(z @ sd["linear1.weight"].T + sd["linear1.bias"]) @ sd["linear2.weight"].T \
            + sd["linear2.bias"]

    def n1(z):
        return ref_layer_norm(z, sd["norm1.weight"], sd["norm1.bias"], eps)

    def n2(z):
        return ref_layer_norm(z, sd["norm2.weight"], sd["norm2.bias"], eps)

    if layer.norm_first:
        x = x + sa(n1(x))
        return x + ff(n2(x))
    x = n1(x + sa(x))
    return n2(x + ff(x))


def test_transformer_encoder_layer_names_follow_pytorch():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    assert [(k, tuple(v.shape)) for k, v in layer.state_dict().items()] == [
        ("self_attn.in_proj_weight", (24, 8)), ("self_attn.in_proj_bias", (24,)),
        ("self_attn.out_proj.weight", (8, 8)), ("self_attn.out_proj.bias", (8,)),
        ("linear1.weight", (16, 8)), ("linear1.bias", (16,)), ("linear2.weight", (8, 16)),
        ("linear2.bias", (8,)), ("norm1.weight", (8,)), ("norm1.bias", (8,)),
        ("norm2.weight", (8,)), ("norm2.bias", (8,))]
    assert [name for name, _ in layer.named_children()] == [
        "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"]
    assert layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder_layer_forward(rng, norm_first, activation, batch_first, device):
    layer = nn.TransformerEncoderLayer(6, 2, dim_feedforward=10, activation=activation,
                                       norm_first=norm_first, batch_first=batch_first,
                                       layer_norm_eps=1e-6).double().to(device).eval()
    with corefw.no_grad():  # non-trivial norm parameters
        for norm in (layer.norm1, layer.norm2):
            norm.weight.copy_(t64(rng.uniform(0.5, 1.5, 6), device=device))
            norm.bias.copy_(t64(rng.normal(size=6) * 0.1, device=device))
    x = rng.normal(size=(4, 3, 6))
    kpm = np.zeros((3, 4), bool)
    kpm[2, 0] = True
    expected = ref_encoder_layer(x, layer, kpm=additive(kpm, True), activation=activation)
    xt = t64(x.transpose(1, 0, 2) if batch_first else x, device=device)
    out = npy(layer(xt, src_key_padding_mask=corefw.tensor(kpm, device=device)))
    np.testing.assert_allclose(out.transpose(1, 0, 2) if batch_first else out, expected,
                               rtol=1e-10, atol=1e-12)


def test_transformer_encoder_stack_and_gradient(rng, device):
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0).double().to(device)
    enc = nn.TransformerEncoder(layer, num_layers=2)
    assert list(enc.state_dict())[:2] == ["layers.0.self_attn.in_proj_weight",
                                         "layers.0.self_attn.in_proj_bias"]
    assert len(enc.state_dict()) == 24
    x = rng.normal(size=(3, 2, 4))
    ref = ref_encoder_layer(ref_encoder_layer(x, enc.layers[0]), enc.layers[1])
    np.testing.assert_allclose(npy(enc(t64(x, device=device))), ref, rtol=1e-10, atol=1e-12)
    xt = t64(x, requires_grad=True, device=device)
    assert gradcheck(lambda x: layer(x), (xt,))
