"""corefw-cpu's compiler rewrites (corefw_cpu._compile): the fused cross-entropy forward and
backward against a float64 NumPy reference and finite differences, the patterns found in a
captured training step, and training under ``cpu_fuse`` bit-identical to eager."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw import nn

pytest.importorskip("corefw_cpu")
from corefw_cpu import _compile  # noqa: E402


def _ce_ref(x, t, ignore_index, reduction):
    """PyTorch's cross entropy (no weights, no smoothing) and d loss / d x, in float64."""
    x = x.astype(np.float64)
    m, c = x.shape
    z = x - x.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    per = -logp[np.arange(m), safe] * keep
    n = keep.sum() if reduction == "mean" else 1.0
    grad = (np.exp(logp) - np.eye(c)[safe]) * keep[:, None] / n
    return per.sum() / n, grad


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_fwd_bwd_matches_float64_reference(reduction, ignore, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((9, 5)) * 3).astype(dtype)
    t = rng.integers(0, 5, 9)
    ii = int(t[0]) if ignore else -100
    g = np.asarray(1.5, dtype)
    loss, grad = _compile.cross_entropy_fwd_bwd(x, t, g, ii, reduction)
    want_loss, want_grad = _ce_ref(x, t, ii, reduction)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss.dtype == dtype and loss.shape == () and grad.dtype == dtype
    assert np.allclose(loss, want_loss, rtol=tol, atol=tol)
    assert np.allclose(grad, 1.5 * want_grad, rtol=tol, atol=tol)
    if dtype == np.float64:  # the gradient is the loss's derivative (central differences)
        fd = np.zeros_like(x)
        for idx in np.ndindex(*x.shape):
            d = np.zeros_like(x)
            d[idx] = 1e-6
            up = _compile.cross_entropy_fwd_bwd(x + d, t, g, ii, reduction)[0]
            down = _compile.cross_entropy_fwd_bwd(x - d, t, g, ii, reduction)[0]
            fd[idx] = 1.5 * (up - down) / 2e-6
        assert np.allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_cross_entropy_fwd_bwd_every_sample_ignored_is_nan():
    x = np.zeros((3, 4), np.float32)
    t = np.full(3, 2)
    loss, grad = _compile.cross_entropy_fwd_bwd(x, t, np.asarray(1.0, np.float32), 2, "mean")
    assert np.isnan(loss) and np.isnan(grad).all()  # 0 / 0, as the unfused graph and PyTorch


def _mlp(momentum):
    corefw.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5))
    return model, corefw.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)


def _train(backend, steps, momentum=0.9, ignore_index=-100, reduction="mean"):
    model, opt = _mlp(momentum)
    rng = np.random.default_rng(0)
    x = corefw.from_numpy(rng.standard_normal((8, 12), dtype=np.float32))
    y = corefw.from_numpy(rng.integers(0, 5, 8))

    def step(x, y):
        loss = F.cross_entropy(model(x), y, ignore_index=ignore_index, reduction=reduction)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    fn = step if backend is None else corefw.compile(step, backend=backend)
    losses = [fn(x, y).detach().numpy().copy() for _ in range(steps)]
    return losses, [p.detach().numpy().copy() for p in model.parameters()], fn


@pytest.mark.parametrize("reduction,ignore_index", [("mean", -100), ("sum", 3), ("mean", 1)])
def test_cpu_fuse_training_step_is_bit_identical_to_eager(reduction, ignore_index):
    want_losses, want_params, _ = _train(None, 6, ignore_index=ignore_index,
                                         reduction=reduction)
    losses, params, compiled = _train("cpu_fuse", 6, ignore_index=ignore_index,
                                      reduction=reduction)
    for a, b in zip(losses + params, want_losses + want_params):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    (plan,) = compiled.cache.values()
    ops = [n.op for n in _compile.optimize(plan.graphs[0]).nodes]
    assert ops.count("cross_entropy_fwd_bwd") == 1 and ops.count("sgd_foreach_") == 1
    assert not {"cross_entropy", "softmax", "sgd_step_", "eq", "arange"} & set(ops)


def test_patterns_left_alone_when_they_do_not_match():
    def step(x, y, w):  # class weights: not the fused pattern; a single parameter: no group
        loss = F.cross_entropy(x, y, weight=w)
        loss.backward()
        return loss

    x = corefw.randn(4, 3, requires_grad=True)
    y, w = corefw.tensor([0, 1, 2, 1]), corefw.rand(3) + 0.5
    compiled = corefw.compile(step, backend="cpu_fuse")
    step(x, y, w)
    want = x.grad.numpy().copy()
    x.grad = None
    compiled(x, y, w)
    x.grad = None
    compiled(x, y, w)
    assert np.array_equal(x.grad.numpy(), want)
    (plan,) = compiled.cache.values()
    assert _compile.optimize(plan.graphs[0]) is plan.graphs[0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape,cond_shape", [((40, 50), (40, 50)), ((40, 50), (40, 1)),
                                              ((1, 50), (40, 50)), ((3, 4), (3, 4))])
def test_where_with_zero_is_np_where_bit_for_bit(dtype, shape, cond_shape):
    from corefw_cpu import _train

    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:4] = [np.nan, -0.0, np.inf, -np.inf]
    cond = rng.standard_normal(cond_shape) > 0
    for a, b in ((x, 0.0), (0.0, x), (x, 0), (x.T, 0.0)):
        c = cond.T if a is not x and b is not x else cond
        want = np.where(c, a, b)
        got = _train._where(c, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()  # C order, every bit (NaN, -0.0, inf)
