"""AlphaDropout / FeatureAlphaDropout and MaxUnpool1d/2d/3d against PyTorch's formulas."""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.autograd import gradcheck
from corefw.errors import CorefwIndexError, DTypeError, ShapeError
from corefw.nn import functional as F

ALPHA = 1.7580993408473766


def test_alpha_dropout_formula_and_statistics():
    p = 0.2
    a = 1 / np.sqrt((ALPHA ** 2 * p + 1) * (1 - p))
    corefw.manual_seed(0)
    x = np.random.default_rng(0).standard_normal(200_000)
    y = npy(nn.AlphaDropout(p)(t64(x)))
    dropped = np.isclose(y, ALPHA * a * (p - 1))
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(y[~dropped], x[~dropped] * a + ALPHA * a * p, rtol=1e-12)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01  # self-normalising
    m = nn.AlphaDropout(p).eval()
    np.testing.assert_array_equal(npy(m(t64(x[:10]))), x[:10])

    def fn(t):
        corefw.manual_seed(1)
        return F.alpha_dropout(t, 0.3, training=True)

    assert gradcheck(fn, (t64(x[:12], requires_grad=True),))


def test_feature_alpha_dropout_drops_whole_channels():
    corefw.manual_seed(0)
    x = np.random.default_rng(1).standard_normal((8, 16, 5))
    y = npy(nn.FeatureAlphaDropout(0.5)(t64(x)))
    a = 1 / np.sqrt((ALPHA ** 2 * 0.5 + 1) * 0.5)
    dropped = np.isclose(y, ALPHA * a * (0.5 - 1)).all(-1)
    kept = np.isclose(y, x * a + ALPHA * a * 0.5).all(-1)
    assert (dropped | kept).all() and dropped.any() and kept.any()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.alpha_dropout(t64(x), 1.5, True)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_inverts_max_pool(nd):
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 3) + (6, 4, 6)[:nd])
    pool = getattr(nn, f"MaxPool{nd}d")(2, return_indices=True)
    v, idx = pool(t64(x))
    up = getattr(nn, f"MaxUnpool{nd}d")(2)(v, idx)
    want = np.zeros((2, 3, x[0, 0].size))
    np.put_along_axis(want, idx.numpy().reshape(2, 3, -1), npy(v).reshape(2, 3, -1), 2)
    np.testing.assert_array_equal(npy(up), want.reshape(x.shape))
    assert gradcheck(lambda t: getattr(F, f"max_unpool{nd}d")(t, idx, 2),
                     (t64(npy(v), requires_grad=True),))


def test_max_unpool_output_size_and_errors():
    x = t64(np.random.default_rng(0).standard_normal((1, 1, 5, 5)))
    v, idx = F.max_pool2d(x, 2, return_indices=True)
    assert nn.MaxUnpool2d(2)(v, idx, output_size=(1, 1, 5, 5)).shape == (1, 1, 5, 5)
    with pytest.raises(ShapeError, match="output_size"):
        F.max_unpool2d(v, idx, 2, output_size=(9, 9))
    with pytest.raises(DTypeError, match="indices must be an int64 tensor"):
        F.max_unpool2d(v, idx.to(corefw.int32), 2)


def _starts(u, n_in, n_out, k):
    """PyTorch's generate_intervals, written out."""
    alpha = (n_in - k) / (n_out - 1) if n_out > 1 else 0.0
    seq = [int((i + u) * alpha) - int(u * alpha) for i in range(n_out - 1)]
    return seq + [n_in - k]


def test_fractional_max_pool2d_with_given_samples():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 10))
    u = rng.uniform(size=(2, 3, 2))
    ks, out = (2, 3), (5, 4)
    y, idx = F.fractional_max_pool2d(t64(x), ks, out, return_indices=True,
                                     _random_samples=t64(u))
    want = np.zeros((2, 3) + out)
    want_idx = np.zeros((2, 3) + out, dtype=np.int64)
    for b in range(2):
        for c in range(3):
            hs = _starts(u[b, c, 1], 9, out[0], ks[0])  # sample 1 drives the height
            ws = _starts(u[b, c, 0], 10, out[1], ks[1])
            assert hs[0] == 0 and ws[0] == 0
            for i, h0 in enumerate(hs):
                for j, w0 in enumerate(ws):
                    win = x[b, c, h0:h0 + ks[0], w0:w0 + ks[1]]
                    want[b, c, i, j] = win.max()
                    a, e = np.unravel_index(win.argmax(), win.shape)
                    want_idx[b, c, i, j] = (h0 + a) * 10 + w0 + e
    np.testing.assert_array_equal(npy(y), want)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    pool = nn.FractionalMaxPool2d(ks, output_size=out, _random_samples=t64(u))
    assert list(pool.state_dict()) == ["_random_samples"]
    np.testing.assert_array_equal(npy(pool(t64(x))), want)
    assert gradcheck(lambda t: F.fractional_max_pool2d(t, ks, out, _random_samples=t64(u[:1])),
                     (t64(x[:1], True),))
    corefw.manual_seed(0)
    r = nn.FractionalMaxPool3d(2, output_ratio=0.5)(t64(rng.standard_normal((1, 2, 6, 6, 8))))
    assert r.shape == (1, 2, 3, 3, 4)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ShapeError, match="must fit in the input's spatial size"):
        F.fractional_max_pool2d(t64(x), 3, (9, 9))


def _log_softmax(z):
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_adaptive_log_softmax_with_loss():
    corefw.manual_seed(0)
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0).double()
    assert list(m.state_dict()) == ["head.weight", "tail.0.0.weight", "tail.0.1.weight",
                                    "tail.1.0.weight", "tail.1.1.weight"]
    assert m.tail[0][0].weight.shape == (4, 8) and m.tail[1][0].weight.shape == (2, 8)
    p = {k: npy(v) for k, v in m.state_dict().items()}
    x = np.random.default_rng(5).standard_normal((6, 8))
    target = np.array([0, 4, 9, 2, 7, 5])
    head = _log_softmax(x @ p["head.weight"].T)
    want = []
    for row, t in zip(range(6), target):
        if t < 3:
            want.append(head[row, t])
            continue
        i, low = (0, 3) if t < 6 else (1, 6)
        tail = _log_softmax(x @ p[f"tail.{i}.0.weight"].T @ p[f"tail.{i}.1.weight"].T)
        want.append(tail[row, t - low] + head[row, 3 + i])
    out, loss = m(t64(x), corefw.tensor(target))
    np.testing.assert_allclose(npy(out), want, rtol=1e-12)
    assert loss.item() == pytest.approx(-np.mean(want))
    full = npy(m.log_prob(t64(x)))
    np.testing.assert_allclose(np.exp(full).sum(1), 1.0)
    np.testing.assert_allclose(full[np.arange(6), target], want, rtol=1e-12)
    np.testing.assert_array_equal(m.predict(t64(x)).numpy(), full.argmax(1))
    one = m(t64(x[0]), corefw.tensor(0))
    assert one.output.shape == () and one.output.item() == pytest.approx(want[0])
    assert gradcheck(lambda t: m(t, corefw.tensor(target)).loss, (t64(x, True),))
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [6, 3])
    with pytest.raises(CorefwIndexError, match=r"Target values should be in \[0, 9\]"):
        m(t64(x), corefw.tensor([0, 1, 2, 3, 4, 10]))
