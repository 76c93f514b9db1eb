"""Adafactor against hand-computed steps: the first step of a vector moves every element by
``alpha = max(eps2, RMS(theta)) * min(lr, 1)`` against the gradient's sign; a matrix whose
squared gradient has rank one is factored exactly; and a few steps of a factored matrix
follow the update written out in NumPy from the docstring's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw


def test_first_step_of_a_vector_is_a_sign_step():
    theta = np.array([0.5, -2.0, 1.0])
    p = corefw.tensor(theta, requires_grad=True)
    opt = corefw.optim.Adafactor([p], lr=0.05)
    (p * corefw.tensor([3.0, -1.0, 0.5])).sum().backward()
    opt.step()
    alpha = max(1e-3, math.sqrt(np.mean(theta**2))) * 0.05
    np.testing.assert_allclose(p.detach().numpy(), theta - alpha * np.array([1, -1, 1]),
                               rtol=1e-12)
    assert sorted(opt.state[p]) == ["step", "variance"]


def test_rank_one_squared_gradient_is_factored_exactly():
    r, c = np.array([1.0, 2.0]), np.array([0.5, -1.0, 3.0])
    theta = np.ones((2, 3))
    p = corefw.tensor(theta, requires_grad=True)
    opt = corefw.optim.Adafactor([p], lr=0.1)
    (p * corefw.tensor(np.outer(r, c))).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), theta - 0.1 * np.sign(np.outer(r, c)),
                               rtol=1e-12)
    st = opt.state[p]
    assert tuple(st["row_var"].shape) == (2, 1) and tuple(st["col_var"].shape) == (1, 3)


def _reference(theta, grads, lr, decay, eps1, eps2, d, wd):
    row = np.zeros(theta.shape[:-1] + (1,))
    col = np.zeros(theta.shape[:-2] + (1, theta.shape[-1]))
    for t, g in enumerate(grads, start=1):
        b = t**decay
        alpha = max(eps2, np.sqrt(np.mean(theta**2))) * min(lr, 1 / np.sqrt(t))
        theta = theta * (1 - lr * wd)
        row = row + b * ((g * g).mean(-1, keepdims=True) - row)
        col = col + b * ((g * g).mean(-2, keepdims=True) - col)
        v = row @ col / np.maximum(row.mean(-2, keepdims=True), eps1)
        u = g / np.sqrt(np.maximum(v, eps1 * eps1))
        theta = theta - alpha / max(1.0, np.sqrt(np.mean(u * u)) / d) * u
    return theta


@pytest.mark.parametrize("kw", [dict(lr=0.02), dict(lr=0.3, weight_decay=0.1, d=2.0,
                                                    eps=(1e-8, 1e-2), beta2_decay=-0.5)])
def test_steps_follow_the_formulas(kw):
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(4)]
    p = corefw.tensor(theta, requires_grad=True)
    opt = corefw.optim.Adafactor([p], **kw)
    for g in grads:
        p.grad = corefw.tensor(g)
        opt.step()
    eps1, eps2 = kw.get("eps", (None, 1e-3))
    want = _reference(theta, grads, kw["lr"], kw.get("beta2_decay", -0.8),
                      eps1 or float(np.finfo(np.float64).eps), eps2, kw.get("d", 1.0),
                      kw.get("weight_decay", 0.0))
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-10)


def test_bad_arguments_name_themselves():
    p = corefw.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="beta2_decay"):
        corefw.optim.Adafactor([p], beta2_decay=0.5)
    with pytest.raises(ValueError, match="Clipping threshold d"):
        corefw.optim.Adafactor([p], d=0.5)
