"""The cpu plugin's training kernels (corefw_cpu/_train.py): the
branch-free ``where`` bit for bit against ``np.where``, ``cross_entropy_grad`` against the
gradient corefw's cross_entropy VJP computes and against the closed form in float64."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from corefw_cpu import _train as K

import corefw
from corefw.ops.nn_loss import cross_entropy_indices

INT = {2: np.int16, 4: np.int32, 8: np.int64}


def _bits(a):
    a = np.asarray(a)
    return a.view(INT[a.dtype.itemsize]) if a.dtype.kind == "f" else a


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((200, 100), (200, 100), (200, 100)),
                                    ((200, 100), (100,), (200, 100)),
                                    ((200, 100), (100,), (100,)), ((200, 1), (1, 100), (100,)),
                                    ((200, 1), (200, 100), None), ((200, 100), (1, 100), None),
                                    ((5,), (5,), None), ((), (), None)], ids=str)
def test_where_is_np_where_bit_for_bit(shapes, dtype):
    rng = np.random.default_rng(0)
    cs, xs, ys = shapes
    cond = rng.random(cs) > 0.5
    x = rng.standard_normal(xs).astype(dtype)
    x.reshape(-1)[:3] = [np.nan, -0.0, np.inf][:x.size]
    others = [rng.standard_normal(ys).astype(dtype)] if ys else [0, 0.0, -0.0, 1.5, True]
    for y, swap, layout in itertools.product(others, (False, True), ("c", "f")):
        args = (cond, y, x) if swap else (cond, x, y)
        if layout == "f":  # channel-major style views
            args = tuple(a.T.copy().T if isinstance(a, np.ndarray) else a for a in args)
        got, want = K._where(*args), np.where(*args)
        assert isinstance(got, np.ndarray)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(_bits(got), _bits(want))


def test_where_falls_back_for_other_operands():
    cond = np.ones((200, 100), bool)
    ints = np.arange(20000).reshape(200, 100)
    for args in ((cond, ints, 0), (cond.astype(np.int8), np.ones((200, 100)), 0.0),
                 (cond, np.ones((200, 100), np.float32), np.zeros((200, 100)))):
        got, want = K._where(*args), np.where(*args)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def _ce_grad_reference(x, t, weight, g, ignore_index, label_smoothing, reduction):
    """The closed form in float64: d/dx of PyTorch's cross entropy."""
    m, c = x.shape
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    wc = np.ones(c) if weight is None else weight
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    w = np.where(keep, wc[safe], 0.0)
    coef = np.broadcast_to(g, (m,)) / (w.sum() if reduction == "mean" else 1.0)
    onehot = np.eye(c)[safe]
    grad = ((1 - label_smoothing) * coef * w)[:, None] * (p - onehot)
    if label_smoothing:  # d/dx of -sum_c wc[c] * logp[c], per kept sample
        grad += (keep * coef * label_smoothing / c)[:, None] * (p * wc.sum() - wc)
    return grad


CE = [dict(reduction=r, weighted=w, ignore=i, label_smoothing=s)
      for r, w, i, s in itertools.product(("mean", "sum", "none"), (False, True), (False, True),
                                          (0.0, 0.2))]


@pytest.mark.parametrize("cfg", CE, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_cross_entropy_grad_kernel(cfg):
    rng = np.random.default_rng(1)
    m, c = 7, 4
    x = rng.standard_normal((m, c)) * 3
    t = rng.integers(0, c, m)
    t[:2] = 1
    weight = rng.uniform(0.5, 2.0, c) if cfg["weighted"] else None
    attrs = dict(ignore_index=1 if cfg["ignore"] else -100,
                 label_smoothing=cfg["label_smoothing"], reduction=cfg["reduction"])
    g = rng.standard_normal(m) if cfg["reduction"] == "none" else np.asarray(0.7)
    want = _ce_grad_reference(x, t, weight, g, **attrs)
    np.testing.assert_allclose(K._cross_entropy_grad(x, t, weight, g, **attrs), want,
                               rtol=1e-12, atol=1e-14)
    for dtype in (corefw.float64, corefw.float32):  # against the current cross_entropy VJP
        tx = corefw.tensor(x, dtype=dtype, requires_grad=True)
        tw = None if weight is None else corefw.tensor(weight, dtype=dtype)
        loss = cross_entropy_indices(tx, corefw.tensor(t), tw, **attrs)
        loss.backward(corefw.tensor(g, dtype=dtype))
        arrays = [a.astype(dtype.np) if a is not None and a.dtype.kind == "f" else a
                  for a in (x, t, weight, g)]
        got = K._cross_entropy_grad(*arrays, **attrs)
        assert got.dtype == dtype.np
        np.testing.assert_allclose(got, tx.grad.numpy(), rtol=1e-6 if dtype is corefw.float32
                                   else 1e-13, atol=1e-7 if dtype is corefw.float32 else 1e-15)


def test_cross_entropy_grad_of_an_empty_batch():
    x, t = np.zeros((0, 3), np.float32), np.zeros(0, np.int64)
    out = K._cross_entropy_grad(x, t, None, np.asarray(1.0, np.float32), ignore_index=-100,
                                label_smoothing=0.0, reduction="mean")
    assert out.shape == (0, 3) and out.dtype == np.float32
