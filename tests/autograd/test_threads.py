"""VJP overrides and module provenance are scoped to the thread that entered them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import corefw
from corefw import nn
from corefw.autograd import active_overrides, override_vjp, record_module_provenance


def _relu_grad(x):
    x = x.detach().requires_grad_(True)
    corefw.relu(x).sum().backward()
    return x.grad.numpy()


def test_an_override_in_one_thread_leaves_another_threads_gradients_alone():
    x = corefw.tensor([-1.0, 2.0])
    entered, done = threading.Event(), threading.Event()
    seen = {}

    def explainer():
        with override_vjp({"relu": lambda ctx, g: (g * 7,)}):
            seen["inside"] = _relu_grad(x)
            entered.set()
            done.wait(5)

    t = threading.Thread(target=explainer)
    t.start()
    assert entered.wait(5)
    try:
        assert not active_overrides()
        assert np.array_equal(_relu_grad(x), [0.0, 1.0])  # untouched while the other is inside
    finally:
        done.set()
        t.join()
    assert np.array_equal(seen["inside"], [7.0, 7.0])


def test_overrides_nest_and_unwind_on_exceptions():
    with override_vjp({"relu": lambda ctx, g: (g * 2,)}):
        with pytest.raises(ZeroDivisionError):
            with override_vjp({"relu": lambda ctx, g: (g * 3,)}):
                assert np.array_equal(_relu_grad(corefw.tensor([1.0])), [3.0])
                1 / 0  # noqa: B018
        assert np.array_equal(_relu_grad(corefw.tensor([1.0])), [2.0])
    assert not active_overrides()


def test_version_checks_still_run_for_an_overridden_op():
    a = corefw.ones(3, requires_grad=True)
    x = a * 1
    y = x.sin().sum()
    x.add_(1)
    with override_vjp({"sin": lambda ctx, g: (g,)}):
        with pytest.raises(corefw.errors.AutogradError, match="modified by an in-place"):
            y.backward()


def test_provenance_is_recorded_only_in_the_thread_that_asked():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    x = corefw.ones(1, 2, requires_grad=True)
    entered, done = threading.Event(), threading.Event()

    def recorder():
        with record_module_provenance():
            entered.set()
            done.wait(5)

    t = threading.Thread(target=recorder)
    t.start()
    assert entered.wait(5)
    try:
        out = model(x)
        assert out.grad_fn.module is None  # this thread never asked
    finally:
        done.set()
        t.join()
    with record_module_provenance():
        out = model(x)
    assert isinstance(out.grad_fn.module, nn.ReLU)
