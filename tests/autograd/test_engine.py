"""The backward engine: depth, freeing, retain_graph, versions, hooks, higher order."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import corefw as cf
from corefw.errors import AutogradError


def test_gradient_of_a_small_graph_matches_closed_form(rng, device):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 2))
    ta = cf.tensor(a, requires_grad=True, device=device)
    tb = cf.tensor(b, requires_grad=True, device=device)
    y = (ta @ tb).tanh().sum()
    y.backward()
    t = np.tanh(a @ b)
    g = 1 - t * t
    np.testing.assert_allclose(ta.grad.numpy(), g @ b.T, rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ g, rtol=1e-12)


def test_chain_of_100000_ops_has_no_recursion_limit():
    x = cf.tensor(1.0, dtype=cf.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_graph_and_saved_tensors_are_freed_after_backward(device):
    x = cf.randn(5, requires_grad=True, device=device)
    h = x.exp()
    ref = weakref.ref(h)
    y = (h * h).sum()
    node_ref = weakref.ref(y.grad_fn)
    del h
    gc.collect()
    assert ref() is not None  # saved by the mul node
    y.backward()
    gc.collect()
    assert ref() is None
    del y
    gc.collect()
    assert node_ref() is None


def test_second_backward_names_retain_graph():
    x = cf.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(AutogradError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_two_backwards_and_accumulates(device):
    x = cf.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_inplace_change_of_saved_tensor_is_an_error(device):
    x = cf.randn(3, requires_grad=True, device=device)
    h = x * 2
    y = h * h
    with cf.no_grad():
        h.add_(1)
    with pytest.raises(AutogradError, match="in-place"):
        y.sum().backward()


def test_inplace_on_non_leaf_rebases_history(device):
    x = cf.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = x * 3
    y.add_(1)
    y.mul_(2)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_inplace_on_leaf_requiring_grad_is_an_error(device):
    x = cf.ones(2, requires_grad=True, device=device)
    with pytest.raises(AutogradError, match="leaf"):
        x.add_(1)
    with cf.no_grad():
        x.add_(1)
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 2.0])


def test_backward_on_non_scalar_needs_a_gradient(device):
    x = cf.randn(3, requires_grad=True, device=device)
    y = x * 2
    with pytest.raises(AutogradError, match="scalar"):
        y.backward()
    y.backward(cf.ones(3, device=device))
    np.testing.assert_allclose(x.grad.numpy(), [2.0] * 3)


def test_no_grad_and_enable_grad_and_thread_locality():
    x = cf.ones(2, requires_grad=True)
    with cf.no_grad():
        assert not (x * 2).requires_grad
        with cf.enable_grad():
            assert (x * 2).requires_grad
    seen = {}

    def worker():
        seen["enabled"] = cf.is_grad_enabled()

    with cf.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen["enabled"] is True
    cf.set_grad_enabled(False)
    try:
        assert not cf.is_grad_enabled()
    finally:
        cf.set_grad_enabled(True)

    @cf.no_grad()
    def f():
        return (x * 2).requires_grad

    assert f() is False
    with cf.inference_mode():
        assert not (x + 1).requires_grad


def test_autograd_grad_does_not_touch_dot_grad(device):
    x = cf.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
    w = cf.tensor([0.5, 0.5, 0.5], requires_grad=True, device=device)
    (g,) = cf.autograd.grad((x * w).sum(), x)
    np.testing.assert_allclose(g.numpy(), [0.5] * 3)
    assert x.grad is None and w.grad is None


def test_grad_of_unused_input(device):
    x = cf.ones(2, requires_grad=True, device=device)
    z = cf.ones(2, requires_grad=True, device=device)
    y = (x * 2).sum()
    with pytest.raises(AutogradError, match="allow_unused"):
        cf.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = cf.autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gz is None
    gx, gz = cf.autograd.grad(y, [x, z], allow_unused=True, materialize_grads=True)
    np.testing.assert_allclose(gz.numpy(), [0.0, 0.0])


def test_second_and_third_derivatives(device):
    x = cf.tensor(0.7, dtype=cf.float64, requires_grad=True, device=device)
    y = x.sin() * x * x
    (d1,) = cf.autograd.grad(y, x, create_graph=True)
    (d2,) = cf.autograd.grad(d1, x, create_graph=True)
    (d3,) = cf.autograd.grad(d2, x)
    v = 0.7
    s, c = np.sin(v), np.cos(v)
    assert d1.item() == pytest.approx(c * v * v + 2 * v * s)
    assert d2.item() == pytest.approx(-s * v * v + 4 * v * c + 2 * s)
    assert d3.item() == pytest.approx(-c * v * v - 6 * v * s + 6 * c)


def test_hessian_vector_product_and_gradient_penalty(device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3))
    A = cf.tensor(a + a.T, device=device)
    x = cf.tensor(rng.standard_normal(3), requires_grad=True, dtype=cf.float64, device=device)
    A = A.to(cf.float64)
    f = 0.5 * (x @ (A @ x))
    (g,) = cf.autograd.grad(f, x, create_graph=True)
    v = cf.tensor([1.0, 0.0, 2.0], dtype=cf.float64, device=device)
    (hv,) = cf.autograd.grad((g * v).sum(), x, retain_graph=True)
    np.testing.assert_allclose(hv.numpy(), (a + a.T) @ v.numpy(), rtol=1e-12)
    penalty = (g * g).sum()
    penalty.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (a + a.T) @ (a + a.T) @ x.detach().numpy(),
                               rtol=1e-10)


def test_tensor_hooks_and_retain_grad(device):
    x = cf.tensor([1.0, 2.0], requires_grad=True, device=device)
    h = x * 3
    h.retain_grad()
    handle = h.register_hook(lambda g: g * 10)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [60.0, 120.0])
    np.testing.assert_allclose(x.grad.numpy(), [180.0, 360.0])
    assert len(seen) == 1
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_detach_and_requires_grad_flags():
    x = cf.ones(2, requires_grad=True)
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name() == "MulBackward"
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    with pytest.raises(AutogradError):
        cf.ones(2, dtype=cf.int64).requires_grad_()


def test_backward_with_inputs_only_accumulates_those(device):
    a = cf.ones(2, requires_grad=True, device=device)
    b = cf.ones(2, requires_grad=True, device=device)
    (a * b * 2).sum().backward(inputs=[a])
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 2.0])


def test_anomaly_mode_names_the_op_and_where(device):
    x = cf.tensor([0.0, 1.0], requires_grad=True, device=device)
    with cf.autograd.detect_anomaly():
        y = x.sqrt()  # d sqrt at 0 is inf; times 0 -> nan
        z = (y * 0).sum()
        with pytest.raises(AutogradError, match="SqrtBackward") as info:
            z.backward()
    assert "test_engine.py" in str(info.value)


def test_gradcheck_catches_a_wrong_vjp(device):
    from corefw.ops import defvjp, get_op, register_op

    op = register_op("test_bad_square", decomposition=lambda x: x * x,
                     vjp=lambda ctx, g: (g * ctx.inputs[0],), override=True)  # should be 2x
    from corefw._call import apply
    from corefw.ops import OPS

    try:
        x = cf.tensor([0.3, -1.2], dtype=cf.float64, requires_grad=True, device=device)
        with pytest.raises(AutogradError, match="Jacobian mismatch"):
            cf.autograd.gradcheck(lambda t: apply(op, (t,)), (x,))
        defvjp("test_bad_square", lambda ctx, g: (2 * g * ctx.inputs[0],))
        assert cf.autograd.gradcheck(lambda t: apply(op, (t,)), (x,))
        assert get_op("test_bad_square") is op
    finally:
        del OPS["test_bad_square"]  # the op table's "every op has rows" must not see it


def test_gradient_on_another_device_is_refused():
    import types

    from corefw.backend import ArrayModuleBackend
    from corefw.errors import DeviceError
    from corefw.plugins import hookimpl, register_plugin

    mod = types.ModuleType("second_device_plugin")
    mod.COREFW_PLUGIN_API = ">=1,<2"
    mod.register_backends = hookimpl(lambda register: register(
        ArrayModuleBackend(np, device_type="seconddev", name="numpy-second")))
    register_plugin(mod, name="second_device_plugin")
    x = cf.ones(3, device="seconddev", requires_grad=True)
    with pytest.raises(DeviceError, match="seconddev"):
        (x * 2).backward(cf.ones(3))
    with pytest.raises(DeviceError, match="seconddev"):
        x.grad = cf.ones(3)
    (x * 2).backward(cf.ones(3, device="seconddev"))
    assert x.grad.device == "seconddev"
