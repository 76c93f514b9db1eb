"""Adagrad against a float64 numpy implementation of its update (Duchi et al., 2011, diagonal
form, with PyTorch's lr decay ``lr / (1 + (t - 1) * lr_decay)``)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
from corefw.optim import Adagrad


def adagrad_reference(params, grads_seq, lr, lr_decay=0.0, weight_decay=0.0,
                      initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    theta = [p.copy() for p in params]
    acc = [np.full_like(p, initial_accumulator_value) for p in params]
    history = []
    for t, grads in enumerate(grads_seq, start=1):
        clr = lr / (1 + (t - 1) * lr_decay)
        for i, grad in enumerate(grads):
            g = -grad if maximize else grad
            if weight_decay:
                g = g + weight_decay * theta[i]
            acc[i] = acc[i] + g * g
            theta[i] = theta[i] - clr * g / (np.sqrt(acc[i]) + eps)
        history.append([x.copy() for x in theta])
    return history, acc


CONFIGS = [
    dict(lr_decay=d, weight_decay=wd, initial_accumulator_value=iv, maximize=mx)
    for d, wd, iv, mx in itertools.product((0.0, 0.2), (0.0, 0.1), (0.0, 0.5), (False, True))
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_adagrad_matches_reference(cfg, problem, run_opt, device):
    params, grads = problem(seed=7, steps=5)
    hp = dict(lr=0.1, eps=1e-3, **cfg)
    opt, ps, history = run_opt(lambda p: Adagrad(p, **hp), params, grads, device=device)
    expected, acc = adagrad_reference(params, grads, **hp)
    for got_step, exp_step in zip(history, expected):
        for got, exp in zip(got_step, exp_step):
            np.testing.assert_allclose(got, exp, rtol=1e-11, atol=1e-12)
    for p, a in zip(ps, acc):
        assert sorted(opt.state[p]) == ["step", "sum"]
        assert opt.state[p]["step"].item() == 5
        np.testing.assert_allclose(opt.state[p]["sum"].numpy(), a, rtol=1e-12)


def test_adagrad_state_is_created_by_the_constructor(device):
    p = corefw.zeros(2, 2, requires_grad=True, device=device)
    opt = Adagrad([p], initial_accumulator_value=0.25)
    assert opt.state[p]["step"].item() == 0 and opt.state[p]["step"].dtype == corefw.float32
    np.testing.assert_array_equal(opt.state[p]["sum"].numpy(), np.full((2, 2), 0.25))
    assert sorted(opt.state_dict()["state"]) == [0]


def test_adagrad_param_group_added_later_is_initialized(device):
    a = corefw.zeros(2, dtype=corefw.float64, requires_grad=True, device=device)
    b = corefw.ones(2, dtype=corefw.float64, requires_grad=True, device=device)
    opt = Adagrad([a], lr=0.5, initial_accumulator_value=1.0)
    opt.add_param_group({"params": [b], "lr": 0.1})
    b.grad = corefw.tensor([1.0, -2.0], dtype=corefw.float64, device=device)
    opt.step()
    g = np.array([1.0, -2.0])
    np.testing.assert_allclose(b.detach().numpy(), 1 - 0.1 * g / (np.sqrt(1 + g * g) + 1e-10))


def test_adagrad_defaults_and_validation():
    p = corefw.zeros(3, requires_grad=True)
    g = Adagrad([p]).param_groups[0]
    assert (g["lr"], g["lr_decay"], g["weight_decay"], g["initial_accumulator_value"],
            g["eps"]) == (1e-2, 0, 0, 0, 1e-10)
    for kwargs, msg in [
        (dict(lr=-1), "Invalid learning rate: -1"),
        (dict(lr_decay=-1), "Invalid lr_decay value: -1"),
        (dict(weight_decay=-1), "Invalid weight_decay value: -1"),
        (dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
        (dict(eps=-1), "Invalid epsilon value: -1"),
    ]:
        with pytest.raises(ValueError, match=msg):
            Adagrad([p], **kwargs)
