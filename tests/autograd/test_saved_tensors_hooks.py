"""corefw.autograd.graph: saved_tensors_hooks, save_on_cpu, disable_saved_tensors_hooks."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import corefw as cf
from corefw._graph.grad_mode import SAVED_HOOKS
from corefw.autograd.graph import disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks
from corefw.errors import AutogradError


class Log:
    """Pack/unpack hooks that record what they see and pass tensors through unchanged."""

    def __init__(self) -> None:
        self.packed: list = []
        self.unpacked: list = []

    def pack(self, x):
        self.packed.append(x)
        return ("box", x)

    def unpack(self, box):
        self.unpacked.append(box[1])
        return box[1]

    def hooks(self):
        return saved_tensors_hooks(self.pack, self.unpack)


def _to_numpy(x):
    return x.detach().numpy().copy()


def _from_numpy(a):
    return cf.tensor(a)


def _model(x, w1, w2):
    """A small network whose ops save operands (matmul, mul), outputs (tanh, exp) or nothing
    (sum): every kind of saved value."""
    h = (x @ w1).tanh()
    z = (h * h).exp() @ w2
    return z.logsumexp(1).sum() + (z * 0.5).sin().mean()


def _grads(rng, hooks=None):
    x = cf.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w1 = cf.tensor(rng.standard_normal((3, 5)) * 0.5, requires_grad=True)
    w2 = cf.tensor(rng.standard_normal((5, 2)) * 0.5, requires_grad=True)
    if hooks is None:
        loss = _model(x, w1, w2)
    else:
        with hooks:
            loss = _model(x, w1, w2)
    loss.backward()
    return loss.item(), [t.grad.numpy() for t in (x, w1, w2)]


def test_pack_sees_exactly_the_declared_saves_of_each_op():
    a = cf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = cf.tensor([4.0, 5.0, 6.0], requires_grad=True)
    c = cf.tensor([7.0, 8.0, 9.0])  # needs no grad
    log = Log()
    with log.hooks():
        p = a * b        # mul saves cross: both operands (each needs the other)
        q = a * c        # only c: the gradient for a reads c; none is wanted for c
        e = p.exp()      # exp saves its output
        s = e.sum()      # sum saves nothing (shape only)
    assert len(log.packed) == 4
    assert log.packed[0] is a and log.packed[1] is b
    assert log.packed[2] is c
    assert log.packed[3] is e  # the result itself, as in PyTorch
    assert log.unpacked == []
    (s + q.sum()).backward()
    assert len(log.unpacked) == 4  # each saved tensor once
    np.testing.assert_allclose(a.grad.numpy(), np.exp([4.0, 10.0, 18.0]) * [4, 5, 6] + [7, 8, 9])
    np.testing.assert_allclose(b.grad.numpy(), np.exp([4.0, 10.0, 18.0]) * [1, 2, 3])


def test_shape_only_stand_ins_never_reach_the_hooks():
    x = cf.tensor(np.ones((2, 3)), requires_grad=True)
    log = Log()
    with log.hooks():
        y = (x + 1.0).sum()  # add and sum save nothing
    assert log.packed == []
    y.backward()
    assert log.unpacked == []
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_gradients_equal_to_those_without_hooks(rng):
    loss0, g0 = _grads(np.random.default_rng(1))
    log = Log()
    loss1, g1 = _grads(np.random.default_rng(1), log.hooks())
    assert loss0 == loss1
    for a, b in zip(g0, g1):
        np.testing.assert_array_equal(a, b)
    assert len(log.packed) == len(log.unpacked) > 5


def test_pack_to_numpy_and_rebuild_frees_the_saved_tensor(rng):
    loss0, g0 = _grads(np.random.default_rng(2))
    loss1, g1 = _grads(np.random.default_rng(2), saved_tensors_hooks(_to_numpy, _from_numpy))
    assert loss0 == loss1
    for a, b in zip(g0, g1):
        np.testing.assert_array_equal(a, b)
    # the graph keeps the numpy copy, not the tensor: an intermediate can go
    x = cf.tensor(rng.standard_normal(5), requires_grad=True)
    for hooked in (False, True):
        h = x * 2.0
        ref = weakref.ref(h)
        if hooked:
            with saved_tensors_hooks(_to_numpy, _from_numpy):
                y = h.sin().sum()  # sin saves its input h
        else:
            y = h.sin().sum()
        del h
        gc.collect()
        assert (ref() is None) == hooked
        x.grad = None
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(2 * x.detach().numpy()), rtol=1e-12)


def test_save_on_cpu_gives_equal_gradients(device):
    rng = np.random.default_rng(3)
    loss0, g0 = _grads(rng)
    loss1, g1 = _grads(np.random.default_rng(3), save_on_cpu())
    assert loss0 == loss1
    for a, b in zip(g0, g1):
        np.testing.assert_array_equal(a, b)
    x = cf.tensor([0.5, 1.5], requires_grad=True, device=device)
    with save_on_cpu(pin_memory=True):
        y = (x * x).exp().sum()
    y.backward()
    assert x.grad.device == x.device
    v = np.array([0.5, 1.5])
    np.testing.assert_allclose(x.grad.cpu().numpy(), 2 * v * np.exp(v * v), rtol=1e-6)


def test_nested_contexts_use_the_innermost_pair():
    x = cf.tensor([1.0, 2.0], requires_grad=True)
    outer, inner = Log(), Log()
    with outer.hooks():
        a = x.sin()
        with inner.hooks():
            b = x.cos()
        c = x.exp()
    d = x.tanh()
    assert outer.packed[0] is x and len(outer.packed) == 2  # sin's input, exp's output
    assert inner.packed == [x]
    (a + b + c + d).sum().backward()
    assert len(outer.unpacked) == 2 and len(inner.unpacked) == 1
    assert SAVED_HOOKS[0] == 0  # the hot path's "any hooks anywhere" count is back to none
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(),
                               np.cos(v) - np.sin(v) + np.exp(v) + 1 - np.tanh(v) ** 2)


def test_hooks_are_thread_local():
    log = Log()
    seen = {}

    def other():
        t = cf.tensor([1.0, 2.0], requires_grad=True)
        y = t.exp().sum()
        seen["packed"] = len(log.packed)
        y.backward()
        seen["grad"] = t.grad.numpy()

    x = cf.tensor([3.0], requires_grad=True)
    with log.hooks():
        th = threading.Thread(target=other)
        th.start()
        th.join()
        x.exp()
    assert seen["packed"] == 0  # the other thread recorded with no hooks
    np.testing.assert_allclose(seen["grad"], np.exp([1.0, 2.0]))
    assert len(log.packed) == 1  # this thread's exp


def test_disable_saved_tensors_hooks_raises_with_the_message():
    with disable_saved_tensors_hooks("no hooks in this module, please"):
        with pytest.raises(AutogradError, match="no hooks in this module, please"):
            with saved_tensors_hooks(lambda x: x, lambda x: x):
                pass
        with pytest.raises(RuntimeError, match="no hooks in this module"):
            with save_on_cpu():
                pass

    @disable_saved_tensors_hooks("decorated")
    def f():
        with saved_tensors_hooks(lambda x: x, lambda x: x):
            pass

    with pytest.raises(AutogradError, match="decorated"):
        f()
    with saved_tensors_hooks(lambda x: x, lambda x: x):  # hooks active: disabling raises
        with pytest.raises(AutogradError, match="not while hooks are on"):
            with disable_saved_tensors_hooks("not while hooks are on"):
                pass
    log = Log()
    with log.hooks():  # allowed again outside
        cf.tensor([1.0], requires_grad=True).exp()
    assert len(log.packed) == 1


def test_hooks_do_not_touch_a_graph_recorded_outside():
    x = cf.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    log = Log()
    with log.hooks():
        y.backward()
    assert log.packed == [] and log.unpacked == []
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, 2]) * np.exp([1.0, 4.0]))


def test_retain_graph_unpacks_on_every_backward():
    x = cf.tensor([0.3, 0.7], requires_grad=True)
    log = Log()
    with log.hooks():
        y = x.sin().sum()
    y.backward(retain_graph=True)
    y.backward()
    assert len(log.packed) == 1 and len(log.unpacked) == 2
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos([0.3, 0.7]))
    with pytest.raises(AutogradError, match="second time"):
        y.backward()


def test_higher_order_gradients_through_unpacked_tensors():
    v = np.array([0.5, -1.0, 2.0])
    for hooks in (None, saved_tensors_hooks(_to_numpy, _from_numpy)):
        x = cf.tensor(v, requires_grad=True)
        if hooks is None:
            y = (x * x * x).sin().sum()
        else:
            with hooks:
                y = (x * x * x).sin().sum()
        (g,) = cf.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
        # d/dx sin(x^3) = 3x^2 cos(x^3); d2 = 6x cos(x^3) - 9x^4 sin(x^3)
        np.testing.assert_allclose(g.detach().numpy(), 3 * v**2 * np.cos(v**3), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(),
                                   6 * v * np.cos(v**3) - 9 * v**4 * np.sin(v**3), rtol=1e-12)


def test_backward_reads_what_the_hook_kept_not_the_changed_original():
    x = cf.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h.sin().sum()
    h.add_(1.0)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        y.backward()  # without hooks the saved h is h itself: the change is an error
    h = x * 1.0
    with saved_tensors_hooks(_to_numpy, _from_numpy):
        y = h.sin().sum()
    h.add_(1.0)  # the graph kept a copy: as in PyTorch, no version check on packed tensors
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos([1.0, 2.0]), rtol=1e-6)


def test_bad_unpack_results_are_typed_errors():
    x = cf.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: t.detach().numpy()):
        y = x.sin().sum()
    with pytest.raises(AutogradError, match="must return a corefw Tensor"):
        y.backward()
    with saved_tensors_hooks(lambda t: t, lambda t: t[:1]):
        y = x.sin().sum()
    with pytest.raises(AutogradError, match=r"returned shape \(1,\).*saved with shape \(2,\)"):
        y.backward()


def test_pack_hook_may_not_modify_its_input():
    x = cf.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    with saved_tensors_hooks(lambda t: t.mul_(2.0), lambda t: t):
        with pytest.raises(AutogradError, match="pack hook modified its input"):
            h.sin()


def test_grad_fn_saved_tensors_unpacks():
    x = cf.tensor([1.0, 2.0], requires_grad=True)
    log = Log()
    with log.hooks():
        y = x.sin()
    (s,) = y.grad_fn.saved_tensors
    np.testing.assert_array_equal(s.detach().numpy(), x.detach().numpy())
    assert len(log.unpacked) == 1


class _Cube(cf.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x, None)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        x, none = ctx.saved_tensors
        assert none is None
        return g * 3.0 * x * x


def test_custom_function_save_for_backward_goes_through_the_hooks():
    x = cf.tensor([1.0, -2.0], requires_grad=True)
    log = Log()
    with log.hooks():
        y = _Cube.apply(x).sum()
    assert len(log.packed) == 1 and log.packed[0] is x
    y.backward()
    assert len(log.unpacked) == 1
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
    x.grad = None
    with saved_tensors_hooks(_to_numpy, _from_numpy):
        y = _Cube.apply(x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def _table_grads(case, sample, hooks):
    """Gradients of a fixed random projection of ``case.fn``'s result w.r.t. its
    differentiable inputs, recorded under ``hooks`` (or none)."""
    from corefw.testing import table

    ctx = table.context("cpu")
    grad = case.grad if sample.grad is None else sample.grad
    args = list(table.tensors(ctx, sample))
    leaves = []
    for i in grad:
        args[i] = args[i].detach().requires_grad_(True)
        leaves.append(args[i])
    if hooks is None:
        out = case.fn(*args, **sample.attrs)
    else:
        with hooks:
            out = case.fn(*args, **sample.attrs)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not out.requires_grad:
        return None
    v = cf.tensor(np.random.default_rng(7).standard_normal(tuple(out.shape)), dtype=out.dtype)
    return [None if g is None else g.numpy()
            for g in cf.autograd.grad((out * v).sum(), leaves, allow_unused=True)]


def test_every_op_of_the_table_differentiates_the_same_under_hooks():
    """Every op's VJP reads its saved values through the unpack hook (a numpy round trip, so
    nothing the forward made survives) and gets bitwise the gradients it gets without."""
    from corefw.testing import table

    checked = 0
    for case, variant, _, sample in table.samples("cpu", variants=("basic",),
                                                  dtypes=("float64",)):
        if case.check is not None or case.creation or not case.grad or \
                variant in case.forward_only:
            continue  # random ops, creation ops and forward-only rows have no gradient here
        cf.manual_seed(0)
        plain = _table_grads(case, sample, None)
        if plain is None:
            continue
        cf.manual_seed(0)
        hooked = _table_grads(case, sample, saved_tensors_hooks(_to_numpy, _from_numpy))
        for a, b in zip(plain, hooked):
            assert (a is None) == (b is None), case.name
            if a is not None:
                np.testing.assert_array_equal(a, b, err_msg=case.name)
        checked += 1
    assert checked > 150


def test_save_on_cpu_packs_the_device_and_a_cpu_tensor():
    hooks = save_on_cpu(pin_memory=False)
    x = cf.tensor([1.0, 2.0])
    dev, kept = hooks.pack_hook(x)
    assert dev == x.device and kept.device.type == "cpu"
    back = hooks.unpack_hook((dev, kept))
    assert back.device == x.device
    np.testing.assert_array_equal(back.numpy(), x.numpy())


def test_enforce_grad_layout_policy_is_recorded_per_thread():
    from corefw._graph.grad_mode import STATE

    assert STATE.grad_layout_policy is True
    with cf.autograd.enforce_grad_layout_policy(False):
        assert STATE.grad_layout_policy is False
        seen = []
        th = threading.Thread(target=lambda: seen.append(STATE.grad_layout_policy))
        th.start()
        th.join()
        assert seen == [True]
    assert STATE.grad_layout_policy is True
    cf.autograd.enforce_grad_layout_policy(False)  # a plain call takes effect at once
    assert STATE.grad_layout_policy is False
    cf.autograd.enforce_grad_layout_policy(True)

    @cf.autograd.enforce_grad_layout_policy(False)
    def f():
        return STATE.grad_layout_policy

    assert f() is False and STATE.grad_layout_policy is True
    p = cf.tensor(np.ones((2, 3)), requires_grad=True)
    with cf.autograd.enforce_grad_layout_policy(False):
        (p * 2.0).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 3), 2.0))
