"""The fused ``linear`` op beyond forward/backward (tests/ops/test_linalg.py): one graph node,
the cpu kernel equal to the decomposition bit for bit, second derivatives, which operands the
VJP reads, the fallbacks (mixed dtypes, VJP overrides of matmul/add), and nn.Linear."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw.autograd import override_vjp
from corefw.errors import AutogradError
from corefw.ops.registry import get_op

from .helpers import npy


def _operands(rng, shape=(4, 3), out=5, dtype=corefw.float32, req=False):
    x = corefw.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=req)
    w = corefw.tensor(rng.standard_normal((out, shape[-1])), dtype=dtype, requires_grad=req)
    b = corefw.tensor(rng.standard_normal(out), dtype=dtype, requires_grad=req)
    return x, w, b


def test_linear_is_one_node_whose_edges_are_the_leaves(rng):
    x, w, b = _operands(rng, req=True)
    y = F.linear(x, w, b)
    assert y.grad_fn.name() == "LinearBackward"
    assert [t for t, _ in y.grad_fn.next_functions] == [x, w, b]


@pytest.mark.parametrize("shape", [(4, 3), (2, 4, 3), (3,), (0, 3)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_cpu_kernel_equals_the_decomposition_bit_for_bit(shape, bias, rng):
    x, w, b = _operands(rng, shape)
    b = b if bias else None
    fast = F.linear(x, w, b)
    slow = get_op("linear").decomposition(x, w, b)
    assert fast.dtype is corefw.float32 and fast.shape == slow.shape
    np.testing.assert_array_equal(fast.numpy(), slow.numpy())


def test_gradients_only_for_the_operands_that_require_them(rng):
    x, w, b = _operands(rng, dtype=corefw.float64)
    w.requires_grad_()
    g = rng.standard_normal((4, 5))
    F.linear(x, w, b).backward(corefw.tensor(g))
    np.testing.assert_allclose(w.grad.numpy(), g.T @ x.numpy(), rtol=1e-12)
    assert x.grad is None and b.grad is None
    x.requires_grad_()
    w.requires_grad_(False)
    F.linear(x, w, b).backward(corefw.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), g @ w.numpy(), rtol=1e-12)


def test_changing_the_bias_in_place_after_the_call_is_allowed_the_weight_is_not(rng):
    x, w, b = _operands(rng, dtype=corefw.float64, req=True)
    bias = b * 1.0
    y = F.linear(x, w, bias)
    with corefw.no_grad():
        bias.add_(1.0)  # the VJP never reads the bias
    y.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full(5, 4.0))
    weight = w * 1.0
    z = F.linear(x, weight, b)
    with corefw.no_grad():
        weight.mul_(2.0)  # but it reads the weight
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        z.sum().backward()


def test_mixed_dtypes_promote_through_the_decomposition(rng):
    """The op promotes; F.linear (what layers call) refuses mixed dtypes as PyTorch does."""
    from corefw.ops.linalg import linear

    x, w, b = _operands(rng)
    w64 = w.double()
    with pytest.raises(corefw.errors.DTypeError, match="mat1 and mat2 must have the same dtype, "
                                                      "but got Float and Double"):
        F.linear(x, w64, b)
    y = linear(x, w64, b)
    assert y.dtype is corefw.float64
    np.testing.assert_allclose(y.numpy(), x.numpy().astype(np.float64) @ w64.numpy().T
                               + b.numpy(), rtol=1e-6)


def test_vjp_overrides_of_matmul_see_the_decomposition(rng):
    """Explainers that give matmul and add their own rules (LRP, DeepLift) keep working: while
    such overrides are active, linear records matmul + add; an override of linear itself gets
    the fused node."""
    x, w, b = _operands(rng, dtype=corefw.float64, req=True)
    calls = []

    def rule(name):
        def vjp(ctx, g):
            calls.append(name)
            return get_op(name).vjp(ctx, g)
        return vjp

    with override_vjp({"matmul": rule("matmul")}):
        y = F.linear(x, w, b)
        assert y.grad_fn.name() == "AddBackward"
        y.sum().backward()
    assert calls == ["matmul"]
    with override_vjp({"linear": rule("linear"), "matmul": rule("matmul")}):
        y = F.linear(x, w, b)
        assert y.grad_fn.name() == "LinearBackward"
        y.sum().backward()
    assert calls == ["matmul", "linear"]
    assert F.linear(x, w, b).grad_fn.name() == "LinearBackward"


def test_nn_linear_trains_with_one_node_per_layer(rng):
    layer = corefw.nn.Linear(3, 2).double()
    x = corefw.tensor(rng.standard_normal((4, 3)))
    y = layer(x)
    assert y.grad_fn.name() == "LinearBackward"
    y.pow(2).sum().backward()
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    out = x.numpy() @ w.T + b
    np.testing.assert_allclose(npy(layer.weight.grad), 2 * out.T @ x.numpy(), rtol=1e-12)
    np.testing.assert_allclose(npy(layer.bias.grad), 2 * out.sum(0), rtol=1e-12)
