"""Tensor.register_post_accumulate_grad_hook: called with the leaf once its .grad is final,
during backward (before nodes that cannot feed it have run), as in PyTorch."""

import numpy as np
import pytest

import corefw
from corefw.autograd import Function
from corefw.errors import AutogradError


class _Mark(Function):
    """Identity whose backward records that it ran (to see hooks fire before it)."""

    events: list = []

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        _Mark.events.append("mark-backward")
        return g


def test_hook_sees_final_grad_before_backward_ends():
    w2 = corefw.tensor([1.0, 2.0, 3.0], requires_grad=True)  # used last in forward
    w1 = corefw.tensor([0.5, -1.0, 2.0], requires_grad=True)
    x = corefw.tensor([1.0, 1.0, 2.0])
    _Mark.events = []
    seen = {}

    def hook(name):
        def fn(p):
            _Mark.events.append(name)
            seen[name] = p.grad.numpy().copy()
        return fn

    w1.register_post_accumulate_grad_hook(hook("w1"))
    w2.register_post_accumulate_grad_hook(hook("w2"))
    h = _Mark.apply(x * w1)          # w1's grad comes after mark's backward
    loss = (h * w2 * w2).sum()       # w2 appears twice: its hook must wait for both edges
    loss.backward()
    hv, w2v = np.array([0.5, -1.0, 4.0]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(seen["w2"], 2 * hv * w2v)
    np.testing.assert_allclose(seen["w1"], w2v ** 2 * np.array([1.0, 1.0, 2.0]))
    # w2 is final before the marked node runs; w1 only after it.
    assert _Mark.events == ["w2", "mark-backward", "w1"]


def test_hook_runs_once_and_sees_accumulated_grad_and_remove():
    w = corefw.tensor([2.0], requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad.item()))
    (w * 3.0).sum().backward()
    (w * 3.0).sum().backward()        # .grad accumulates: hook sees the sum
    assert calls == [3.0, 6.0]
    handle.remove()
    (w * 3.0).sum().backward()
    assert calls == [3.0, 6.0]


def test_tensor_hook_runs_before_accumulation():
    w = corefw.tensor([1.0, 1.0], requires_grad=True)
    w.register_hook(lambda g: g * 10.0)
    got = []
    w.register_post_accumulate_grad_hook(lambda p: got.append(p.grad.tolist()))
    (w * corefw.tensor([1.0, 2.0])).sum().backward()
    assert got == [[10.0, 20.0]]


def test_leaf_root_and_autograd_grad():
    w = corefw.tensor([1.0, 2.0], requires_grad=True)
    got = []
    w.register_post_accumulate_grad_hook(lambda p: got.append(p.grad.tolist()))
    w.backward(corefw.tensor([1.0, 1.0]))        # the root is the leaf itself
    assert got == [[1.0, 1.0]]
    corefw.autograd.grad((w * w).sum(), [w])     # no accumulation: no hook
    assert got == [[1.0, 1.0]]


def test_only_leaves_that_require_grad():
    with pytest.raises(AutogradError, match="does not require grad"):
        corefw.tensor([1.0]).register_post_accumulate_grad_hook(print)
    w = corefw.tensor([1.0], requires_grad=True)
    with pytest.raises(AutogradError, match="not a leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)
