"""PyTorch checkpoints load as they are: a safetensors file with exactly the keys and shapes of a
PyTorch model's ``state_dict()`` loads into the matching corefw model with
``model.load_state_dict(corefw.load(path))`` (strict), and the forward pass then equals a NumPy
forward with those weights.

torch is not installed (and must not be): the files are written with
``safetensors.numpy.save_file``, which produces the same format as
``safetensors.torch.save_file(model.state_dict(), path)``. The key lists below are the ones
PyTorch's modules produce, copied from ``print({k: tuple(v.shape) for k, v in
model.state_dict().items()})`` for the model named in each comment (PyTorch 2.x).
"""

import math

import numpy as np
import pytest
from safetensors.numpy import save_file

import corefw
from corefw import nn

# torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
TORCH_MLP_KEYS = [("0.weight", (8, 4)), ("0.bias", (8,)), ("2.weight", (3, 8)),
                  ("2.bias", (3,))]

# torch.nn.MultiheadAttention(8, 2, batch_first=True)
TORCH_MHA_KEYS = [("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)),
                  ("out_proj.weight", (8, 8)), ("out_proj.bias", (8,))]

# torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True)
TORCH_LSTM_KEYS = [
    ("weight_ih_l0", (20, 4)), ("weight_hh_l0", (20, 5)), ("bias_ih_l0", (20,)),
    ("bias_hh_l0", (20,)), ("weight_ih_l0_reverse", (20, 4)), ("weight_hh_l0_reverse", (20, 5)),
    ("bias_ih_l0_reverse", (20,)), ("bias_hh_l0_reverse", (20,)),
    ("weight_ih_l1", (20, 10)), ("weight_hh_l1", (20, 5)), ("bias_ih_l1", (20,)),
    ("bias_hh_l1", (20,)), ("weight_ih_l1_reverse", (20, 10)),
    ("weight_hh_l1_reverse", (20, 5)), ("bias_ih_l1_reverse", (20,)),
    ("bias_hh_l1_reverse", (20,)),
]

# torch.nn.GRU(3, 4, batch_first=True)
TORCH_GRU_KEYS = [("weight_ih_l0", (12, 3)), ("weight_hh_l0", (12, 4)), ("bias_ih_l0", (12,)),
                  ("bias_hh_l0", (12,))]

# torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
TORCH_ENCODER_LAYER_KEYS = [
    ("self_attn.in_proj_weight", (24, 8)), ("self_attn.in_proj_bias", (24,)),
    ("self_attn.out_proj.weight", (8, 8)), ("self_attn.out_proj.bias", (8,)),
    ("linear1.weight", (16, 8)), ("linear1.bias", (16,)), ("linear2.weight", (8, 16)),
    ("linear2.bias", (8,)), ("norm1.weight", (8,)), ("norm1.bias", (8,)),
    ("norm2.weight", (8,)), ("norm2.bias", (8,)),
]

# torch.nn.Embedding(10, 4, padding_idx=0)
TORCH_EMBEDDING_KEYS = [("weight", (10, 4))]


def _torch_file(tmp_path, keys, rng, name):
    """A safetensors file as PyTorch writes it (float32 tensors), and its arrays."""
    arrays = {k: rng.normal(scale=0.5, size=shape).astype(np.float32) for k, shape in keys}
    path = tmp_path / f"{name}.safetensors"
    save_file(arrays, str(path))
    return str(path), {k: v.astype(np.float64) for k, v in arrays.items()}


def _load(model, path):
    result = model.load_state_dict(corefw.load(path))  # into the model's device
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    return model


def _shapes(model):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_mha(x, w, prefix=""):
    """Batch-first self-attention (N, L, E) with packed projections, vectorised over heads."""
    n, length, e = x.shape
    heads = 2
    qkv = x @ w[prefix + "in_proj_weight"].T + w[prefix + "in_proj_bias"]
    q, k, v = (a.reshape(n, length, heads, e // heads).transpose(0, 2, 1, 3)
               for a in np.split(qkv, 3, axis=-1))
    att = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(e // heads))
    out = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, e)
    return out @ w[prefix + "out_proj.weight"].T + w[prefix + "out_proj.bias"], att.mean(1)


def test_sequential_mlp(tmp_path, rng, device):
    path, w = _torch_file(tmp_path, TORCH_MLP_KEYS, rng, "mlp")
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert _shapes(model) == TORCH_MLP_KEYS
    _load(model.to(device), path)
    x = rng.normal(size=(5, 4))
    hidden = np.maximum(x @ w["0.weight"].T + w["0.bias"], 0)
    expected = hidden @ w["2.weight"].T + w["2.bias"]
    out = model(corefw.tensor(x, dtype=corefw.float32, device=device))
    np.testing.assert_allclose(npy(out), expected, rtol=1e-5, atol=1e-5)


def test_multihead_attention(tmp_path, rng, device):
    path, w = _torch_file(tmp_path, TORCH_MHA_KEYS, rng, "mha")
    model = nn.MultiheadAttention(8, 2, batch_first=True)
    assert _shapes(model) == TORCH_MHA_KEYS
    _load(model.to(device), path)
    x = rng.normal(size=(2, 5, 8))
    xt = corefw.tensor(x, dtype=corefw.float32, device=device)
    out, weights = model(xt, xt, xt)
    expected, expected_w = np_mha(x, w)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(npy(weights), expected_w, rtol=1e-4, atol=1e-6)


def test_lstm(tmp_path, rng, device):
    path, w = _torch_file(tmp_path, TORCH_LSTM_KEYS, rng, "lstm")
    model = nn.LSTM(4, 5, num_layers=2, bidirectional=True)
    assert _shapes(model) == TORCH_LSTM_KEYS
    _load(model.to(device), path)
    x = rng.normal(size=(6, 2, 4))  # (L, N, H_in): PyTorch's default layout
    out, (h, c) = model(corefw.tensor(x, dtype=corefw.float32, device=device))

    layer_in, h_n, c_n = x, [], []
    for layer in range(2):
        outs = []
        for sfx, steps in (("", range(6)), ("_reverse", range(5, -1, -1))):
            key = f"_l{layer}{sfx}"
            hh, cc = np.zeros((2, 5)), np.zeros((2, 5))
            seq = np.zeros((6, 2, 5))
            for t in steps:
                g = (layer_in[t] @ w["weight_ih" + key].T + w["bias_ih" + key]
                     + hh @ w["weight_hh" + key].T + w["bias_hh" + key])
                i, f, gg, o = np.split(g, 4, axis=1)
                cc = sig(f) * cc + sig(i) * np.tanh(gg)
                hh = sig(o) * np.tanh(cc)
                seq[t] = hh
            outs.append(seq)
            h_n.append(hh)
            c_n.append(cc)
        layer_in = np.concatenate(outs, axis=2)
    np.testing.assert_allclose(npy(out), layer_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(npy(h), np.stack(h_n), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(npy(c), np.stack(c_n), rtol=1e-4, atol=1e-5)


def test_gru_batch_first(tmp_path, rng, device):
    path, w = _torch_file(tmp_path, TORCH_GRU_KEYS, rng, "gru")
    model = nn.GRU(3, 4, batch_first=True)
    assert _shapes(model) == TORCH_GRU_KEYS
    _load(model.to(device), path)
    x = rng.normal(size=(2, 5, 3))
    out, h_n = model(corefw.tensor(x, dtype=corefw.float32, device=device))
    h = np.zeros((2, 4))
    seq = []
    for t in range(5):
        xr, xz, xn = np.split(x[:, t] @ w["weight_ih_l0"].T + w["bias_ih_l0"], 3, axis=1)
        hr, hz, hn = np.split(h @ w["weight_hh_l0"].T + w["bias_hh_l0"], 3, axis=1)
        r, z = sig(xr + hr), sig(xz + hz)
        n = np.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        seq.append(h)
    np.testing.assert_allclose(npy(out), np.stack(seq, axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(npy(h_n)[0], h, rtol=1e-4, atol=1e-5)


def test_transformer_encoder_layer(tmp_path, rng, device):
    path, w = _torch_file(tmp_path, TORCH_ENCODER_LAYER_KEYS, rng, "encoder")
    model = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    assert _shapes(model) == TORCH_ENCODER_LAYER_KEYS
    _load(model.to(device), path).eval()
    x = rng.normal(size=(5, 2, 8))  # (S, N, E)

    def norm(z, name):
        mu = z.mean(-1, keepdims=True)
        var = ((z - mu) ** 2).mean(-1, keepdims=True)
        return (z - mu) / np.sqrt(var + 1e-5) * w[name + ".weight"] + w[name + ".bias"]

    xb = x.transpose(1, 0, 2)
    xb = norm(xb + np_mha(xb, w, "self_attn.")[0], "norm1")
    ff = np.maximum(xb @ w["linear1.weight"].T + w["linear1.bias"], 0)
    xb = norm(xb + ff @ w["linear2.weight"].T + w["linear2.bias"], "norm2")
    out = model(corefw.tensor(x, dtype=corefw.float32, device=device))
    np.testing.assert_allclose(npy(out), xb.transpose(1, 0, 2), rtol=1e-4, atol=1e-4)


def test_embedding(tmp_path, rng, device):
    path, w = _torch_file(tmp_path, TORCH_EMBEDDING_KEYS, rng, "embedding")
    model = _load(nn.Embedding(10, 4, padding_idx=0, device=device), path)
    idx = np.array([[1, 0, 9], [3, 3, 2]])
    np.testing.assert_allclose(npy(model(corefw.tensor(idx, device=device))), w["weight"][idx],
                               rtol=1e-6)


def test_a_wrong_shape_is_refused_naming_the_key(tmp_path, rng):
    path, _ = _torch_file(tmp_path, TORCH_MLP_KEYS, rng, "mlp")
    model = nn.Sequential(nn.Linear(4, 7), nn.ReLU(), nn.Linear(7, 3))
    with pytest.raises(corefw.errors.StateDictError, match="size mismatch for 0.weight"):
        model.load_state_dict(corefw.load(path))
