"""corefw.compile: results equal eager, guards and recompiles, graph breaks, autograd
features (no_grad, retain_graph, hooks, create_graph), RNG stream, BatchNorm, train/eval."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.compiler import CompileWarning, GraphBreakError, explain


def _np(t):
    return t.detach().numpy().copy()


def six_op(a, b, c, d):
    return corefw.exp(corefw.relu(a @ b + c) * d).sum()


def _abcd(req=True):
    corefw.manual_seed(0)
    a, b = corefw.randn(8, 5, requires_grad=req), corefw.randn(5, 6, requires_grad=req)
    return a, b, corefw.randn(6), corefw.randn(8, 6)


def test_six_op_graph_forward_and_backward_bitwise():
    args = _abcd()
    cf = corefw.compile(six_op)
    for _ in range(3):
        out = cf(*args)
        out.backward()
        got = [_np(args[0].grad), _np(args[1].grad)]
        args[0].grad = args[1].grad = None
        want = six_op(*args)
        want.backward()
        assert np.array_equal(_np(out), _np(want))
        assert np.array_equal(got[0], _np(args[0].grad))
        assert np.array_equal(got[1], _np(args[1].grad))
        args[0].grad = args[1].grad = None
    (plan,) = cf.cache.values()
    fwd, bwd = plan.graphs
    assert [n.op for n in fwd.nodes] == ["matmul", "add", "relu", "mul", "exp", "sum"]
    assert "matmul" in str(bwd) and "float32[8, 6]" in str(fwd)


def _model(bn=True, dropout=True):
    corefw.manual_seed(0)
    layers = [nn.Linear(16, 32)]
    layers += [nn.BatchNorm1d(32)] if bn else []
    layers += [nn.ReLU()] + ([nn.Dropout(0.3)] if dropout else []) + [nn.Linear(32, 4)]
    return nn.Sequential(*layers)


def _train_step(model, compiled, with_optimizer=False):
    """``loss = model(x); loss.backward(); opt.step(); opt.zero_grad()``, maybe compiled."""
    opt = corefw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    fn = corefw.compile(step) if compiled else step
    return (fn, opt) if with_optimizer else fn


def _train(compiled, steps=5):
    model = _model()
    x, y = corefw.randn(8, 16), corefw.randint(0, 4, (8,))
    fn = _train_step(model, compiled)
    corefw.manual_seed(1)
    losses = [fn(x, y).item() for _ in range(steps)]
    return losses, model, fn


def test_training_step_with_dropout_batchnorm_momentum_equals_eager_bitwise():
    want, m_eager, _ = _train(False)
    got, m_comp, fn = _train(True)
    assert got == want
    for p, q in zip(m_eager.state_dict().values(), m_comp.state_dict().values()):
        assert np.array_equal(_np(p), _np(q))
    assert len(fn.cache) == 1 and fn.breaks == []
    (plan,) = fn.cache.values()
    assert plan.graphs[0].op_counts()["sgd_step_"] == 6  # one fused update per parameter


def test_guards_recompile_and_name_the_failing_guard():
    model = _model(bn=False, dropout=False)
    cf = corefw.compile(model)
    x = corefw.randn(8, 16)
    cf(x)
    cf(corefw.randn(4, 16))
    assert "argument 0: shape (4, 16)" in cf._compiled.recompiles[-1]
    model.eval()
    cf(x)
    assert "train/eval" in cf._compiled.recompiles[-1]
    with corefw.no_grad():
        out = cf(x)
    assert not out.requires_grad and "grad mode" in cf._compiled.recompiles[-1]
    assert np.array_equal(_np(out), _np(model(x)))
    model[0].weight = nn.Parameter(corefw.zeros(32, 16))  # a replaced parameter is seen
    assert np.array_equal(_np(cf(x)), _np(model(x)))


def test_cache_limit_warns_once_naming_the_guard_then_runs_eagerly():
    cf = corefw.compile(lambda x: x * 2, dynamic=False, options={"cache_size_limit": 2})
    cf(corefw.ones(1))
    cf(corefw.ones(2))
    with pytest.warns(CompileWarning, match=r"cache limit \(2\).*argument 0: shape \(3,\)"):
        out = cf(corefw.ones(3))
    assert np.array_equal(_np(out), [2, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cf(corefw.ones(4))  # no second warning


def test_python_scalar_arguments_are_guarded():
    cf = corefw.compile(lambda x, k: x * k)
    assert cf(corefw.ones(2), 2).tolist() == [2, 2]
    assert cf(corefw.ones(2), 3).tolist() == [3, 3]


def test_graph_break_splits_into_guarded_segments_with_eager_results_and_explain():
    def fn(x):
        y = x * 2
        if y.sum().item() > 0:
            y = y + 1
        return y.exp()

    cf = corefw.compile(fn)
    for sign in (1, -1, 1, -1, 2):
        x = corefw.ones(3) * sign
        assert np.array_equal(_np(cf(x)), _np(fn(x)))
    assert cf.breaks and cf.breaks[0].reason == "comparison (>) of Tensor.item()"
    # one capture per path through the break (the comparison's value is the guard), no more
    ((key, plan),) = cf.cache.items()
    assert len(cf.paths[key]) == 1 and not cf.eager_keys
    assert plan.guarded and any(n.op == "host.guard" for n in plan.graphs[0].nodes)
    report = explain(fn, corefw.ones(3))
    assert report.graph_count == 2 and report.graph_break_count == 1
    assert report.ops_per_graph == [["mul", "sum"], ["add", "exp"]]
    assert "if y.sum().item() > 0:" in report.breaks[0].line
    assert "Break Reason 1: comparison (>) of Tensor.item()" in str(report)


def test_break_segments_replay_without_running_the_python():
    seen = []

    def fn(x):
        seen.append(1)  # Python side effect: runs only while capturing
        s = x.sum()
        if s > 0:  # bool(tensor): a break
            return x * 2, s.item()  # a lifted scalar output
        return x - 1, s.item()

    cf = corefw.compile(fn)
    x = corefw.ones(3)
    for k in range(4):
        y, total = cf(x * (k + 1))
        assert y.tolist() == [2.0 * (k + 1)] * 3 and total == 3.0 * (k + 1)
        assert type(total) is float
    assert len(seen) == 1  # captured once, replayed three times (the guard held)
    y, total = cf(-x)  # the other branch: captured once more
    assert y.tolist() == [-2.0] * 3 and total == -3.0 and len(seen) == 2


def test_a_break_reading_a_changing_value_ends_eager_with_one_warning():
    def fn(x):
        s = float(x.sum())  # float(tensor) guards the value itself
        return x * s

    cf = corefw.compile(fn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(6):
            x = corefw.ones(2) * k
            assert cf(x).tolist() == fn(x).tolist()
    msgs = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(msgs) == 1 and "float(tensor)" in msgs[0] and "s = float(x.sum())" in msgs[0]


def test_a_break_after_an_in_place_update_runs_eagerly_with_the_reason():
    w = corefw.zeros(3)

    def fn(x):
        w.add_(x)
        return w * 2 if w.sum() > 0 else w

    cf = corefw.compile(fn)
    w_ref = corefw.zeros(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            out = cf(corefw.ones(3))
            w_ref.add_(corefw.ones(3))
            assert out.tolist() == (w_ref * 2).tolist() and w.tolist() == w_ref.tolist()
    assert any("after an in-place update" in str(c.message) for c in caught)


def test_fullgraph_raises_at_the_first_break_naming_the_line():
    def fn(x):
        print(x)
        return x + 1

    with pytest.raises(GraphBreakError, match=r"test_compile.py:\d+: print\(x\).*printing"):
        corefw.compile(fn, fullgraph=True)(corefw.ones(2))
    with pytest.raises(GraphBreakError, match="bool"):
        corefw.compile(lambda x: x if x.sum() else -x, fullgraph=True)(corefw.ones(2))


def test_no_grad_inside_and_retain_graph_and_hooks():
    w = corefw.randn(4, requires_grad=True)

    def fn(x):
        with corefw.no_grad():
            scale = x.abs().max()
        return (x * w / scale).sum()

    seen = []
    w.register_hook(lambda g: seen.append(1) or g * 2)  # registered before compilation
    cf = corefw.compile(fn)
    x = corefw.randn(4)
    for _ in range(2):
        out = cf(x)
        out.backward(retain_graph=True)
        out.backward()
    got = _np(w.grad)
    w.grad = None
    for _ in range(2):
        out = fn(x)
        out.backward(retain_graph=True)
        out.backward()
    assert np.array_equal(got, _np(w.grad)) and len(seen) == 8


def test_create_graph_falls_back_to_eager_with_a_reason():
    x = corefw.randn(5, requires_grad=True)
    cf = corefw.compile(lambda x: (x ** 3).sum())
    cf(x)
    out = cf(x)
    with pytest.warns(CompileWarning, match="create_graph"):
        (g,) = corefw.autograd.grad(out, x, create_graph=True)
    (h,) = corefw.autograd.grad(g.sum(), x)
    assert np.allclose(_np(h), 6 * _np(x))


def test_module_compile_in_place_and_optimized_module():
    model = _model(bn=False, dropout=False)
    x = corefw.randn(3, 16)
    want = _np(model(x))
    opt_mod = corefw.compile(model)
    assert np.array_equal(_np(opt_mod(x)), want) and opt_mod.training
    assert list(opt_mod.state_dict()) == list(model.state_dict())
    model.compile()
    assert np.array_equal(_np(model(x)), want)
    assert np.array_equal(_np(model(x)), want)
    assert model.__dict__["_compiled_call"].cache


def test_decorator_backends_and_logs(capsys, monkeypatch):
    calls = []

    def my_compiler(graph):
        calls.append(len(graph.nodes))
        return corefw.compiler.replay(graph)

    @corefw.compile(backend=my_compiler)
    def f(x):
        return (x + 1) * 3

    monkeypatch.setenv("COREFW_LOGS", "graph")
    assert f(corefw.ones(2)).tolist() == [6, 6]
    assert calls == [2] and "graph(%0: float32[2])" in capsys.readouterr().err
    assert "replay" in corefw.compiler.list_backends()
    with pytest.raises(corefw.errors.PluginError, match="unknown backend 'nope'"):
        corefw.compile(f, backend="nope")


def test_untracked_tensor_written_in_place_falls_back_with_a_reason():
    def fn(x):
        acc = corefw.tensor([0.0, 0.0])
        acc.add_(x)
        return acc

    cf = corefw.compile(fn)
    with pytest.warns(CompileWarning, match="writes in place"):
        cf(corefw.ones(2))
    assert cf(corefw.ones(2)).tolist() == [1, 1]


def test_custom_function_on_a_tensor_changed_in_place_before_apply():
    class Square(corefw.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    p = nn.Parameter(corefw.ones(3))
    with corefw.no_grad():
        p.add_(1)  # as an optimizer step does
    Square.apply(p).sum().backward()
    assert p.grad.tolist() == [4.0, 4.0, 4.0]


def test_a_second_batch_size_makes_the_capture_dynamic():
    def run(compiled):
        corefw.manual_seed(0)
        model = _model(bn=False, dropout=True)  # BatchNorm's n / (n - 1) is shape-specialised
        fn = _train_step(model, compiled)
        corefw.manual_seed(1)
        losses = []
        for b in (8, 8, 8, 12, 5, 7, 12):
            x, y = corefw.randn(b, 16), corefw.randint(0, 4, (b,))
            losses.append(fn(x, y).item())
        return losses, fn

    want, _ = run(False)
    got, fn = run(True)
    assert got == want
    assert len(fn.cache) == 2 and fn.dynamic_cache  # sizes 5 and 7 ran without a capture
    (plans,) = fn.dynamic_cache.values()
    (plan,) = plans.values()
    assert plan.graphs[0].inputs[-1].shape is None  # the symbolic batch size
    no_dyn = corefw.compile(lambda x: x.reshape(x.shape[0], -1) * (1 / x.shape[0]))
    for b in (2, 3, 4):
        x = corefw.ones(b, 2, 2)
        assert np.allclose(_np(no_dyn(x)), 1 / b)
    assert len(no_dyn.cache) == 3 and not no_dyn.dynamic_cache  # 1/b is not a shape


def test_argument_tensors_returned_changed_in_place_or_given_grads_are_this_calls():
    def fn(x, w):
        x.add_(1)                      # an input changed in place: its version moves too
        loss = (x * w).sum()
        loss.backward()                # w.grad, w an argument
        return x, loss

    cf = corefw.compile(fn)
    for i in range(3):
        x, w = corefw.zeros(3), corefw.full((3,), float(i), requires_grad=True)
        out, loss = cf(x, w)
        assert out is x and x.tolist() == [1, 1, 1] and x._version == 1
        assert w.grad.tolist() == [1, 1, 1] and loss.item() == 3 * i


def test_a_deep_copy_of_a_compiled_module_trains_its_own_parameters():
    import copy

    model = _model(bn=False, dropout=False)
    model.compile()
    x = corefw.randn(4, 16)
    model(x)
    twin = copy.deepcopy(model)
    with corefw.no_grad():
        twin[0].weight.mul_(0)
    assert np.array_equal(_np(twin(x)), _np(twin._call_impl(x)))
    assert not np.array_equal(_np(twin(x)), _np(model(x)))


def test_vjp_overrides_module_hooks_run_eagerly():
    model = _model(bn=False, dropout=False)
    cf = corefw.compile(model)
    x = corefw.randn(2, 16, requires_grad=True)
    cf(x).sum().backward()
    plain = _np(x.grad)
    x.grad = None
    with corefw.autograd.override_vjp({"relu": lambda ctx, g: (g,)}):  # identity backward
        cf(x).sum().backward()
    x.grad = None
    with corefw.autograd.override_vjp({"relu": lambda ctx, g: (g,)}):
        model(x).sum().backward()
    want = _np(x.grad)
    x.grad = None
    with corefw.autograd.override_vjp({"relu": lambda ctx, g: (g,)}):
        cf(x).sum().backward()
    assert np.array_equal(_np(x.grad), want) and not np.array_equal(plain, want)
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o))
    hooked = corefw.compile(model)
    with pytest.warns(CompileWarning, match="module hooks on Linear"):
        hooked(x)
    hooked(x)
    assert len(seen) == 2


def test_a_learning_rate_schedule_replaces_the_capture_and_matches_eager():
    def run(compiled):
        model = _model(bn=False, dropout=False)
        step, opt = _train_step(model, compiled, with_optimizer=True)
        sched = corefw.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        x, y = corefw.randn(8, 16), corefw.randint(0, 4, (8,))
        losses = []
        for _ in range(12):
            losses += [step(x, y).item(), step(x, y).item()]
            sched.step()
        return losses, step

    want, _ = run(False)
    got, step = run(True)
    assert got == want
    assert len(step.cache) == 1 and step.recompiles[-1] == "hyperparameters of optimizer 0"


def test_an_lr_changed_every_call_runs_eagerly_until_it_holds_still():
    """A float lr stepped on every call would be a capture (an eager run under a trace and a
    compile) on every call, never replayed: after 3 such captures the calls whose
    hyperparameters are new run eagerly, with one warning pointing to a tensor lr; once the
    lr holds still the function is captured and replayed again. Bitwise eager throughout."""
    def run(compiled):
        corefw.manual_seed(0)
        model = _model(bn=False, dropout=False)
        step, opt = _train_step(model, compiled, with_optimizer=True)
        sched = corefw.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 / (1 + min(e, 10)))
        x, y = corefw.randn(8, 16), corefw.randint(0, 4, (8,))
        losses = []
        for _ in range(20):
            losses.append(step(x, y).item())
            sched.step()
        return losses, step

    want, _ = run(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, step = run(True)
    assert got == want
    msgs = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(msgs) == 1 and "changed on each of the last 3 calls" in msgs[0], msgs
    assert "lr=corefw.tensor(1e-3)" in msgs[0]
    assert len(step.recompiles) <= 4  # 3 before the eager calls, 1 when the lr held still
    (plan,) = step.cache.values()
    assert plan.hits >= 1  # the last capture was replayed
