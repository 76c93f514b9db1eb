"""swa_utils: AveragedModel (SWA running mean, EMA, custom avg_fn, buffers), update_bn against
the batch statistics, SWALR against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw
import corefw.nn as nn
from corefw.optim import SGD
from corefw.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_multi_avg_fn,
    get_swa_avg_fn,
    update_bn,
)


def _snapshots(model, k, seed=0):
    """Set ``model``'s parameters to k random states; yield each state as numpy."""
    rng = np.random.default_rng(seed)
    for _ in range(k):
        state = [rng.standard_normal(tuple(p.shape)) for p in model.parameters()]
        with corefw.no_grad():
            for p, s in zip(model.parameters(), state):
                p.copy_(corefw.tensor(s, dtype=p.dtype))
        yield state


@pytest.mark.parametrize("kind", ["swa", "swa-avg_fn", "ema"])
def test_averaged_model(kind):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).double()
    kw = {"swa": {}, "swa-avg_fn": {"avg_fn": get_swa_avg_fn()},
          "ema": {"multi_avg_fn": get_ema_multi_avg_fn(0.9)}}[kind]
    avg = AveragedModel(model, **kw)
    assert list(avg.state_dict())[:2] == ["n_averaged", "module.0.weight"]
    expected = None
    for k, state in enumerate(_snapshots(model, 5), 1):
        with corefw.no_grad():
            model[1].running_mean.fill_(float(k))
        avg.update_parameters(model)
        if expected is None:
            expected = [s.copy() for s in state]
        elif kind == "ema":
            expected = [0.9 * e + 0.1 * s for e, s in zip(expected, state)]
        else:
            expected = [e + (s - e) / k for e, s in zip(expected, state)]
        for got, exp in zip(avg.module.parameters(), expected):
            np.testing.assert_allclose(got.detach().numpy(), exp, rtol=1e-12)
    assert avg.n_averaged.item() == 5 and avg.n_averaged.dtype == corefw.int64
    assert avg.module[1].running_mean.tolist() == [5.0, 5.0]  # buffers follow the model
    x = corefw.randn(4, 3, dtype=corefw.float64)
    avg.eval()
    np.testing.assert_array_equal(avg(x).detach().numpy(), avg.module(x).detach().numpy())
    with pytest.raises(ValueError, match="only one of avg_fn and multi_avg_fn"):
        AveragedModel(model, avg_fn=get_swa_avg_fn(), multi_avg_fn=get_ema_multi_avg_fn())


def test_averaged_buffers_with_use_buffers():
    model = nn.BatchNorm1d(2).double()
    avg = AveragedModel(model, use_buffers=True)
    for v in (1.0, 3.0):
        with corefw.no_grad():
            model.running_mean.fill_(v)
        avg.update_parameters(model)
    assert avg.module.running_mean.tolist() == [2.0, 2.0]


def test_update_bn_recomputes_running_stats():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((4, 8, 3)) * 2 + 1
    model = nn.Sequential(nn.BatchNorm1d(3)).double()
    with corefw.no_grad():
        model[0].running_mean.fill_(100.0)
    model.eval()
    loader = [(corefw.tensor(b), corefw.zeros(8)) for b in data]
    update_bn(loader, model)
    bn = model[0]
    np.testing.assert_allclose(bn.running_mean.numpy(), data.mean(axis=1).mean(axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), data.var(axis=1, ddof=1).mean(axis=0),
                               rtol=1e-12)
    assert bn.momentum == 0.1 and model.training is False


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr(strategy):
    opt = SGD([corefw.zeros(2, requires_grad=True)], lr=1.0)
    sched = SWALR(opt, swa_lr=0.1, anneal_epochs=4, anneal_strategy=strategy)
    lrs = []
    for _ in range(7):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()

    def alpha(t):
        return (1 - math.cos(math.pi * t)) / 2 if strategy == "cos" else t

    expected = [0.1 * alpha(min(e, 4) / 4) + 1.0 * (1 - alpha(min(e, 4) / 4)) for e in range(7)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="anneal_strategy"):
        SWALR(opt, 0.1, anneal_strategy="step")
    with pytest.raises(ValueError, match="anneal_epochs"):
        SWALR(opt, 0.1, anneal_epochs=-1)
