"""InstanceNorm, RMSNorm, LocalResponseNorm, BatchNorm3d and EmbeddingBag: forward against
float64 numpy from the definitions, running statistics, backward by finite differences,
state_dict keys, errors."""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.autograd import gradcheck
from corefw.errors import CorefwIndexError, ShapeError
from corefw.nn import functional as F

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_instance_norm_forward_running_stats_and_eval(nd):
    x = RNG.standard_normal((3, 4) + (5, 4, 3)[:nd]) * 2 + 1
    m = getattr(nn, f"InstanceNorm{nd}d")(4, affine=True, track_running_stats=True).double()
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"]
    with corefw.no_grad():
        m.weight.copy_(t64(RNG.standard_normal(4)))
        m.bias.copy_(t64(RNG.standard_normal(4)))
    dims = tuple(range(2, x.ndim))
    mean, var = x.mean(dims, keepdims=True), x.var(dims, keepdims=True)
    shape = (1, 4) + (1,) * nd
    w, b = npy(m.weight).reshape(shape), npy(m.bias).reshape(shape)
    np.testing.assert_allclose(npy(m(t64(x))), (x - mean) / np.sqrt(var + 1e-5) * w + b,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npy(m.running_mean), 0.1 * x.mean(dims).mean(0), rtol=1e-12)
    np.testing.assert_allclose(npy(m.running_var),
                               0.9 + 0.1 * x.var(dims, ddof=1).mean(0), rtol=1e-12)
    m.eval()
    rm, rv = npy(m.running_mean).reshape(shape), npy(m.running_var).reshape(shape)
    np.testing.assert_allclose(npy(m(t64(x))), (x - rm) / np.sqrt(rv + 1e-5) * w + b,
                               rtol=1e-10)
    plain = getattr(nn, f"InstanceNorm{nd}d")(4)
    assert list(plain.state_dict()) == []
    assert plain(t64(x[0])).shape == x[0].shape  # unbatched
    xs = t64(x[:2, :, :3], True)
    assert gradcheck(lambda t, a, c: F.instance_norm(t, weight=a, bias=c),
                     (xs, t64(np.ones(4) * 1.5, True), t64(np.zeros(4), True)))


def test_instance_norm_errors():
    with pytest.raises(ShapeError, match="InstanceNorm2d: expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(corefw.ones(3, 4))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(corefw.ones(2, 3, 1))


def test_batch_norm_3d():
    x = RNG.standard_normal((2, 3, 2, 3, 2))
    m = nn.BatchNorm3d(3).double()
    mean, var = x.mean((0, 2, 3, 4), keepdims=True), x.var((0, 2, 3, 4), keepdims=True)
    np.testing.assert_allclose(npy(m(t64(x))), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    with pytest.raises(ShapeError, match="expected 5D input"):
        m(t64(x[0]))


def test_rms_norm():
    x = RNG.standard_normal((3, 4, 5))
    m = nn.RMSNorm((4, 5)).double()
    assert list(m.state_dict()) == ["weight"]
    with corefw.no_grad():
        m.weight.copy_(t64(RNG.standard_normal((4, 5))))
    eps = np.finfo(np.float64).eps
    want = x / np.sqrt((x ** 2).mean((1, 2), keepdims=True) + eps) * npy(m.weight)
    np.testing.assert_allclose(npy(m(t64(x))), want, rtol=1e-12)
    want = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 0.1)
    np.testing.assert_allclose(npy(F.rms_norm(t64(x), 5, eps=0.1)), want, rtol=1e-12)
    assert gradcheck(lambda t, w: F.rms_norm(t, 5, w, 1e-3),
                     (t64(x[:2], True), t64(RNG.standard_normal(5), True)))
    with pytest.raises(ShapeError, match=r"rms_norm: given normalized_shape=\[4\]"):
        F.rms_norm(t64(x), 4)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm(size):
    x = RNG.standard_normal((2, 5, 3, 2))
    c = x.shape[1]
    want = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(1)
        want[:, ch] = x[:, ch] / (2.0 + 0.3 / size * s) ** 0.6
    y = nn.LocalResponseNorm(size, alpha=0.3, beta=0.6, k=2.0)(t64(x))
    np.testing.assert_allclose(npy(y), want, rtol=1e-12)
    assert gradcheck(lambda t: F.local_response_norm(t, size, 0.3, 0.6, 2.0),
                     (t64(x[:1, :, :1], True),))
    with pytest.raises(ShapeError, match="local_response_norm: expected 3D or higher"):
        F.local_response_norm(t64(x[0, 0]), 2)


def _bag_ref(weight, idx, offsets, mode, psw=None, pad=None):
    ends = list(offsets[1:]) + [len(idx)]
    out = []
    for s, e in zip(offsets, ends):
        rows = [weight[i] * (1 if psw is None else psw[k])
                for k, i in zip(range(s, e), idx[s:e]) if i != pad]
        if not rows:
            out.append(np.zeros(weight.shape[1]))
        elif mode == "sum":
            out.append(np.sum(rows, 0))
        elif mode == "mean":
            out.append(np.mean(rows, 0))
        else:
            out.append(np.max(rows, 0))
    return np.array(out)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(mode):
    corefw.manual_seed(0)
    m = nn.EmbeddingBag(10, 3, mode=mode, padding_idx=2).double()
    assert list(m.state_dict()) == ["weight"] and np.all(npy(m.weight)[2] == 0)
    w = npy(m.weight)
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2])
    offsets = [0, 4, 4, 8]  # the second bag is empty; the last holds only padding
    out = m(corefw.tensor(idx), corefw.tensor(offsets))
    np.testing.assert_allclose(npy(out), _bag_ref(w, idx, offsets, mode, pad=2), rtol=1e-12)
    two_d = m(corefw.tensor(idx[:8].reshape(2, 4)))
    np.testing.assert_allclose(npy(two_d), _bag_ref(w, idx[:8], [0, 4], mode, pad=2),
                               rtol=1e-12)
    assert gradcheck(lambda t: F.embedding_bag(corefw.tensor(idx), t, corefw.tensor(offsets),
                                               mode=mode),
                     (t64(w + RNG.standard_normal(w.shape) * 0.1, True),))
    if mode == "sum":
        psw = RNG.standard_normal(len(idx))
        got = F.embedding_bag(corefw.tensor(idx), t64(w), corefw.tensor([0, 3]), mode="sum",
                              per_sample_weights=t64(psw))
        np.testing.assert_allclose(npy(got), _bag_ref(w, idx, [0, 3], "sum", psw), rtol=1e-12)
        last = F.embedding_bag(corefw.tensor(idx), t64(w), corefw.tensor([0, 3, 9]),
                               mode="sum", include_last_offset=True)
        np.testing.assert_allclose(npy(last), _bag_ref(w, idx, [0, 3], "sum"), rtol=1e-12)
        part = F.embedding_bag(corefw.tensor(idx), t64(w), corefw.tensor([0, 3, 5]),
                               mode="sum", include_last_offset=True)  # idx[5:] in no bag
        np.testing.assert_allclose(npy(part), _bag_ref(w, idx[:5], [0, 3], "sum"), rtol=1e-12)


def test_embedding_bag_errors():
    w = corefw.randn(5, 2)
    with pytest.raises(CorefwIndexError, match="embedding_bag: index 7 is out of range"):
        F.embedding_bag(corefw.tensor([[1, 7]]), w)
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(corefw.tensor([[1, 2]]), w, corefw.tensor([0]))
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(corefw.tensor([[1, 2]]), w, per_sample_weights=corefw.ones(1, 2))
    with pytest.raises(ValueError, match="mode has to be one of"):
        nn.EmbeddingBag(5, 2, mode="min")


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_cross_map_lrn2d_follows_pytorchs_running_sum(size):
    x = RNG.standard_normal((2, 7, 3, 2))
    c = x.shape[1]
    sq = x ** 2
    pre = int((size - 1) / 2 + 1)
    scale = np.zeros_like(x)  # PyTorch's legacy loop, transcribed
    scale[:, 0] = sq[:, :min(pre, c)].sum(1)
    for ch in range(1, c):
        scale[:, ch] = scale[:, ch - 1]
        if ch < c - pre + 1:
            scale[:, ch] += sq[:, ch + pre - 1]
        if ch > pre:
            scale[:, ch] -= sq[:, ch - pre]
    want = x * (1.5 + 0.2 / size * scale) ** -0.7
    m = nn.CrossMapLRN2d(size, alpha=0.2, beta=0.7, k=1.5)
    np.testing.assert_allclose(npy(m(t64(x))), want, rtol=1e-12)
    assert gradcheck(m, (t64(x[:1, :, :1], True),))
