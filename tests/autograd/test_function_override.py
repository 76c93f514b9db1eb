"""Custom Functions, scoped VJP overrides and module provenance."""

from __future__ import annotations

import numpy as np
import pytest

import corefw as cf
from corefw.autograd import Function, override_vjp, record_module_provenance


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * g * x * x


class SplitScale(Function):
    """Two outputs: (2x, 3x)."""

    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, g1, g2):
        return g1 * 2 + g2 * 3


def test_custom_function_forward_backward_and_gradcheck(device):
    x = cf.tensor([0.5, -1.5], dtype=cf.float64, requires_grad=True, device=device)
    y = Cube.apply(x)
    np.testing.assert_allclose(y.detach().numpy(), [0.125, -3.375])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.75, 6.75])
    assert cf.autograd.gradcheck(Cube.apply, (x,))


def test_custom_function_with_two_outputs(device):
    x = cf.tensor([1.0, 2.0], dtype=cf.float64, requires_grad=True, device=device)
    a, b = SplitScale.apply(x)
    (a.sum() * 5 + b.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [13.0, 13.0])
    x.grad = None
    a, _ = SplitScale.apply(x)  # an unused output gets a zero gradient
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_override_vjp_is_scoped_and_exception_safe(device):
    x = cf.tensor([-1.0, 2.0], requires_grad=True, device=device)

    def guided(ctx, g):  # guided backprop: pass only positive gradients through relu
        return (cf.where((ctx.output > 0) & (g > 0), g, 0.0),)

    with override_vjp({"relu": guided}):
        y = x.relu()
        (y * cf.tensor([-1.0, 3.0], device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 3.0])
    x.grad = None
    with pytest.raises(RuntimeError, match="boom"):
        with override_vjp({"relu": guided}):
            raise RuntimeError("boom")
    (x.relu() * cf.tensor([-1.0, 3.0], device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 3.0])  # ordinary rule again
    x.grad = None
    (x.relu() * cf.tensor([-1.0, -3.0], device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, -3.0])


def test_override_of_unknown_op_names_close_matches():
    with pytest.raises(Exception, match="relu"):
        override_vjp({"rleu": lambda ctx, g: (g,)})


def test_module_provenance_is_off_by_default_and_records_modules():
    nn = pytest.importorskip("corefw.nn")

    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    m = Double()
    x = cf.ones(2, requires_grad=True)
    assert m(x).grad_fn.module is None
    with record_module_provenance():
        y = m(x)
    assert y.grad_fn.module is m
