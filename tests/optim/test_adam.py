"""Adam and AdamW against a float64 numpy implementation of the published update.

Adam (Kingma & Ba, 2015, Algorithm 1, with epsilon outside the bias-corrected root as in
PyTorch), L2 weight decay added to the gradient; AdamW (Loshchilov & Hutter, 2019) shrinks the
parameter by ``1 - lr * weight_decay`` instead. AMSGrad (Reddi et al., 2018) keeps the running
maximum of the raw second moment, bias-corrected at the current step, as PyTorch does.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
from corefw.optim import Adam, AdamW


def adam_reference(params, grads_seq, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   amsgrad=False, maximize=False, decoupled=False):
    b1, b2 = betas
    theta = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    vmax = [np.zeros_like(p) for p in params]
    history = []
    for t, grads in enumerate(grads_seq, start=1):
        for i, grad in enumerate(grads):
            g = -grad if maximize else grad
            if weight_decay and decoupled:
                theta[i] = theta[i] * (1 - lr * weight_decay)
            elif weight_decay:
                g = g + weight_decay * theta[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            if amsgrad:
                vmax[i] = np.maximum(vmax[i], v[i])
                v_hat = vmax[i] / (1 - b2**t)
            else:
                v_hat = v[i] / (1 - b2**t)
            theta[i] = theta[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append([x.copy() for x in theta])
    return history, dict(exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=vmax)


CONFIGS = [
    dict(weight_decay=wd, amsgrad=a, maximize=mx)
    for wd, a, mx in itertools.product((0.0, 0.1), (False, True), (False, True))
]


@pytest.mark.parametrize("capturable", [False, True], ids=["", "capturable"])
@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_adam_matches_reference(cls, cfg, capturable, problem, run_opt, device):
    """Also ``capturable=True``: the step a tensor on the parameter's device, the bias
    corrections computed there (in float64 for float64 parameters)."""
    params, grads = problem(seed=4, steps=6)
    hp = dict(lr=0.05, betas=(0.8, 0.95), eps=1e-3, **cfg)
    opt, ps, history = run_opt(lambda p: cls(p, capturable=capturable, **hp), params, grads,
                               device=device)
    expected, state = adam_reference(params, grads, decoupled=cls is AdamW, **hp)
    for got_step, exp_step in zip(history, expected):
        for got, exp in zip(got_step, exp_step):
            np.testing.assert_allclose(got, exp, rtol=1e-11, atol=1e-12)
    keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if cfg["amsgrad"] else [])
    for i, p in enumerate(ps):
        st = opt.state[p]
        assert sorted(st) == sorted(["step", *keys])
        assert st["step"].dtype == corefw.float32 and st["step"].dim() == 0
        assert st["step"].device == (p.device if capturable else corefw.get_default_device())
        assert st["step"].item() == len(grads)
        for k in keys:
            np.testing.assert_allclose(st[k].numpy(), state[k][i], rtol=1e-11, atol=1e-14)


def test_amsgrad_changes_the_update(problem, run_opt, device):
    """The test problem must make AMSGrad differ from Adam, or the tests above prove little."""
    params, grads = problem(seed=4, steps=6)
    _, _, plain = run_opt(lambda p: Adam(p, lr=0.05, betas=(0.8, 0.95)), params, grads,
                          device=device)
    _, _, ams = run_opt(lambda p: Adam(p, lr=0.05, betas=(0.8, 0.95), amsgrad=True), params,
                        grads, device=device)
    assert not np.allclose(plain[-1][0], ams[-1][0], rtol=1e-6)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_float32_with_default_hyperparameters(cls, problem, run_opt, device):
    params, grads = problem(seed=5, steps=5)
    _, _, history = run_opt(lambda p: cls(p, lr=1e-2), params, grads, corefw.float32, device=device)
    wd = 1e-2 if cls is AdamW else 0.0
    expected, _ = adam_reference(params, grads, lr=1e-2, weight_decay=wd, decoupled=cls is AdamW)
    for got, exp in zip(history[-1], expected[-1]):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)


def test_adam_defaults_and_validation():
    p = corefw.zeros(3, requires_grad=True)
    g = Adam([p]).param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"]) == (1e-3, (0.9, 0.999), 1e-8, 0)
    assert g["amsgrad"] is False and g["maximize"] is False
    gw = AdamW([p]).param_groups[0]
    assert gw["weight_decay"] == 1e-2 and gw["lr"] == 1e-3
    for cls in (Adam, AdamW):
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            cls([p], lr=-1)
        with pytest.raises(ValueError, match="Invalid epsilon value: -1e-08"):
            cls([p], eps=-1e-8)
        with pytest.raises(ValueError, match="Invalid beta parameter at index 0: 1.0"):
            cls([p], betas=(1.0, 0.9))
        with pytest.raises(ValueError, match="Invalid beta parameter at index 1: -0.1"):
            cls([p], betas=(0.9, -0.1))
        with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
            cls([p], weight_decay=-1)
        for flag in ("fused", "differentiable"):
            with pytest.raises(NotImplementedError, match=flag):
                cls([p], **{flag: True})
    for other in (corefw.optim.Adamax, corefw.optim.NAdam, corefw.optim.RMSprop):
        with pytest.raises(NotImplementedError, match="Adam and AdamW implement capturable"):
            other([p], capturable=True)


@pytest.mark.parametrize("capturable", [False, True])
def test_a_tensor_lr_gives_the_float_lr_updates(capturable, problem, run_opt):
    """``lr`` as a 1-element tensor (what lets a compiled step read a scheduled lr as an
    input): the reference update, with the lr it holds; a bad tensor lr is refused."""
    params, grads = problem(seed=6, steps=5)
    hp = dict(betas=(0.8, 0.95), eps=1e-3, weight_decay=0.1)
    lr = corefw.tensor(0.05, dtype=corefw.float64)
    _, _, history = run_opt(lambda p: AdamW(p, lr=lr, capturable=capturable, **hp), params,
                            grads)
    expected, _ = adam_reference(params, grads, lr=0.05, decoupled=True, **hp)
    for got, exp in zip(history[-1], expected[-1]):
        np.testing.assert_allclose(got, exp, rtol=1e-11, atol=1e-12)
    p = corefw.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"Tensor lr must be 1-element and floating point, "
                                         r"got corefw.float32 of shape \(2,\)"):
        Adam([p], lr=corefw.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        Adam([p], lr=corefw.tensor(-0.1))
