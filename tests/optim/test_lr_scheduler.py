"""Learning-rate schedulers: each lr sequence over 30 steps against its closed form."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import corefw
from corefw.optim import SGD, Adam
from corefw.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)

BASE_LRS = [0.1, 0.02]
STEPS = 30


def _optimizer(cls=SGD, lrs=BASE_LRS, **kwargs):
    groups = [{"params": [corefw.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, **kwargs)


def _lrs(opt, sched, steps=STEPS):
    """lrs of every group at epochs 0..steps, stepping in the recommended order."""
    out = [[g["lr"] for g in opt.param_groups]]
    assert sched.get_last_lr() == out[0]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
        assert out[-1] == [g["lr"] for g in opt.param_groups]
    return np.array(out)


def _closed(fn, steps=STEPS):
    return np.array([[fn(base, e) for base in BASE_LRS] for e in range(steps + 1)])


CASES = {
    "step": (lambda o: StepLR(o, step_size=4, gamma=0.5),
             lambda b, e: b * 0.5 ** (e // 4)),
    "multistep": (lambda o: MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
                  lambda b, e: b * 0.3 ** sum(m <= e for m in [3, 7, 7, 20])),
    "exponential": (lambda o: ExponentialLR(o, gamma=0.9),
                    lambda b, e: b * 0.9**e),
    "cosine": (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.001),
               lambda b, e: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2),
    "lambda": (lambda o: LambdaLR(o, lambda e: 1 / (1 + 0.5 * e)),
               lambda b, e: b / (1 + 0.5 * e)),
    "linear": (lambda o: LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8),
               lambda b, e: b * (0.25 + (0.9 - 0.25) * min(e, 8) / 8)),
    "linear-defaults": (lambda o: LinearLR(o),
                        lambda b, e: b * (1 / 3 + (1 - 1 / 3) * min(e, 5) / 5)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scheduler_matches_closed_form(name):
    make, closed = CASES[name]
    opt = _optimizer()
    got = _lrs(opt, make(opt))
    np.testing.assert_allclose(got, _closed(closed), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(CASES))
def test_step_with_epoch_uses_closed_form(name):
    make, closed = CASES[name]
    opt = _optimizer()
    sched = make(opt)
    opt.step()
    for epoch in (17, 5, 12):
        with pytest.warns(UserWarning, match="deprecated"):
            sched.step(epoch)
        np.testing.assert_allclose(sched.get_last_lr(), [closed(b, epoch) for b in BASE_LRS],
                                   rtol=1e-12)


def test_chained_schedulers_multiply():
    opt = _optimizer()
    s1, s2 = StepLR(opt, step_size=3, gamma=0.5), ExponentialLR(opt, gamma=0.9)
    for e in range(1, 20):
        opt.step()
        s1.step()
        s2.step()
        np.testing.assert_allclose(s2.get_last_lr(), [b * 0.5 ** (e // 3) * 0.9**e
                                                      for b in BASE_LRS], rtol=1e-12)


def test_lambda_lr_one_function_per_group_and_state_dict():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    opt = _optimizer()
    sched = LambdaLR(opt, [Warmup(4), lambda e: 0.5**e])
    got = _lrs(opt, sched, 6)
    np.testing.assert_allclose(got, [[0.1 * min(1, (e + 1) / 4), 0.02 * 0.5**e]
                                     for e in range(7)], rtol=1e-12)
    sd = sched.state_dict()
    assert sd["lr_lambdas"][0] == {"n": 4} and sd["lr_lambdas"][1] is None
    sched.lr_lambdas[0].n = 99
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[0].n == 4
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        LambdaLR(opt, [lambda e: 1.0])


def test_linear_lr_validation():
    opt = _optimizer()
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        LinearLR(opt, end_factor=1.5)


@pytest.mark.parametrize("name", ["cosine", "step", "linear"])
def test_scheduler_state_dict_round_trip(name):
    make, _ = CASES[name]
    opt_a = _optimizer()
    sched_a = make(opt_a)
    for _ in range(7):
        opt_a.step()
        sched_a.step()
    opt_b = _optimizer(lrs=[5.0, 5.0])
    sched_b = make(opt_b)
    opt_b.load_state_dict(opt_a.state_dict())
    sched_b.load_state_dict(sched_a.state_dict())
    assert sched_b.last_epoch == 7 and sched_b.base_lrs == BASE_LRS
    np.testing.assert_array_equal(_lrs(opt_a, sched_a, 15), _lrs(opt_b, sched_b, 15))


@pytest.mark.parametrize("name", ["multistep", "cosine"])
def test_scheduler_state_dict_through_save_and_load(name, tmp_path):
    make, closed = CASES[name]
    opt_a = _optimizer()
    sched_a = make(opt_a)
    for _ in range(5):
        opt_a.step()
        sched_a.step()
    corefw.save({"opt": opt_a.state_dict(), "sched": sched_a.state_dict()}, tmp_path / "ck")
    loaded = corefw.load(tmp_path / "ck")
    opt_b = _optimizer()
    sched_b = make(opt_b)
    opt_b.load_state_dict(loaded["opt"])
    sched_b.load_state_dict(loaded["sched"])
    got = _lrs(opt_b, sched_b, 10)[1:]
    np.testing.assert_allclose(got, _closed(closed, 15)[6:], rtol=1e-12)
    opt_b.step()
    with pytest.warns(UserWarning, match="deprecated"):
        sched_b.step(9)  # the closed form works after a round trip too
    np.testing.assert_allclose(sched_b.get_last_lr(), [closed(b, 9) for b in BASE_LRS])


def test_resuming_needs_initial_lr():
    opt = _optimizer()
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(opt, step_size=2, last_epoch=4)
    StepLR(opt, step_size=2)
    sched = StepLR(opt, step_size=2, last_epoch=4)  # initial_lr present now: resumes at 5
    assert sched.last_epoch == 5


def test_warns_when_scheduler_steps_before_optimizer():
    opt = _optimizer()
    sched = ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt = _optimizer()
    sched = ExponentialLR(opt, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        LRScheduler(_optimizer())


# ----------------------------------------------------------------------------- OneCycleLR
def _interp(a, b, frac, strategy):
    if strategy == "cos":
        return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2
    return a + (b - a) * frac


def onecycle_reference(s, total, max_lr, pct, strategy, three_phase, div=25.0, fdiv=1e4,
                       m_lo=0.85, m_hi=0.95):
    """(lr, momentum) at step ``s`` from the 1cycle definition (Smith & Topin; fastai)."""
    lo, end = max_lr / div, max_lr / div / fdiv
    up = pct * total - 1
    if three_phase:
        down = 2 * pct * total - 2
        phases = [(0, up, lo, max_lr, m_hi, m_lo), (up, down, max_lr, lo, m_lo, m_hi),
                  (down, total - 1, lo, end, m_hi, m_hi)]
    else:
        phases = [(0, up, lo, max_lr, m_hi, m_lo), (up, total - 1, max_lr, end, m_lo, m_hi)]
    for i, (a, b, lr0, lr1, mo0, mo1) in enumerate(phases):
        if s <= b or i == len(phases) - 1:
            frac = (s - a) / (b - a)
            return _interp(lr0, lr1, frac, strategy), _interp(mo0, mo1, frac, strategy)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("cls", [SGD, Adam])
def test_one_cycle_matches_closed_form(strategy, three_phase, cls):
    kwargs = {"momentum": 0.5} if cls is SGD else {}
    opt = _optimizer(cls, **kwargs)
    sched = OneCycleLR(opt, max_lr=[1.0, 0.4], total_steps=STEPS, pct_start=0.3,
                       anneal_strategy=strategy, three_phase=three_phase)
    moms = []
    for s in range(STEPS):
        if s:
            opt.step()
            sched.step()
        for group, max_lr in zip(opt.param_groups, [1.0, 0.4]):
            lr, mom = onecycle_reference(s, STEPS, max_lr, 0.3, strategy, three_phase)
            assert group["lr"] == pytest.approx(lr, rel=1e-12, abs=1e-15)
            got_mom = group["betas"][0] if cls is Adam else group["momentum"]
            assert got_mom == pytest.approx(mom, rel=1e-12)
            if cls is Adam:
                assert group["betas"][1] == 0.999
        moms.append(got_mom)
    first = opt.param_groups[0]
    assert first["initial_lr"] == pytest.approx(1.0 / 25)
    assert first["min_lr"] == pytest.approx(1.0 / 25 / 1e4)
    assert sched.get_last_lr()[0] == pytest.approx(first["min_lr"])  # ends at the minimum
    assert min(moms) == pytest.approx(0.85)
    opt.step()
    sched.step()  # step 30 == total_steps is still allowed
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        sched.step()


def test_one_cycle_epochs_and_validation():
    opt = _optimizer()
    sched = OneCycleLR(opt, max_lr=0.5, epochs=3, steps_per_epoch=4, cycle_momentum=False)
    assert sched.total_steps == 12 and "max_momentum" not in opt.param_groups[0]
    for kwargs, msg in [
        (dict(), "total_steps OR"),
        (dict(total_steps=0), "positive integer total_steps"),
        (dict(epochs=0, steps_per_epoch=3), "positive integer epochs"),
        (dict(total_steps=10, pct_start=1.5), "pct_start"),
        (dict(total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
        (dict(total_steps=10, max_lr=[1.0]), "same length as optimizer.param_groups"),
    ]:
        kwargs.setdefault("max_lr", 0.5)
        with pytest.raises(ValueError, match=msg):
            OneCycleLR(_optimizer(), **kwargs)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        OneCycleLR(object(), max_lr=1.0, total_steps=5)


# ----------------------------------------------------------------------------- plateau
def _plateau(metrics, lr=1.0, **kwargs):
    opt = _optimizer(lrs=[lr])
    sched = ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [out[-1]]
    return out, sched


def test_plateau_min_rel_patience():
    lrs, _ = _plateau([5, 4, 4, 4, 4, 3, 3, 3, 3, 3], factor=0.5, patience=2, threshold=0.0)
    assert lrs == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_plateau_max_abs_cooldown_min_lr_eps():
    metrics = [1, 1.2, 1.3, 1.4, 1.5, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.0, 2.0, 2.0, 2.0, 2.0]
    lrs, sched = _plateau(metrics, mode="max", factor=0.1, patience=1, threshold=0.5,
                          threshold_mode="abs", cooldown=2, min_lr=0.002)
    expected = [1, 1, .1, .1, .1, .1, .1, .01, .01, .01, .01, .002, .002, .002, .002, .002]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert sched.best == 2.0 and sched.last_epoch == len(metrics)


def test_plateau_ignores_changes_below_eps():
    assert _plateau([1, 1, 1], lr=0.08, factor=0.5, patience=0)[0] == [0.08, 0.04, 0.02]
    assert _plateau([1, 1, 1], lr=0.08, factor=0.5, patience=0, eps=0.05)[0] == [0.08] * 3


def test_plateau_relative_threshold_and_tensor_metric():
    lrs, sched = _plateau([corefw.tensor(10.0), 9.5, 9.5, 8.9], factor=0.5, patience=1,
                          threshold=0.1)
    assert lrs == [1, 1, 0.5, 0.5] and sched.best == pytest.approx(8.9)


def test_plateau_state_dict_and_validation():
    _, sched = _plateau([3, 2, 2], factor=0.5, patience=5)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["best"] == 2 and sd["num_bad_epochs"] == 1
    _, other = _plateau([], mode="max")
    other.load_state_dict(sd)
    assert other.mode == "min" and other.mode_worse == math.inf and other.num_bad_epochs == 1
    opt = _optimizer()
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="threshold mode pct is unknown"):
        ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        ReduceLROnPlateau(opt, min_lr=[0.1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_tensor_lr_is_filled_in_place(name):
    """A tensor lr (Adam's, for a compiled step to read as an input) keeps its identity: the
    scheduler fills it, as PyTorch's do, with the closed form's values; get_last_lr returns
    copies, which later steps do not change."""
    make, closed = CASES[name]
    lrs = [corefw.tensor(b, dtype=corefw.float64) for b in BASE_LRS]
    opt = Adam([{"params": [corefw.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs],
               capturable=True)
    sched = make(opt)
    seen = [[float(x) for x in sched.get_last_lr()]]
    first = sched.get_last_lr()
    for _ in range(STEPS):
        opt.step()
        sched.step()
        seen.append([float(x) for x in sched.get_last_lr()])
    assert all(g["lr"] is lr for g, lr in zip(opt.param_groups, lrs))
    assert [float(x) for x in first] == seen[0] and first[0] is not lrs[0]
    np.testing.assert_allclose(seen, _closed(closed), rtol=1e-12)
    assert [float(lr) for lr in lrs] == seen[-1]


def test_plateau_and_one_cycle_fill_a_tensor_lr():
    lr = corefw.tensor(0.1, dtype=corefw.float64)
    opt = Adam([corefw.zeros(2, requires_grad=True)], lr=lr, capturable=True)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=0)
    for loss in (1.0, 2.0, 3.0):
        plateau.step(loss)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.025)
    opt2 = Adam([corefw.zeros(2, requires_grad=True)], lr=lr, capturable=True)
    cycle = OneCycleLR(opt2, max_lr=1.0, total_steps=10, cycle_momentum=False)
    want = OneCycleLR(_optimizer(Adam, [0.1]), max_lr=1.0, total_steps=10,
                      cycle_momentum=False)
    for _ in range(9):
        opt2.step()
        cycle.step()
        want.optimizer.step()
        want.step()
        assert opt2.param_groups[0]["lr"] is lr
        assert float(lr) == pytest.approx(want.get_last_lr()[0], rel=1e-12)
