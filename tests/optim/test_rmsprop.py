"""RMSprop against a float64 numpy implementation of its update (Tieleman & Hinton's lecture 6e;
centered variant from Graves, 2013; momentum on the normalized gradient, as in PyTorch)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
from corefw.optim import RMSprop


def rmsprop_reference(params, grads_seq, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                      momentum=0.0, centered=False, maximize=False):
    theta = [p.copy() for p in params]
    sq = [np.zeros_like(p) for p in params]
    gavg = [np.zeros_like(p) for p in params]
    buf = [np.zeros_like(p) for p in params]
    history = []
    for grads in grads_seq:
        for i, grad in enumerate(grads):
            g = -grad if maximize else grad
            if weight_decay:
                g = g + weight_decay * theta[i]
            sq[i] = alpha * sq[i] + (1 - alpha) * g * g
            var = sq[i]
            if centered:
                gavg[i] = alpha * gavg[i] + (1 - alpha) * g
                var = var - gavg[i] ** 2
            denom = np.sqrt(var) + eps
            if momentum > 0:
                buf[i] = momentum * buf[i] + g / denom
                theta[i] = theta[i] - lr * buf[i]
            else:
                theta[i] = theta[i] - lr * g / denom
        history.append([x.copy() for x in theta])
    return history, dict(square_avg=sq, grad_avg=gavg, momentum_buffer=buf)


CONFIGS = [
    dict(weight_decay=wd, momentum=m, centered=c, maximize=mx)
    for wd, m, c, mx in itertools.product((0.0, 0.1), (0.0, 0.9), (False, True), (False, True))
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_rmsprop_matches_reference(cfg, problem, run_opt, device):
    params, grads = problem(seed=6, steps=5)
    hp = dict(lr=0.01, alpha=0.9, eps=1e-4, **cfg)
    opt, ps, history = run_opt(lambda p: RMSprop(p, **hp), params, grads, device=device)
    expected, state = rmsprop_reference(params, grads, **hp)
    for got_step, exp_step in zip(history, expected):
        for got, exp in zip(got_step, exp_step):
            np.testing.assert_allclose(got, exp, rtol=1e-11, atol=1e-12)
    keys = ["square_avg"] + (["momentum_buffer"] if cfg["momentum"] else [])
    keys += ["grad_avg"] if cfg["centered"] else []
    for i, p in enumerate(ps):
        st = opt.state[p]
        assert sorted(st) == sorted(["step", *keys])
        assert st["step"].dtype == corefw.float32 and st["step"].item() == 5
        for k in keys:
            np.testing.assert_allclose(st[k].numpy(), state[k][i], rtol=1e-11, atol=1e-13)


def test_rmsprop_defaults_and_validation():
    p = corefw.zeros(3, requires_grad=True)
    g = RMSprop([p]).param_groups[0]
    assert (g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"]) == (
        1e-2, 0.99, 1e-8, 0, 0)
    assert g["centered"] is False and g["maximize"] is False
    for kwargs, msg in [
        (dict(lr=-1), "Invalid learning rate: -1"),
        (dict(eps=-1), "Invalid epsilon value: -1"),
        (dict(momentum=-1), "Invalid momentum value: -1"),
        (dict(weight_decay=-1), "Invalid weight_decay value: -1"),
        (dict(alpha=-1), "Invalid alpha value: -1"),
    ]:
        with pytest.raises(ValueError, match=msg):
            RMSprop([p], **kwargs)
