"""corefw.compile: optimizer steps that read their step counter (lifted scalars), and
compiled training steps on a backend that functionalizes writes (corefw-immutable)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from _immutable import immutable_backend

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.compiler import CompileWarning


def _train(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def _pair(name, kwargs, device="cpu", batchnorm=False):
    corefw.manual_seed(0)
    layers = [nn.Linear(8, 16)] + ([nn.BatchNorm1d(16)] if batchnorm else []) + \
        [nn.ReLU(), nn.Linear(16, 3)]
    m1 = nn.Sequential(*layers).to(device)
    m2 = copy.deepcopy(m1)
    o1 = getattr(corefw.optim, name)(m1.parameters(), **kwargs)
    o2 = getattr(corefw.optim, name)(m2.parameters(), **kwargs)
    return m1, o1, m2, o2


def _run(name, kwargs, device="cpu", steps=6, batchnorm=False):
    m1, o1, m2, o2 = _pair(name, kwargs, device, batchnorm)
    compiled = corefw.compile(lambda x, y: _train(m2, o2, x, y))
    for _ in range(steps):
        x = corefw.randn(4, 8).to(device)
        y = corefw.randint(0, 3, (4,)).to(device)
        assert _train(m1, o1, x, y).tolist() == compiled(x, y).tolist()
    for (k, p), q in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert np.array_equal(np.asarray(p.tolist()), np.asarray(q.tolist())), k
    return compiled


@pytest.mark.parametrize("name, kwargs", [
    ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.1}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01}),
])
def test_optimizers_reading_their_step_compile_whole_and_match_eager_bitwise(name, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        compiled = _run(name, kwargs)
    assert len(compiled.cache) == 1 and not compiled.eager_keys and not compiled.breaks
    (plan,) = compiled.cache.values()
    ops = plan.graphs[0].op_counts()
    assert ops.get("host.item", 0) >= 1  # the step counter is read inside the graph


def test_compiled_adam_follows_the_closed_form():
    w0, g, lr, b1, b2, eps = 2.0, 0.25, 0.1, 0.9, 0.999, 1e-8
    p = corefw.tensor([w0], requires_grad=True)
    opt = corefw.optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)

    @corefw.compile
    def step():
        (p * g).sum().backward()  # gradient g, every step
        opt.step()
        opt.zero_grad()

    w, m, v = w0, 0.0, 0.0
    for t in range(1, 6):
        step()
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        w -= lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
        assert p.item() == pytest.approx(w, rel=1e-6)
    assert len(step.cache) == 1


@pytest.mark.parametrize("name", ["RAdam", "ASGD"])
def test_optimizers_branching_on_their_step_run_eagerly_with_the_reason(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _run(name, {"lr": 0.01})
    msgs = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert msgs and "comes after an in-place update" in msgs[0]
    assert compiled.eager_keys


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                          ("Adam", {"lr": 0.01})])
def test_training_step_compiles_on_a_functionalizing_backend(name, kwargs):
    with immutable_backend(), warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        compiled = _run(name, kwargs, device="immut", batchnorm=True)
    assert len(compiled.cache) == 1 and not compiled.eager_keys
    (plan,) = compiled.cache.values()
    assert plan.writes  # parameters, buffers and state are rebound from the plan's results


@pytest.mark.parametrize("name, kwargs", [("Adam", {"lr": 0.01, "weight_decay": 0.01}),
                                          ("AdamW", {"lr": 0.01, "amsgrad": True})])
def test_capturable_adam_is_one_device_graph(name, kwargs):
    """``capturable=True``: no ``.item()`` and no host arithmetic in the graph (what lets a
    ``jax.jit`` or CUDA-graph compiler take the step whole), results bitwise eager's."""
    with immutable_backend(), warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        compiled = _run(name, dict(kwargs, capturable=True), device="immut")
    assert len(compiled.cache) == 1 and not compiled.eager_keys
    (plan,) = compiled.cache.values()
    ops = plan.graphs[0].op_counts()
    assert not [op for op in ops if op.startswith("host.")], ops
    assert ops.get("pow", 0) + ops.get("rpow", 0) >= 2  # beta ** step, on the device


def test_capturable_step_is_placed_on_the_parameter_device_and_loaded_there():
    with immutable_backend():
        p = corefw.ones(3, device="immut", requires_grad=True)
        opt = corefw.optim.Adam([p], capturable=True)
        p.grad = corefw.ones(3, device="immut")
        opt.step()
        assert opt.state[p]["step"].device == p.device
        saved = copy.deepcopy(opt.state_dict())  # state_dict's tensors are the live state
        saved["state"][0]["step"] = saved["state"][0]["step"].to("cpu")
        start = p.detach().clone()
        opt.step()  # the second step, which each loaded optimizer repeats
        for capturable, where in ((True, p.device), (False, corefw.device("cpu"))):
            q = start.clone().requires_grad_()
            other = corefw.optim.Adam([q], capturable=not capturable)
            saved["param_groups"][0]["capturable"] = capturable
            other.load_state_dict(saved)  # the saved group's flag decides, as in PyTorch
            assert other.param_groups[0]["capturable"] is capturable
            assert other.state[q]["step"].device == where and other.state[q]["step"].item() == 1
            q.grad = corefw.ones(3, device="immut")
            other.step()
            assert other.state[q]["step"].item() == 2
            np.testing.assert_allclose(q.detach().to("cpu").numpy(),
                                       p.detach().to("cpu").numpy(), rtol=1e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("Adam", {}), ("Adam", {"capturable": True}), ("AdamW", {"capturable": True}),
    ("SGD", {"momentum": 0.9}), ("Adagrad", {}), ("Adamax", {}), ("NAdam", {}),
    ("RMSprop", {"momentum": 0.5}), ("Adadelta", {}),
])
def test_a_scheduled_tensor_lr_is_an_input_not_a_recapture(name, kwargs):
    """A float lr changed by a scheduler is a guarded hyperparameter: a new capture per
    value. A tensor lr is an input of the one capture (the scheduler fills it in place; the
    optimizers read it lifted, or as a tensor when capturable): no recompile over 8 lr
    values, eager's losses and parameters with the float lr; a tensor put in its place
    (another object) is a guard miss, and its value is used."""
    def make(lr):
        corefw.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = getattr(corefw.optim, name)(model.parameters(), lr=lr, **kwargs)
        return model, opt, corefw.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)

    m1, o1, s1 = make(0.01)
    m2, o2, s2 = make(corefw.tensor(0.01, dtype=corefw.float64))
    compiled = corefw.compile(lambda x, y: _train(m2, o2, x, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(8):
            x, y = corefw.randn(4, 8), corefw.randint(0, 3, (4,))
            np.testing.assert_allclose(compiled(x, y).item(), _train(m1, o1, x, y).item(),
                                       rtol=1e-6)
            s1.step()
            s2.step()
    assert len(compiled.cache) == 1 and not compiled.recompiles and not compiled.eager_keys
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-5,
                                   atol=1e-7)
    before = [p.detach().numpy().copy() for p in m2.parameters()]
    o2.param_groups[0]["lr"] = corefw.tensor(0.0, dtype=corefw.float64)  # a new object
    compiled(x, y)
    assert compiled.recompiles  # a guard noticed the new tensor
    for b, p in zip(before, m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), b)  # lr 0: nothing moved


def test_lifted_item_arithmetic_follows_the_data_and_int_uses_are_guarded():
    def f(x):
        s = x.sum().item()
        return x * abs(s) + (s // 2) - s ** 2 / 3, math.floor(s)

    compiled = corefw.compile(f)
    for v in (1.0, -3.0, 5.0, 1.25):
        x = corefw.full((2,), v)
        got, want = compiled(x), f(x)
        assert got[0].tolist() == want[0].tolist() and got[1] == want[1]
    ((key, plan),) = compiled.cache.items()
    ops = plan.graphs[0].op_counts()
    assert ops["host.abs"] == 1 and ops["host.floordiv"] == 1 and ops["host.guard"] == 1
    # math.floor is guarded: captures for floors 2, -6 and 10; 2.5 reuses the first
    assert len(compiled.paths[key]) == 2


def test_training_step_with_a_finite_check_break_is_two_guarded_segments():
    def make():
        m1, o1, m2, o2 = _pair("SGD", {"lr": 0.05, "momentum": 0.9})
        return (m1, o1), (m2, o2)

    def step(model, opt, x, y):
        loss = F.cross_entropy(model(x), y)
        if not corefw.isfinite(loss):  # bool(tensor): a break before any update
            return None
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.item()

    (m1, o1), (m2, o2) = make()
    compiled = corefw.compile(lambda x, y: step(m2, o2, x, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(5):
            x, y = corefw.randn(4, 8), corefw.randint(0, 3, (4,))
            assert step(m1, o1, x, y) == compiled(x, y)
        bad = corefw.full((4, 8), float("nan"))
        assert compiled(bad, y) is None and step(m1, o1, bad, y) is None
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(np.asarray(p.tolist()), np.asarray(q.tolist()))
    ((key, plan),) = compiled.cache.items()
    assert plan.guarded and len(compiled.paths[key]) == 1  # finite path, and the NaN path
    assert [b.reason for b in compiled.breaks] == ["bool(tensor)"]  # a bool tensor: read


def test_random_draws_before_a_break_are_undone_on_a_miss():
    def f(x):
        y = F.dropout(x, 0.5, training=True)
        if y.sum() > 4:  # a break after a random draw
            return y * 2
        return y - 1

    compiled = corefw.compile(f)
    for seed in range(8):
        corefw.manual_seed(seed)
        got = compiled(corefw.ones(8))
        after = corefw.rand(3)  # the stream continues where eager's does
        corefw.manual_seed(seed)
        want = f(corefw.ones(8))
        assert got.tolist() == want.tolist() and after.tolist() == corefw.rand(3).tolist()
    ((key, plan),) = compiled.cache.items()
    assert plan.restore_rng and len(compiled.paths[key]) == 1 and not compiled.eager_keys
