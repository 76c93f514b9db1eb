"""corefw.compile's fast path (one generated guard-and-run function per capture): it is used
once a capture hits, and every guard it checks sends a changed call back to the general path
(a recompile or another capture) with results equal to eager, bitwise."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.compiler._fastpath import MISS


def _np(t):
    return np.asarray(t.detach().numpy()).copy()


def _setup(optimizer="SGD", **kwargs):
    """Two equal models and optimizers: one stepped eagerly, one through corefw.compile."""
    corefw.manual_seed(0)
    m1 = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 3))
    m2 = copy.deepcopy(m1)
    kwargs = kwargs or {"lr": 0.1, "momentum": 0.9}
    o1 = getattr(corefw.optim, optimizer)(m1.parameters(), **kwargs)
    o2 = getattr(corefw.optim, optimizer)(m2.parameters(), **kwargs)

    def make(model, opt):
        def step(x, y, scale=1.0):
            loss = F.cross_entropy(model(x), y) * scale
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss
        return step

    return (m1, o1, make(m1, o1)), (m2, o2, corefw.compile(make(m2, o2)))


def _same(eager, compiled, *args) -> None:
    """One call of each, from the same RNG state: equal losses and parameters."""
    m1, _, f1 = eager
    m2, _, f2 = compiled
    state = corefw.get_rng_state()
    want = f1(*args)
    corefw.set_rng_state(state)
    got = f2(*args)
    assert np.array_equal(_np(got), _np(want))
    for (k, p), q in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert np.array_equal(_np(p), _np(q)), k


def _batch(n=5, dtype="float32"):
    return corefw.randn(n, 6).to(dtype), corefw.randint(0, 3, (n,))


def test_a_hit_builds_the_fast_path_and_it_runs_the_step():
    eager, compiled = _setup()
    x, y = _batch()
    for _ in range(4):
        _same(eager, compiled, x, y)
    cf = compiled[2]
    assert cf.fast is not None and len(cf.cache) == 1
    assert "return MISS" in cf.fast.source and "res = FWD" in cf.fast.source
    (plan,) = cf.cache.values()
    assert plan.fast is cf.fast
    hits = []

    def counted(args, kwargs):
        out = plan.fast(args, kwargs)
        hits.append(out is not MISS)
        return out

    cf.fast = counted
    for _ in range(2):
        _same(eager, compiled, x, y)
    assert hits == [True, True]  # the fast path ran these steps


def _both(eager, compiled, change) -> None:
    change(*eager[:2])
    change(*compiled[:2])


def _replace_weight(model, opt) -> None:
    w = nn.Parameter(corefw.full((3, 8), 0.05))
    model[3].weight = w
    opt.param_groups[0]["params"][2] = w


def _state_change(change):
    """A mutation of the model or optimizer (applied to both); the arguments stay."""
    def mutate(eager, compiled, args):
        _both(eager, compiled, change)
        return args
    return mutate


def _set(key, value):
    return _state_change(lambda m, o: o.param_groups[0].__setitem__(key, value))


#: each changes one guarded fact: (eager, compiled, args) -> the next call's arguments; and
#: the guard the general path names for the recompile
MUTATIONS = {
    "batch size": (lambda e, c, args: (corefw.randn(7, 6), corefw.randint(0, 3, (7,))),
                   "argument 0: shape (7, 6)"),
    "requires_grad argument": (
        lambda e, c, args: (args[0].detach().requires_grad_(), args[1]), "requires_grad=True"),
    "scalar argument": (lambda e, c, args: (*args, 0.5), "number of arguments"),
    "eval mode": (_state_change(lambda m, o: m.eval()), "train/eval mode"),
    "learning rate": (_set("lr", 0.01), "hyperparameters of optimizer 0"),
    "momentum": (_set("momentum", 0.5), "hyperparameters of optimizer 0"),
    "nesterov": (_set("nesterov", True), "hyperparameters of optimizer 0"),
    "replaced parameter": (_state_change(_replace_weight), "was replaced"),
    "frozen parameter": (_state_change(lambda m, o: m[0].bias.requires_grad_(False)),
                         "requires_grad or .grad"),
    "gradient left set": (_state_change(
        lambda m, o: setattr(m[0].weight, "grad", corefw.full((8, 6), 0.5))),
        "requires_grad or .grad"),
}


@pytest.mark.parametrize("what", list(MUTATIONS))
def test_each_guard_of_the_fast_path_sends_a_changed_call_to_a_new_capture(what):
    eager, compiled = _setup()
    args = _batch()
    for _ in range(3):
        _same(eager, compiled, *args)
    cf = compiled[2]
    assert cf.fast is not None and not cf.recompiles
    mutate, guard = MUTATIONS[what]
    args = mutate(eager, compiled, args)
    for _ in range(3):
        _same(eager, compiled, *args)
    assert cf.recompiles and guard in cf.recompiles[0], (what, cf.recompiles)
    assert cf.fast is not None


def test_argument_dtype_and_aliasing_are_guarded():
    def f(a, b):
        return (a * 2 + b).sum()

    cf = corefw.compile(f)
    a, b = corefw.randn(4), corefw.randn(4)
    for _ in range(3):
        assert np.array_equal(_np(cf(a, b)), _np(f(a, b)))
    assert cf.fast is not None
    for _ in range(2):
        assert np.array_equal(_np(cf(a, a)), _np(f(a, a)))
    assert len(cf.cache) == 2 and "aliasing" in cf.recompiles[-1]
    a64, b64 = a.double(), b.double()
    for _ in range(2):
        assert np.array_equal(_np(cf(a64, b64)), _np(f(a64, b64)))
    assert "float64" in cf.recompiles[-1] and _np(cf(a64, b64)).dtype == np.float64


def test_grad_mode_and_tracing_and_keywords_leave_the_fast_path():
    cf = corefw.compile(lambda x, k=2.0: (x * k).exp())
    x = corefw.randn(3, requires_grad=True)
    for _ in range(3):
        out = cf(x)
    assert cf.fast is not None and out.requires_grad
    assert cf.fast((x,), {"k": 3.0}) is MISS  # keywords: the general path
    with corefw.no_grad():
        assert cf.fast((x,), {}) is MISS
        out = cf(x)
    assert not out.requires_grad
    assert np.array_equal(_np(cf(x, k=3.0)), np.exp(_np(x) * 3.0).astype(np.float32))


def test_a_captured_backward_through_the_fast_path_equals_eager():
    corefw.manual_seed(0)
    w = corefw.randn(4, 3, requires_grad=True)
    cf = corefw.compile(lambda x: (x @ w).tanh().sum())
    x = corefw.randn(5, 4)
    for _ in range(3):
        w.grad = None
        cf(x).backward()
        got = _np(w.grad)
        w.grad = None
        (x @ w).tanh().sum().backward()
        assert np.array_equal(got, _np(w.grad))
    assert cf.fast is not None


def test_changing_adams_betas_recaptures_the_step():
    eager, compiled = _setup("Adam", lr=0.01)
    args = _batch()
    for _ in range(3):
        _same(eager, compiled, *args)
    _both(eager, compiled, lambda m, o: o.param_groups[0].__setitem__("betas", (0.5, 0.9)))
    for _ in range(3):
        _same(eager, compiled, *args)
    cf = compiled[2]
    assert cf.recompiles == ["hyperparameters of optimizer 0"]
    assert len(cf.cache) == 1  # a hyperparameter change replaces the capture


@pytest.mark.parametrize("backend", ["replay", "default"])
def test_a_later_calls_backward_reaches_that_calls_leaves(backend):
    """A regression: the joint backward went to the capturing call's argument tensors."""
    def f(a, b):
        return ((a @ b).relu() * 2).sum()

    cf = corefw.compile(f, backend=backend)
    rng = np.random.default_rng(0)
    for _ in range(4):
        a = corefw.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
        b = corefw.tensor(rng.standard_normal((4, 2)).astype(np.float32), requires_grad=True)
        cf(a, b).backward()
        ga, gb = _np(a.grad), _np(b.grad)
        a.grad = b.grad = None
        f(a, b).backward()
        assert np.array_equal(ga, _np(a.grad)) and np.array_equal(gb, _np(b.grad))
    assert cf.fast is not None and len(cf.cache) == 1


def test_an_unused_randperm_still_advances_the_stream_as_eager():
    """A regression: randperm was not a random op for the compiler, so an unused draw was
    dropped and later draws differed from eager."""
    def f(x):
        corefw.randperm(5)
        return x * 2

    cf = corefw.compile(f)
    x = corefw.ones(3)
    for _ in range(3):
        corefw.manual_seed(0)
        cf(x)
        got = corefw.rand(4).tolist()
        corefw.manual_seed(0)
        f(x)
        assert got == corefw.rand(4).tolist()
