"""SGD against a float64 numpy implementation of its update rule.

The reference follows PyTorch's implementation (which negates the gradient first when
``maximize``; its docs' pseudo-code applies the sign at the end instead):

    g = -grad if maximize else grad
    g = g + weight_decay * theta
    b = g (first step) | momentum * b + (1 - dampening) * g
    g = g + momentum * b (nesterov) | b
    theta = theta - lr * g
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
from corefw.optim import SGD


def sgd_reference(params, grads_seq, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                  nesterov=False, maximize=False):
    theta = [p.copy() for p in params]
    bufs = [None] * len(theta)
    history = []
    for grads in grads_seq:
        for i, grad in enumerate(grads):
            if grad is None:
                continue
            g = -grad if maximize else grad.copy()
            if weight_decay:
                g = g + weight_decay * theta[i]
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            theta[i] = theta[i] - lr * g
        history.append([t.copy() for t in theta])
    return history, bufs


CONFIGS = [
    dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n, maximize=mx)
    for m, d, wd, n, mx in itertools.product((0.0, 0.9), (0.0, 0.3), (0.0, 0.05), (False, True),
                                             (False, True))
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_reference(cfg, problem, run_opt, device):
    params, grads = problem(seed=1, steps=5)
    opt, ps, history = run_opt(lambda p: SGD(p, lr=0.1, **cfg), params, grads, device=device)
    expected, bufs = sgd_reference(params, grads, lr=0.1, **cfg)
    for got_step, exp_step in zip(history, expected):
        for got, exp in zip(got_step, exp_step):
            np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)
    for p, buf in zip(ps, bufs):
        if cfg["momentum"]:
            np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), buf, rtol=1e-12)
        else:
            assert "momentum_buffer" not in opt.state[p]


def test_sgd_float32_close_to_float64_reference(problem, run_opt, device):
    params, grads = problem(seed=2, steps=5)
    cfg = dict(momentum=0.9, nesterov=True, weight_decay=0.01)
    _, _, history = run_opt(lambda p: SGD(p, lr=0.05, **cfg), params, grads, corefw.float32,
                            device=device)
    expected, _ = sgd_reference(params, grads, lr=0.05, **cfg)
    for got, exp in zip(history[-1], expected[-1]):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)


def test_sgd_skips_params_without_grad(problem, run_opt, device):
    params, grads = problem(seed=3, steps=4)
    grads = [[g[0], None, g[2]] for g in grads]
    opt, ps, history = run_opt(lambda p: SGD(p, lr=0.1, momentum=0.5), params, grads, device=device)
    expected, _ = sgd_reference(params, grads, lr=0.1, momentum=0.5)
    np.testing.assert_array_equal(history[-1][1], params[1])
    assert ps[1] not in opt.state or not opt.state[ps[1]]
    for got, exp in zip(history[-1], expected[-1]):
        np.testing.assert_allclose(got, exp, rtol=1e-12)


def test_sgd_defaults_and_validation():
    p = corefw.zeros(2, requires_grad=True)
    opt = SGD([p])
    group = opt.param_groups[0]
    assert group["lr"] == 1e-3 and group["momentum"] == 0 and group["dampening"] == 0
    assert group["weight_decay"] == 0 and group["nesterov"] is False
    assert group["maximize"] is False
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid momentum value: -0.5"):
        SGD([p], momentum=-0.5)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -0.1"):
        SGD([p], weight_decay=-0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        SGD([p], momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(NotImplementedError, match="fused"):
        SGD([p], fused=True)


def test_sgd_closure_runs_with_grad_and_returns_loss(device):
    w = corefw.tensor([1.0, -2.0], dtype=corefw.float64, requires_grad=True, device=device)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        assert corefw.is_grad_enabled()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with corefw.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.detach().numpy(), [0.5, -1.0])  # w - 0.25 * 2w
