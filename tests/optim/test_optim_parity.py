"""Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop against float64 numpy implementations of
their update rules, written from the papers and PyTorch's documented algorithms (not from
corefw's code); state keys, defaults, validation and state-dict round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw
from corefw.optim import ASGD, Adadelta, Adamax, NAdam, RAdam, Rprop


def _f32(x: float) -> float:
    """PyTorch keeps NAdam's ``mu_product`` in a float32 tensor."""
    return float(np.float32(x))


def adadelta_ref(theta, g, st, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    g = g + weight_decay * theta if weight_decay else g
    st["square_avg"] = rho * st["square_avg"] + (1 - rho) * g * g
    delta = np.sqrt(st["acc_delta"] + eps) / np.sqrt(st["square_avg"] + eps) * g
    st["acc_delta"] = rho * st["acc_delta"] + (1 - rho) * delta * delta
    return theta - lr * delta


def adamax_ref(theta, g, st, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    g = g + weight_decay * theta if weight_decay else g
    st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * g
    st["exp_inf"] = np.maximum(b2 * st["exp_inf"], np.abs(g) + eps)
    return theta - lr / (1 - b1**t) * st["exp_avg"] / st["exp_inf"]


def nadam_ref(theta, g, st, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              momentum_decay=4e-3, decoupled_weight_decay=False):
    b1, b2 = betas
    if weight_decay and decoupled_weight_decay:
        theta = theta * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * theta
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    st["mu_product"] = _f32(st.get("mu_product", 1.0) * _f32(mu))  # float32 tensor * scalar
    st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * g
    st["exp_avg_sq"] = b2 * st["exp_avg_sq"] + (1 - b2) * g * g
    denom = np.sqrt(st["exp_avg_sq"] / (1 - b2**t)) + eps
    prod = st["mu_product"]
    return (theta - lr * (1 - mu) / (1 - prod) * g / denom
            - lr * mu_next / (1 - prod * mu_next) * st["exp_avg"] / denom)


def radam_ref(theta, g, st, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False):
    b1, b2 = betas
    if weight_decay and decoupled_weight_decay:
        theta = theta * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * theta
    st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * g
    st["exp_avg_sq"] = b2 * st["exp_avg_sq"] + (1 - b2) * g * g
    m_hat = st["exp_avg"] / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:
        return theta - lr * m_hat
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    v_hat_sqrt = (np.sqrt(st["exp_avg_sq"]) + eps) / math.sqrt(1 - b2**t)
    return theta - lr * m_hat * r / v_hat_sqrt


def asgd_ref(theta, g, st, t, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
    eta, mu = st.get("eta", _f32(lr)), st.get("mu", 1.0)  # float32 tensors in PyTorch
    g = g + weight_decay * theta if weight_decay else g
    theta = theta * (1 - lambd * eta) - eta * g
    st["ax"] = theta.copy() if mu == 1 else st["ax"] + mu * (theta - st["ax"])
    st["eta"] = _f32(lr / (1 + lambd * lr * t) ** alpha)
    st["mu"] = _f32(1 / max(1, t - t0))
    return theta


def rprop_ref(theta, g, st, t, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50)):
    prev = st["prev"]
    size = st.get("step_size", np.full_like(theta, lr))
    prod = g * prev
    size = np.clip(size * np.where(prod > 0, etas[1], np.where(prod < 0, etas[0], 1.0)),
                   *step_sizes)
    g = np.where(prod < 0, 0.0, g)
    st["step_size"], st["prev"] = size, g
    return theta - np.sign(g) * size


CASES = [
    (Adadelta, adadelta_ref, dict(), ["square_avg", "acc_delta"]),
    (Adadelta, adadelta_ref, dict(lr=0.5, rho=0.8, weight_decay=0.1), None),
    (Adamax, adamax_ref, dict(), ["exp_avg", "exp_inf"]),
    (Adamax, adamax_ref, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1), None),
    (NAdam, nadam_ref, dict(), ["exp_avg", "exp_avg_sq"]),
    (NAdam, nadam_ref, dict(lr=0.05, momentum_decay=0.1, weight_decay=0.1), None),
    (NAdam, nadam_ref, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True), None),
    (RAdam, radam_ref, dict(), ["exp_avg", "exp_avg_sq"]),
    # beta2 = 0.5 makes rho_t pass 5 at step 6: both branches are exercised
    (RAdam, radam_ref, dict(lr=0.05, betas=(0.8, 0.5), weight_decay=0.1), None),
    (RAdam, radam_ref, dict(lr=0.05, betas=(0.8, 0.5), weight_decay=0.1,
                            decoupled_weight_decay=True), None),
    (ASGD, asgd_ref, dict(), ["ax"]),
    (ASGD, asgd_ref, dict(lr=0.1, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.1), None),
    (Rprop, rprop_ref, dict(), ["prev", "step_size"]),
    (Rprop, rprop_ref, dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.05, 0.2)), None),
]


def _ids(case):
    return case[0].__name__ + "-" + "-".join(f"{k}={v}" for k, v in case[2].items())


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("maximize", [False, True])
def test_matches_reference(case, maximize, problem, run_opt, device):
    cls, ref, hp, keys = case
    params, grads = problem(seed=3, steps=9)
    if cls is Rprop:  # sign changes and repeats both matter: reuse some gradients' signs
        grads = [[g if t % 3 else -g for g in gs] for t, gs in enumerate(grads)]
    opt, ps, history = run_opt(lambda p: cls(p, maximize=maximize, **hp), params, grads,
                               device=device)
    theta = [p.copy() for p in params]
    states = [{k: np.zeros_like(p) for k in
               ("square_avg", "acc_delta", "exp_avg", "exp_inf", "exp_avg_sq", "ax", "prev")}
              for p in params]
    for t, gs in enumerate(grads, 1):
        for i, g in enumerate(gs):
            theta[i] = ref(theta[i], -g if maximize else g, states[i], t, **hp)
        for got, exp in zip(history[t - 1], theta):
            np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-12)
    for i, p in enumerate(ps):
        st = opt.state[p]
        assert st["step"].dtype == corefw.float32 and st["step"].item() == len(grads)
        for k in keys or []:
            np.testing.assert_allclose(st[k].cpu().numpy(), states[i][k], rtol=1e-10,
                                       atol=1e-12)


STATE_KEYS = {
    Adadelta: ["step", "square_avg", "acc_delta"],
    Adamax: ["step", "exp_avg", "exp_inf"],
    NAdam: ["step", "mu_product", "exp_avg", "exp_avg_sq"],
    RAdam: ["step", "exp_avg", "exp_avg_sq"],
    ASGD: ["step", "eta", "mu", "ax"],
    Rprop: ["step", "prev", "step_size"],
}

DEFAULTS = {
    Adadelta: dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0),
    Adamax: dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0),
    NAdam: dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                decoupled_weight_decay=False),
    RAdam: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                decoupled_weight_decay=False),
    ASGD: dict(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0),
    Rprop: dict(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50)),
}


@pytest.mark.parametrize("cls", list(STATE_KEYS), ids=lambda c: c.__name__)
def test_defaults_keys_and_state_dict_round_trip(cls, problem, set_grads):
    params, grads = problem(seed=5, steps=6)
    group = cls([corefw.zeros(2, requires_grad=True)]).param_groups[0]
    for k, v in DEFAULTS[cls].items():
        assert group[k] == v, k
    assert group["maximize"] is False and group["foreach"] is None

    def make():
        ps = [corefw.tensor(p, requires_grad=True) for p in params]
        return ps, cls(ps, lr=0.05)

    ps_a, opt_a = make()
    for gs in grads[:3]:
        set_grads(ps_a, gs)
        opt_a.step()
    saved = opt_a.state_dict()
    assert list(saved["state"][0]) == STATE_KEYS[cls]
    ps_b, opt_b = make()
    for p, q in zip(ps_b, ps_a):
        with corefw.no_grad():
            p.copy_(q)
    opt_b.load_state_dict(saved)
    for gs in grads[3:]:
        for ps, opt in ((ps_a, opt_a), (ps_b, opt_b)):
            set_grads(ps, gs)
            opt.step()
    # As in PyTorch, loading casts 0-d float32 state (mu_product, eta, mu) to the parameter's
    # dtype (float64 here), so the continuation agrees to float32 rounding, not bitwise.
    for p, q in zip(ps_a, ps_b):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("cls, kwargs, msg", [
    (Adadelta, dict(rho=1.5), "Invalid rho value: 1.5"),
    (Adadelta, dict(lr=-1), "Invalid learning rate: -1"),
    (Adamax, dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (NAdam, dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
    (RAdam, dict(eps=-1), "Invalid epsilon value: -1"),
    (ASGD, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    (Rprop, dict(etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
])
def test_validation(cls, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        cls([corefw.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("cls", list(STATE_KEYS), ids=lambda c: c.__name__)
def test_pytorch_only_switches_refused(cls):
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        cls([corefw.zeros(2, requires_grad=True)], differentiable=True)
