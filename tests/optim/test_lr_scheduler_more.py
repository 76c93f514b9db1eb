"""MultiplicativeLR, ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts, CyclicLR,
SequentialLR and ChainedScheduler against hand-computed lr sequences (PyTorch's documented
examples among them), closed forms, state-dict round trips and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_lr_scheduler import BASE_LRS, _lrs, _optimizer

from corefw.optim import SGD, Adagrad, Adam
from corefw.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    MultiplicativeLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)


def _one(lr=1.0, cls=SGD, **kw):
    return _optimizer(cls, [lr], **kw)


def _seq(sched_factory, steps, lr=1.0, cls=SGD, **kw):
    opt = _one(lr, cls, **kw)
    return _lrs(opt, sched_factory(opt), steps)[:, 0]


def test_pytorch_documented_sequences():
    # the examples in PyTorch's docstrings, base lr 0.05 / 0.001 / 1
    np.testing.assert_allclose(_seq(lambda o: ConstantLR(o, factor=0.5, total_iters=4), 6,
                                    lr=0.05), [0.025] * 4 + [0.05] * 3, rtol=1e-12)
    np.testing.assert_allclose(_seq(lambda o: PolynomialLR(o, total_iters=4, power=1.0), 6,
                                    lr=0.001),
                               [0.001, 0.00075, 0.0005, 0.00025, 0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(
        _seq(lambda o: SequentialLR(o, [ConstantLR(o, factor=0.1, total_iters=2),
                                        ExponentialLR(o, gamma=0.9)], milestones=[2]), 5),
        [0.1, 0.1, 1.0, 0.9, 0.81, 0.729], rtol=1e-12)
    np.testing.assert_allclose(
        _seq(lambda o: ChainedScheduler([ConstantLR(o, factor=0.1, total_iters=2),
                                         ExponentialLR(o, gamma=0.9)]), 5),
        [0.1, 0.09, 0.81, 0.729, 0.6561, 0.59049], rtol=1e-12)


def test_multiplicative_lr_per_group():
    opt = _optimizer()
    got = _lrs(opt, MultiplicativeLR(opt, [lambda e: 0.95, lambda e: 1 / (e + 1)]), 8)
    np.testing.assert_allclose(got[:, 0], [0.1 * 0.95**e for e in range(9)], rtol=1e-12)
    np.testing.assert_allclose(got[:, 1], [0.02 / math.factorial(e + 1) for e in range(9)],
                               rtol=1e-12)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_polynomial_lr_closed_form(power):
    opt = _optimizer()
    got = _lrs(opt, PolynomialLR(opt, total_iters=7, power=power), 12)
    expected = [[b * (1 - min(e, 7) / 7) ** power for b in BASE_LRS] for e in range(13)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_constant_lr_validation():
    with pytest.raises(ValueError, match="between 0 and 1"):
        ConstantLR(_one(), factor=1.5)


@pytest.mark.parametrize("t_mult", [1, 2])
def test_cosine_warm_restarts(t_mult):
    opt = _optimizer()
    got = _lrs(opt, CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=t_mult, eta_min=0.001), 20)
    expected, t_cur, t_i = [], 0, 3
    for _ in range(21):  # restart when T_cur reaches T_i; the period grows by T_mult
        expected.append([0.001 + (b - 0.001) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
                         for b in BASE_LRS])
        t_cur += 1
        if t_cur == t_i:
            t_cur, t_i = 0, t_i * t_mult
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_cosine_warm_restarts_fractional_epochs_and_errors():
    opt = _one()
    sched = CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)
    opt.step()
    sched.step(4.5)  # 4.5 = 3 (first period) + 1.5 into the second, of length 6
    assert (sched.T_cur, sched.T_i, sched.last_epoch) == (1.5, 6, 4)
    assert sched.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * 1.5 / 6)) / 2)
    sched.step(2.25)
    assert sched.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * 2.25 / 3)) / 2)
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.step(-1)
    for kw, msg in [(dict(T_0=0), "positive integer T_0"),
                    (dict(T_0=3, T_mult=1.5), "integer T_mult"),
                    (dict(T_0=3, eta_min="x"), "eta_min")]:
        with pytest.raises(ValueError, match=msg):
            CosineAnnealingWarmRestarts(_one(), **kw)


def _triangle(e, up, down):
    """Position in the cycle as a fraction of the way from base to max."""
    pos = e % (up + down)
    return pos / up if pos <= up else 1 - (pos - up) / down


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr_and_momentum(mode):
    opt = _optimizer(momentum=0.9)
    sched = CyclicLR(opt, base_lr=[0.01, 0.001], max_lr=0.1, step_size_up=3, step_size_down=5,
                     mode=mode, gamma=0.9, base_momentum=0.8, max_momentum=0.95)
    out = [[g["lr"] for g in opt.param_groups]]
    moms = [opt.param_groups[0]["momentum"]]
    for _ in range(20):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
        moms.append(opt.param_groups[0]["momentum"])
    for e in range(21):
        cycle = 1 + e // 8
        scale = {"triangular": 1.0, "triangular2": 0.5 ** (cycle - 1),
                 "exp_range": 0.9**e}[mode]
        h = _triangle(e, 3, 5) * scale
        np.testing.assert_allclose(out[e], [0.01 + 0.09 * h, 0.001 + 0.099 * h], rtol=1e-12)
        assert moms[e] == pytest.approx(0.95 - 0.15 * h, rel=1e-12)
    assert opt.param_groups[0]["base_momentum"] == 0.8


def test_cyclic_lr_adam_beta1_custom_scale_and_state_dict():
    class Halve:
        def __init__(self):
            self.k = 0.5

        def __call__(self, x):
            return self.k**x

    opt = _one(cls=Adam)
    sched = CyclicLR(opt, 0.1, 1.0, step_size_up=2, scale_fn=Halve(), scale_mode="iterations",
                     base_momentum=0.85, max_momentum=0.95)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    opt.step()
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.1 + 0.9 * 0.5 * 0.5)
    assert opt.param_groups[0]["betas"][0] == pytest.approx(0.95 - 0.1 * 0.25)
    sd = sched.state_dict()
    assert sd["_scale_fn_custom"] == {"k": 0.5} and "optimizer" not in sd
    sched._scale_fn_custom.k = 0.1
    sched.load_state_dict(sd)
    assert sched._scale_fn_custom.k == 0.5
    with pytest.raises(ValueError, match="momentum or beta1"):
        CyclicLR(_one(cls=Adagrad), 0.1, 1.0)
    with pytest.raises(ValueError, match="mode is invalid"):
        CyclicLR(_one(), 0.1, 1.0, mode="square")
    with pytest.raises(ValueError, match="base_lr must have the same length"):
        CyclicLR(_one(), [0.1, 0.2], 1.0)


def test_sequential_lr_three_stages_and_errors():
    opt = _optimizer()
    sched = SequentialLR(opt, [ConstantLR(opt, factor=0.5, total_iters=10),
                               StepLR(opt, step_size=2, gamma=0.1),
                               PolynomialLR(opt, total_iters=4)], milestones=[3, 7])
    got = _lrs(opt, sched, 12)
    factor = [0.5] * 3 + [0.1 ** ((e - 3) // 2) for e in range(3, 7)] \
        + [1 - min(e - 7, 4) / 4 for e in range(7, 13)]
    np.testing.assert_allclose(got, [[b * f for b in BASE_LRS] for f in factor], rtol=1e-12,
                               atol=1e-15)
    other = _optimizer()
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        SequentialLR(opt, [StepLR(opt, 2), StepLR(opt, 2)], milestones=[])
    with pytest.raises(ValueError, match="same optimizer"):
        SequentialLR(opt, [StepLR(opt, 2), StepLR(other, 2)], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ChainedScheduler([ReduceLROnPlateau(opt)])
    with pytest.raises(TypeError, match="should have `optimizer`"):
        SequentialLR(opt, [StepLR(opt, 2), object()], milestones=[3])
    with pytest.raises(ValueError, match="at least one scheduler"):
        ChainedScheduler([])


@pytest.mark.parametrize("kind", ["sequential", "chained", "warm", "cyclic", "poly", "mult"])
def test_state_dict_round_trip(kind):
    def make(o):
        return {
            "sequential": lambda: SequentialLR(o, [ConstantLR(o, total_iters=3),
                                                   ExponentialLR(o, 0.8)], milestones=[4]),
            "chained": lambda: ChainedScheduler([StepLR(o, 3), ExponentialLR(o, 0.9)]),
            "warm": lambda: CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
            "cyclic": lambda: CyclicLR(o, 0.01, 0.1, step_size_up=3),
            "poly": lambda: PolynomialLR(o, total_iters=9, power=2.0),
            "mult": lambda: MultiplicativeLR(o, lambda e: 0.9),
        }[kind]()

    opt_a = _optimizer(momentum=0.9)
    sched_a = make(opt_a)
    for _ in range(6):
        opt_a.step()
        sched_a.step()
    opt_b = _optimizer(momentum=0.9)
    sched_b = make(opt_b)
    opt_b.load_state_dict(opt_a.state_dict())
    sched_b.load_state_dict(sched_a.state_dict())
    np.testing.assert_array_equal(_lrs(opt_a, sched_a, 10), _lrs(opt_b, sched_b, 10))
