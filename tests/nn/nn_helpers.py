"""Helpers shared by the conv, pool and norm tests: float64 tensors, host arrays and a
double-backward check (gradcheck of the first derivative, also w.r.t. the output gradient)."""

from __future__ import annotations

import numpy as np

import corefw
from corefw.autograd import grad, gradcheck


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def gradgrad(fn, inputs, seed=0):
    """gradcheck of ``x -> grad(fn(x), x, g)`` (also w.r.t. g): checks double backward."""
    n = len(inputs)
    with corefw.no_grad():
        shape = fn(*inputs).shape
    g = t64(np.random.default_rng(seed).standard_normal(shape), requires_grad=True,
            device=inputs[0].device)

    def first(*args):
        with corefw.enable_grad():
            xs = [a if a.requires_grad else a.detach().requires_grad_() for a in args]
            return grad(fn(*xs[:n]), xs[:n], xs[n], create_graph=True, allow_unused=True)

    return gradcheck(first, tuple(inputs) + (g,))
