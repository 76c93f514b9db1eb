"""LBFGS: its trajectory against a float64 numpy L-BFGS (two-loop recursion, Nocedal & Wright
algorithm 7.4), convergence to known minima with and without the strong-Wolfe line search,
stopping rules, state and errors."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.optim import LBFGS


def _quadratic(n=6, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.linspace(1.0, 20.0, n)) @ q.T
    b = rng.standard_normal(n)
    return a, b


def lbfgs_reference(grad, x0, iters, lr, history_size):
    """Fixed step length ``lr`` (the first: ``min(1, 1/|g|_1) * lr``)."""
    x, g = x0.copy(), grad(x0)
    pairs, h0, d, t, g_prev = [], 1.0, None, None, None
    out = []
    for k in range(iters):
        if k == 0:
            d = -g
        else:
            s, y = t * d, g - g_prev
            if y @ s > 1e-10:
                pairs = (pairs + [(s, y)])[-history_size:]
                h0 = (y @ s) / (y @ y)
            q, alphas = g.copy(), []
            for s_i, y_i in reversed(pairs):
                a_i = (s_i @ q) / (y_i @ s_i)
                alphas.append(a_i)
                q = q - a_i * y_i
            r = h0 * q
            for (s_i, y_i), a_i in zip(pairs, reversed(alphas)):
                r = r + s_i * (a_i - (y_i @ r) / (y_i @ s_i))
            d = -r
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if k == 0 else lr
        x = x + t * d
        g_prev, g = g, grad(x)
        out.append(x.copy())
    return out


def _closure(opt, x, fn):
    def closure():
        opt.zero_grad()
        loss = fn(x)
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("history_size", [100, 2])
def test_trajectory_matches_reference(history_size):
    a_np, b_np = _quadratic()
    a, b = corefw.tensor(a_np), corefw.tensor(b_np)
    x0 = np.linspace(-1.0, 1.0, 6)
    x = corefw.tensor(x0, requires_grad=True)
    opt = LBFGS([x], lr=0.5, max_iter=1, history_size=history_size)
    closure = _closure(opt, x, lambda v: 0.5 * (v @ (a @ v)) - b @ v)
    expected = lbfgs_reference(lambda v: a_np @ v - b_np, x0, 8, 0.5, history_size)
    for exp in expected:
        opt.step(closure)
        np.testing.assert_allclose(x.detach().numpy(), exp, rtol=1e-10, atol=1e-12)
    assert len(opt.state[x]["old_dirs"]) == min(history_size, 7)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_quadratic_minimum(line_search_fn):
    a_np, b_np = _quadratic(seed=1)
    a, b = corefw.tensor(a_np), corefw.tensor(b_np)
    x = corefw.zeros(6, dtype=corefw.float64, requires_grad=True)
    opt = LBFGS([x], max_iter=50, line_search_fn=line_search_fn, tolerance_grad=1e-12,
                tolerance_change=1e-15)
    closure = _closure(opt, x, lambda v: 0.5 * (v @ (a @ v)) - b @ v)
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(a_np, b_np), atol=1e-8)


def _rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] * v[0]) ** 2


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_rosenbrock_minimum(line_search_fn):
    x = corefw.tensor([-1.5, 2.0], dtype=corefw.float64, requires_grad=True)
    opt = LBFGS([x], max_iter=100, line_search_fn=line_search_fn, tolerance_grad=1e-10,
                tolerance_change=1e-14)
    closure = _closure(opt, x, _rosenbrock)
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-6)
    state = opt.state[x]
    assert state["func_evals"] >= state["n_iter"] > 1
    if line_search_fn:  # the line search takes far fewer iterations than fixed steps
        assert state["n_iter"] < 80


def test_two_parameters_and_max_eval():
    u = corefw.tensor([-1.5], dtype=corefw.float64, requires_grad=True)
    v = corefw.tensor([[2.0]], dtype=corefw.float64, requires_grad=True)
    opt = LBFGS([u, v], max_iter=10, max_eval=4)
    closure = _closure(opt, None, lambda _: _rosenbrock([u[0], v[0, 0]]))
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(2.5**2 + 100 * 0.25**2)  # the first evaluation's
    assert opt.state[u]["func_evals"] == 4 and opt.state[u]["n_iter"] == 3
    opt.param_groups[0].update(max_iter=100, max_eval=125, tolerance_change=1e-14)
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose([u.item(), v.item()], [1.0, 1.0], atol=1e-6)


def test_stops_at_zero_gradient_and_state_dict():
    x = corefw.tensor([0.0, 0.0], dtype=corefw.float64, requires_grad=True)
    opt = LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert len(calls) == 1 and opt.state[x] == {"func_evals": 1, "n_iter": 0}
    group = opt.state_dict()["param_groups"][0]
    assert {k: group[k] for k in ("lr", "max_iter", "max_eval", "tolerance_grad",
                                  "tolerance_change", "history_size", "line_search_fn")} == {
        "lr": 1, "max_iter": 20, "max_eval": 25, "tolerance_grad": 1e-7,
        "tolerance_change": 1e-9, "history_size": 100, "line_search_fn": None}


def test_state_dict_round_trip_continues_identically():
    a_np, b_np = _quadratic(seed=2)
    a, b = corefw.tensor(a_np), corefw.tensor(b_np)
    fn = lambda v: 0.5 * (v @ (a @ v)) - b @ v  # noqa: E731
    xa = corefw.ones(6, dtype=corefw.float64, requires_grad=True)
    opt_a = LBFGS([xa], max_iter=2)
    opt_a.step(_closure(opt_a, xa, fn))
    xb = corefw.tensor(xa.detach().numpy(), requires_grad=True)
    opt_b = LBFGS([xb], max_iter=2)
    opt_b.load_state_dict(opt_a.state_dict())
    opt_a.step(_closure(opt_a, xa, fn))
    opt_b.step(_closure(opt_b, xb, fn))
    np.testing.assert_array_equal(xa.detach().numpy(), xb.detach().numpy())


def test_errors():
    p, q = corefw.zeros(2, requires_grad=True), corefw.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        LBFGS([{"params": [p]}, {"params": [q]}])
    with pytest.raises(ValueError, match="line_search_fn='armijo'"):
        LBFGS([p], line_search_fn="armijo")
    opt = LBFGS([p])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [q]})
    with pytest.raises(TypeError, match="requires a closure"):
        opt.step(None)
