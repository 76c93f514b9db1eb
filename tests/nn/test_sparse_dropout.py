"""Embedding, one_hot and dropout: PyTorch's initialisation and options (padding_idx, max_norm,
from_pretrained), the RNG contract of dropout, and errors. Embedding's and dropout's values and
gradients (padding_idx, scale_grad_by_freq) are rows of the op table (corefw.testing)."""

import math

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.autograd import gradcheck as _gradcheck
from corefw.errors import CorefwIndexError, DTypeError, ShapeError
from corefw.ops.registry import get_op


def gradcheck(fn, inputs):
    """Finite differences in float64, with tolerances tight enough to catch a 1e-4 error."""
    return _gradcheck(fn, inputs, atol=1e-7, rtol=1e-6)


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


# ---- embedding ----------------------------------------------------------------------------
def test_embedding_parameters_and_initialisation(device):
    emb = nn.Embedding(1000, 64, padding_idx=3, device=device)
    assert [(k, tuple(v.shape)) for k, v in emb.state_dict().items()] == [("weight", (1000, 64))]
    w = npy(emb.weight)
    np.testing.assert_array_equal(w[3], 0.0)
    rest = np.delete(w, 3, axis=0)
    n = rest.size
    assert abs(rest.mean()) < 5 / math.sqrt(n)  # N(0, 1)
    assert abs(rest.var() - 1) < 5 * math.sqrt(2 / n)
    assert repr(emb) == "Embedding(1000, 64, padding_idx=3)"
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_embedding_padding_idx_gets_no_gradient(rng, device):
    emb = nn.Embedding(5, 2, padding_idx=0).double().to(device)
    idx = corefw.tensor([[0, 1, 1], [4, 0, 2]], device=device)
    out = emb(idx)
    np.testing.assert_array_equal(npy(out)[0, 0], 0.0)
    out.sum().backward()
    np.testing.assert_array_equal(npy(emb.weight.grad), [[0, 0], [2, 2], [1, 1], [0, 0],
                                                        [1, 1]])


def test_embedding_max_norm_renormalises_looked_up_rows_in_place(device):
    weight = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    emb = nn.Embedding.from_pretrained(t64(weight, device=device), max_norm=1.0)
    out = emb(corefw.tensor([0, 1], device=device))
    np.testing.assert_allclose(npy(out), [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(npy(emb.weight)[:2], [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_array_equal(npy(emb.weight)[2], [6.0, 8.0])  # not looked up: unchanged


def test_embedding_from_pretrained_freezes_by_default(device):
    emb = nn.Embedding.from_pretrained(corefw.ones(3, 2, device=device))
    assert not emb.weight.requires_grad
    assert nn.Embedding.from_pretrained(corefw.ones(3, 2, device=device),
                                        freeze=False).weight.requires_grad


def test_embedding_errors(device):
    emb = nn.Embedding(4, 2, device=device)
    with pytest.raises(DTypeError, match="embedding: expected indices of an integer dtype"):
        emb(corefw.tensor([0.0, 1.0], device=device))
    with pytest.raises(CorefwIndexError, match="embedding: index 4 is out of range.*4 rows"):
        emb(corefw.tensor([0, 4], device=device))
    with pytest.raises(CorefwIndexError, match="index -1"):
        emb(corefw.tensor([-1], device=device))
    with pytest.raises(ValueError, match="padding_idx 7"):
        nn.Embedding(4, 2, padding_idx=7)
    with pytest.raises(ShapeError, match="embedding: weight must be a 2-D"):
        F.embedding(corefw.tensor([0], device=device), corefw.ones(3, device=device))


def test_one_hot(device):
    t = corefw.tensor([[0, 2], [1, 2]], device=device)
    out = F.one_hot(t)
    assert out.dtype == corefw.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 2]]])
    assert F.one_hot(corefw.tensor([1], device=device), 4).tolist() == [[0, 1, 0, 0]]
    with pytest.raises(DTypeError, match="one_hot"):
        F.one_hot(corefw.tensor([1.0], device=device))
    with pytest.raises(CorefwIndexError, match="one_hot: index 5"):
        F.one_hot(corefw.tensor([5], device=device), 3)


# ---- dropout ------------------------------------------------------------------------------
def test_dropout_identity_cases(device):
    x = corefw.randn(10, device=device)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    layer = nn.Dropout(0.5)
    layer.eval()
    assert layer(x) is x
    np.testing.assert_array_equal(npy(F.dropout(x, 1.0)), 0.0)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(p, device):
    x = corefw.ones(20000, dtype=corefw.float64, device=device)
    out = npy(F.dropout(x, p))
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-15)
    n = out.size
    assert abs((~kept).mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert abs(out.mean() - 1.0) < 5 * math.sqrt(p / (1 - p) / n)  # unbiased


def test_dropout_uses_the_device_rng_and_rand_like(device):
    """The mask is ``rand_like(input) >= p``: the same seed gives the same mask, and the mask
    is exactly the one rand_like draws."""
    x = corefw.randn(4, 5, dtype=corefw.float64, device=device)
    corefw.manual_seed(123)
    a = F.dropout(x, 0.4)
    corefw.manual_seed(123)
    u = npy(corefw.rand_like(x))
    expected = np.where(u >= 0.4, npy(x) / 0.6, 0.0)
    np.testing.assert_allclose(npy(a), expected, rtol=1e-15)
    corefw.manual_seed(123)
    np.testing.assert_array_equal(npy(nn.Dropout(0.4)(x)), npy(a))


def test_dropout_gradient_is_the_mask_over_keep_probability(rng, device):
    x = t64(rng.normal(size=(50,)), requires_grad=True, device=device)
    out = F.dropout(x, 0.3)
    out.sum().backward()
    mask = npy(out) != 0
    np.testing.assert_allclose(npy(x.grad), np.where(mask, 1 / 0.7, 0.0), rtol=1e-15)


def test_dropout_op_gradcheck_and_kernel_matches_decomposition(rng, device):
    x = t64(rng.normal(size=(3, 4)), requires_grad=True, device=device)
    noise = t64(rng.uniform(size=(3, 4)), device=device)
    op = get_op("dropout")
    from corefw.ops.nn_misc import dropout_op

    assert gradcheck(lambda x: dropout_op(x, noise, 0.35), (x,))
    channel_noise = t64(rng.uniform(size=(3, 1)), device=device)
    assert gradcheck(lambda x: dropout_op(x, channel_noise, 0.5), (x,))
    for dtype in (corefw.float32, corefw.float64):
        xd, nd = x.detach().to(dtype), channel_noise.to(dtype)
        np.testing.assert_array_equal(npy(dropout_op(xd, nd, 0.5)),
                                      npy(op.decomposition(xd, nd, p=0.5)))


@pytest.mark.parametrize("fn, shape, lead", [
    (F.dropout1d, (4, 6, 5), 2), (F.dropout2d, (4, 6, 3, 3), 2),
    (F.dropout3d, (4, 6, 2, 2, 2), 2), (F.dropout2d, (6, 3, 3), 1)])
def test_channel_dropout_zeroes_whole_channels(fn, shape, lead, device):
    x = corefw.ones(shape, dtype=corefw.float64, device=device)
    channels = npy(fn(x, 0.5)).reshape(int(np.prod(shape[:lead])), -1)
    for row in channels:
        assert (row == 0).all() or np.allclose(row, 2.0)
    assert 0 < (channels[:, 0] == 0).sum() < channels.shape[0]


def test_dropout_modules_and_errors(device):
    assert repr(nn.Dropout(0.2)) == "Dropout(p=0.2, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="dropout: dropout probability"):
        F.dropout(corefw.ones(3, device=device), -0.1)
    with pytest.raises(DTypeError, match="dropout: expected a floating point input"):
        F.dropout(corefw.tensor([1, 2], device=device), 0.5)
    with pytest.raises(ShapeError, match="dropout2d: expected a 3-D"):
        F.dropout2d(corefw.ones(3, 4, device=device), 0.5)
    y = corefw.ones(1000, device=device) * 1.0
    out = nn.Dropout(0.5, inplace=True)(y)
    assert out is y and (npy(y) == 0).any()
