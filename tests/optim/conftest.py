"""Shared fixtures of the optimizer tests: run an optimizer on fixed parameters and gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import corefw

SHAPES = [(3, 4), (5,), ()]


def _problem(seed: int, steps: int, shapes: Sequence[tuple[int, ...]] = SHAPES):
    """Random float64 parameters and a sequence of ``steps`` gradient lists."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in shapes]
    # Gradients of varying scale, so that max/avg-based state (AMSGrad, RMSprop) matters.
    grads = [[rng.standard_normal(s) * (2.0 if t % 2 else 0.3) for s in shapes]
             for t in range(steps)]
    return params, grads


def _run(
    make_opt: Callable[[list[Any]], Any],
    params_np: Sequence[np.ndarray],
    grads_seq: Sequence[Sequence[np.ndarray | None]],
    dtype: Any = None,
    device: Any = None,
):
    """Build corefw parameters on ``device`` from ``params_np``, then for each gradient list set
    ``.grad`` and call ``opt.step()``. Returns (optimizer, params, list of float64 parameter
    snapshots read on the host)."""
    dtype = dtype or corefw.float64
    params = [corefw.tensor(p, dtype=dtype, requires_grad=True, device=device)
              for p in params_np]
    opt = make_opt(params)
    history = []
    for grads in grads_seq:
        feed(params, grads, dtype)
        opt.step()
        history.append([p.detach().cpu().numpy().astype(np.float64).copy() for p in params])
    return opt, params, history


def feed(params: Sequence[Any], grads: Sequence[np.ndarray | None], dtype: Any = None) -> None:
    """Set each parameter's ``.grad`` on the parameter's device (``None`` entries clear it)."""
    for p, g in zip(params, grads):
        p.grad = None if g is None else corefw.tensor(g, dtype=dtype or p.dtype, device=p.device)


@pytest.fixture
def problem():
    """``problem(seed, steps, shapes=SHAPES) -> (params, grads_seq)`` in float64 numpy."""
    return _problem


@pytest.fixture
def run_opt():
    """``run_opt(make_opt, params_np, grads_seq, dtype=float64, device=None) -> (opt, params,
    history)``."""
    return _run


@pytest.fixture
def set_grads():
    """``set_grads(params, grads)``: assign ``.grad`` from numpy arrays."""
    return feed
