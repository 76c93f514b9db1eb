"""The fused optimizer updates ``sgd_step_`` and ``adam_step_`` over several steps: against the
float64 references of corefw.testing (PyTorch's single-tensor loops), the cpu kernel
against the decomposition bit for bit (small tensors, and large ones that it updates in
parallel blocks), the decomposition runner a backend without the kernel uses, version counters
and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
from corefw.dispatch import _decomposition_runner
from corefw.errors import AutogradError, DTypeError, ShapeError
from corefw.ops.inplace import adam_step_, sgd_step_
from corefw.ops.registry import get_op
from corefw.testing import reference as R

SMALL, LARGE = (3, 5), (300, 600)  # LARGE: updated in parallel blocks (see _parallel below)


@pytest.fixture(autouse=True)
def _parallel(monkeypatch):
    """The cpu kernels split tensors of 2**20 elements or more between two threads; lower the
    thresholds so that LARGE takes that path too (and force two workers on one-CPU machines)."""
    train = pytest.importorskip("corefw_cpu._train")
    conv = pytest.importorskip("corefw_cpu._conv")
    monkeypatch.setattr(train, "_ELEMENTWISE_PARALLEL_MIN", 1 << 15)
    monkeypatch.setattr(conv, "_PARALLEL_MIN", 1 << 15)
    monkeypatch.setattr(conv, "_workers", lambda: 2)


def sgd_ref(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    return R.sgd_step(p, g, buf, lr=lr, momentum=momentum, dampening=dampening,
                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                      is_first_step=first)


def adam_ref(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, step):
    return R.adam_step(p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                       weight_decay=weight_decay, decoupled=decoupled, maximize=maximize,
                       step=step)


SGD_CONFIGS = [dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n, maximize=mx)
               for m, d, wd, n, mx in itertools.product((0.0, 0.9), (0.0, 0.25), (0.0, 0.1),
                                                        (False, True), (False, True))
               if not (n and (m == 0 or d != 0))]
ADAM_CONFIGS = [dict(weight_decay=wd, decoupled=dc, maximize=mx)
                for wd, dc, mx in itertools.product((0.0, 0.1), (False, True), (False, True))]


def _ids(cfgs):
    return ["-".join(f"{k}={v}" for k, v in c.items()) for c in cfgs]


def _t(a, dtype):
    return corefw.tensor(a, dtype=dtype)


@pytest.mark.parametrize("shape", [SMALL, LARGE, ()], ids=["small", "large", "0d"])
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=_ids(SGD_CONFIGS))
def test_sgd_step_matches_reference_kernel_and_decomposition(cfg, shape, rng):
    p0, buf0 = rng.standard_normal(shape), np.zeros(shape)
    grads = [rng.standard_normal(shape) for _ in range(3)]
    for dtype, rtol in ((corefw.float64, 1e-12), (corefw.float32, 2e-6)):
        p, buf = _t(p0, dtype), _t(buf0, dtype)
        p_dec, buf_dec = _t(p0, dtype), _t(buf0, dtype)
        exp_p, exp_buf = p0, buf0
        for k, g in enumerate(grads):
            opts = dict(lr=0.1, is_first_step=k == 0, **cfg)
            tg = _t(g, dtype)
            version = p._version
            with corefw.no_grad():
                assert sgd_step_(p, tg, buf, **opts) is p
                get_op("sgd_step_").decomposition(p_dec, tg, buf_dec, **opts)
            assert p._version == version + 1
            exp_p, exp_buf = sgd_ref(exp_p, g, exp_buf, 0.1, cfg["momentum"], cfg["dampening"],
                                     cfg["weight_decay"], cfg["nesterov"], cfg["maximize"],
                                     k == 0)
            np.testing.assert_allclose(p.numpy(), exp_p, rtol=rtol, atol=rtol)
            np.testing.assert_allclose(p.numpy(), p_dec.numpy(), rtol=rtol, atol=rtol)
            if cfg["momentum"]:
                np.testing.assert_allclose(buf.numpy(), exp_buf, rtol=rtol, atol=rtol)
                np.testing.assert_allclose(buf.numpy(), buf_dec.numpy(), rtol=rtol, atol=rtol)
        np.testing.assert_array_equal(p.numpy(), p_dec.numpy())  # the same order of ops


@pytest.mark.parametrize("shape", [SMALL, LARGE, ()], ids=["small", "large", "0d"])
@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=_ids(ADAM_CONFIGS))
def test_adam_step_matches_reference_kernel_and_decomposition(cfg, shape, rng):
    p0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) * s for s in (0.3, 2.0, 1.0)]
    hp = dict(lr=0.05, beta1=0.8, beta2=0.95, eps=1e-3, **cfg)
    for dtype, rtol in ((corefw.float64, 1e-12), (corefw.float32, 2e-6)):
        state = [_t(p0, dtype), _t(np.zeros(shape), dtype), _t(np.zeros(shape), dtype)]
        dec = [_t(p0, dtype), _t(np.zeros(shape), dtype), _t(np.zeros(shape), dtype)]
        exp = (p0, np.zeros(shape), np.zeros(shape))
        for step, g in enumerate(grads, start=1):
            tg = _t(g, dtype)
            with corefw.no_grad():
                assert adam_step_(state[0], tg, state[1], state[2], step=step, **hp) is state[0]
                get_op("adam_step_").decomposition(dec[0], tg, dec[1], dec[2], step=step, **hp)
            exp = adam_ref(*exp[:1], g, *exp[1:], step=step, **hp)
            for got, want, other in zip(state, exp, dec):
                np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol)
                np.testing.assert_array_equal(got.numpy(), other.numpy())  # NumPy, same order
        assert [t._version for t in state] == [3, 3, 3]


def test_adam_step_matches_the_cuda_plugins_reference(rng):
    """The same update as the reference the cuda plugin tests its kernel against."""
    pytest.importorskip("corefw_cuda")
    from corefw_cuda.kernels import adam_step_reference

    p, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    arrays = [p.copy(), np.zeros((4, 3)), np.zeros((4, 3))]
    opts = dict(lr=0.1, beta1=0.9, beta2=0.99, eps=1e-6, weight_decay=0.01, decoupled=True,
                maximize=False, step=1)
    adam_step_reference(np, arrays[0], g, arrays[1], arrays[2], **opts)
    t = [corefw.tensor(p), corefw.zeros(4, 3, dtype=corefw.float64),
         corefw.zeros(4, 3, dtype=corefw.float64)]
    with corefw.no_grad():
        adam_step_(t[0], corefw.tensor(g), t[1], t[2], **opts)
    for got, want in zip(t, arrays):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-13)


def test_noncontiguous_tensors_take_the_numpy_path(rng):
    p0, g0 = rng.standard_normal((400, 300)), rng.standard_normal((300, 400))
    p = corefw.tensor(p0.T.copy(), dtype=corefw.float32).T  # a transposed view
    g = corefw.tensor(g0, dtype=corefw.float32).T
    buf = corefw.zeros(400, 300)
    with corefw.no_grad():
        sgd_step_(p, g, buf, lr=0.5, momentum=0.5, is_first_step=True)
    np.testing.assert_allclose(p.numpy(), p0 - 0.5 * g0.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(buf.numpy(), g0.T, rtol=1e-7)


def test_the_decomposition_runner_updates_the_arrays_in_place(rng):
    """A backend without the kernels runs the decompositions through the dispatcher's runner,
    which wraps the native arrays: the update must land in them."""
    dev = corefw.zeros(1).device
    p, g, buf = rng.standard_normal(5), rng.standard_normal(5), np.zeros(5)
    expected, _ = sgd_ref(p, g, buf, 0.1, 0.9, 0.0, 0.0, True, False, True)
    run = _decomposition_runner(get_op("sgd_step_"), dev)
    run(p, g, buf, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True,
        maximize=False, is_first_step=True)
    np.testing.assert_allclose(p, expected, rtol=1e-14)
    np.testing.assert_allclose(buf, g, rtol=1e-14)
    m, v = np.zeros(5), np.zeros(5)
    run = _decomposition_runner(get_op("adam_step_"), dev)
    q = rng.standard_normal(5)
    want = adam_ref(q, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, 1)
    run(q, g, m, v, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
        decoupled=False, maximize=False, step=1)
    for got, exp in zip((q, m, v), want):
        np.testing.assert_allclose(got, exp, rtol=1e-12)


def test_errors():
    p = corefw.zeros(3, requires_grad=True)
    g = corefw.ones(3)
    with pytest.raises(AutogradError, match="no_grad"):
        sgd_step_(p, g, lr=0.1)
    with corefw.no_grad():
        with pytest.raises(DTypeError, match="float64"):
            sgd_step_(p, g.double(), lr=0.1)
        with pytest.raises(ShapeError, match=r"\(2,\)"):
            adam_step_(p, g, corefw.zeros(2), corefw.zeros(3), lr=0.1, beta1=0.9, beta2=0.9,
                       eps=1e-8, step=1)
        with pytest.raises(ValueError, match="momentum_buffer"):
            sgd_step_(p, g, lr=0.1, momentum=0.9)
        sgd_step_(p, g, lr=0.1)
    np.testing.assert_allclose(p.detach().numpy(), -0.1 * np.ones(3), rtol=1e-7)


def test_an_update_between_forward_and_backward_is_detected():
    """The version bump makes backward refuse a weight changed after it was saved (matmul
    saves w because the other operand needs its gradient, as in PyTorch)."""
    w = corefw.ones(2, 2, requires_grad=True)
    loss = (corefw.ones(1, 2, requires_grad=True) @ w).sum()
    with corefw.no_grad():
        sgd_step_(w, corefw.ones(2, 2), lr=0.1)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        loss.backward()
