"""Losses against float64 NumPy references written from PyTorch's documented formulas:
forward for every reduction and option, backward by finite differences, the fused cpu kernels
against the ops' decompositions, stability for huge logits, and the error messages."""

import math
import warnings

import numpy as np
import pytest
from _tolerance import tol

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.autograd import gradcheck as _gradcheck
from corefw.errors import CorefwIndexError, DTypeError, ShapeError
from corefw.ops.registry import get_op

REDUCTIONS = ["none", "mean", "sum"]


def gradcheck(fn, inputs):
    """Finite differences in float64, with tolerances tight enough to catch a 1e-4 error."""
    return _gradcheck(fn, inputs, atol=1e-7, rtol=1e-6)


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


# ---- NumPy references ---------------------------------------------------------------------
def np_log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _rows(x, t):
    """(M, C) rows and (M,) targets from (C,)/(N, C)/(N, C, d...) input, and the target shape."""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        return x[None], np.asarray(t).reshape(1), ()
    t = np.asarray(t)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]), t.reshape(-1), t.shape


def ref_nll(logp, t, weight=None, ignore_index=-100, reduction="mean"):
    rows, tt, shape = _rows(logp, t)
    w = np.ones(rows.shape[1]) if weight is None else np.asarray(weight, np.float64)
    loss, wsum = np.zeros(len(tt)), 0.0
    for i, y in enumerate(tt):
        if y == ignore_index:
            continue
        loss[i] = -w[y] * rows[i, y]
        wsum += w[y]
    if reduction == "none":
        return loss.reshape(shape)
    return loss.sum() if reduction == "sum" else loss.sum() / wsum


def ref_ce_indices(x, t, weight=None, ignore_index=-100, label_smoothing=0.0,
                   reduction="mean"):
    rows, tt, shape = _rows(x, t)
    c = rows.shape[1]
    lp = np_log_softmax(rows, 1)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    nll, smooth, wsum = np.zeros(len(tt)), np.zeros(len(tt)), 0.0
    for i, y in enumerate(tt):
        if y == ignore_index:
            continue
        nll[i] = -w[y] * lp[i, y]
        smooth[i] = -(w * lp[i]).sum()
        wsum += w[y]
    eps = label_smoothing
    if reduction == "none":
        return ((1 - eps) * nll + eps / c * smooth).reshape(shape)
    total = (1 - eps) * nll.sum() + eps / c * smooth.sum()
    return total if reduction == "sum" else total / wsum


def ref_ce_probs(x, p, weight=None, label_smoothing=0.0, reduction="mean"):
    x = np.asarray(x, np.float64)
    axis = 0 if x.ndim == 1 else 1
    c = x.shape[axis]
    q = np.asarray(p, np.float64) * (1 - label_smoothing) + label_smoothing / c
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    wshape = [1] * x.ndim
    wshape[axis] = c
    loss = -(np_log_softmax(x, axis) * q * w.reshape(wshape)).sum(axis=axis)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / (x.size / c)


def reduce_np(loss, reduction):
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def ref_bce(x, y, w=None):
    loss = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100))
    return loss if w is None else loss * w


def ref_bce_logits(x, y, w=None, pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    # -[pw * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))], with stable log-sigmoid
    log_sig = -np.logaddexp(0, -x)
    log_one_minus = -np.logaddexp(0, x)
    loss = -(pw * y * log_sig + (1 - y) * log_one_minus)
    return loss if w is None else loss * w


def ref_smooth_l1(d, beta):
    z = np.abs(d)
    return np.where(z < beta, 0.5 * z**2 / beta, z - 0.5 * beta)


def ref_huber(d, delta):
    z = np.abs(d)
    return np.where(z < delta, 0.5 * z**2, delta * (z - 0.5 * delta))


# ---- cross_entropy / nll_loss forward -----------------------------------------------------
SHAPES = [((5, 4), (5,)), ((4,), ()), ((3, 4, 2, 3), (3, 2, 3))]


@pytest.mark.parametrize("shape, tshape", SHAPES, ids=["NC", "C", "NCdd"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore"])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_cross_entropy_indices_matches_reference(rng, shape, tshape, reduction, weighted,
                                                 ignore, eps, device):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = rng.normal(size=shape) * 3
    t = rng.integers(0, c, size=tshape)
    ignore_index = 1 if ignore else -100  # a real class, so some samples are ignored
    if ignore and t.ndim:
        t.flat[0] = 1
    w = rng.uniform(0.5, 2.0, c) if weighted else None
    tw = None if w is None else t64(w, device=device)
    out = F.cross_entropy(t64(x, device=device), corefw.tensor(t, device=device), weight=tw,
                          ignore_index=ignore_index, reduction=reduction, label_smoothing=eps)
    expected = ref_ce_indices(x, t, w, ignore_index, eps, reduction)
    if ignore and not t.ndim and t == 1 and reduction == "mean":
        assert np.isnan(npy(out))  # every sample ignored: 0 / 0, as PyTorch
        return
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)


def test_cross_entropy_closed_forms(device):
    # -log softmax([1, 2, 3])[2] = log(1 + e^-1 + e^-2)
    out = F.cross_entropy(t64([[1.0, 2.0, 3.0]], device=device), corefw.tensor([2], device=device))
    assert out.item() == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)), rel=1e-14)
    # equal logits: log(C) whatever the target, the smoothing or the weights
    out = F.cross_entropy(t64(np.zeros((3, 5)), device=device),
                          corefw.tensor([0, 4, 2], device=device),
                          weight=t64([1, 2, 3, 4, 5], device=device), label_smoothing=0.3)
    assert out.item() == pytest.approx(math.log(5), rel=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 2, 2)], ids=["NC", "C", "NCdd"])
def test_cross_entropy_probabilities(rng, reduction, weighted, eps, shape, device):
    axis = 0 if len(shape) == 1 else 1
    x = rng.normal(size=shape) * 2
    p = rng.uniform(size=shape)
    p /= p.sum(axis=axis, keepdims=True)
    w = rng.uniform(0.5, 2, shape[axis]) if weighted else None
    tw = None if w is None else t64(w, device=device)
    out = F.cross_entropy(t64(x, device=device), t64(p, device=device), weight=tw,
                          reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(npy(out), ref_ce_probs(x, p, w, eps, reduction), rtol=1e-12)


def test_cross_entropy_probabilities_of_one_hot_equal_indices(rng, device):
    x = rng.normal(size=(6, 4))
    t = rng.integers(0, 4, 6)
    onehot = np.eye(4)[t]
    a = F.cross_entropy(t64(x, device=device), t64(onehot, device=device), label_smoothing=0.2)
    b = F.cross_entropy(t64(x, device=device), corefw.tensor(t, device=device), label_smoothing=0.2)
    assert a.item() == pytest.approx(b.item(), rel=1e-13)


@pytest.mark.parametrize("shape, tshape", SHAPES, ids=["NC", "C", "NCdd"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_reference(rng, shape, tshape, reduction, weighted, device):
    c = shape[0] if len(shape) == 1 else shape[1]
    logp = np_log_softmax(rng.normal(size=shape), 0 if len(shape) == 1 else 1)
    t = rng.integers(0, c, size=tshape)
    if t.ndim:
        t.flat[-1] = -100
    w = rng.uniform(0.5, 2.0, c) if weighted else None
    tw = None if w is None else t64(w, device=device)
    out = F.nll_loss(t64(logp, device=device), corefw.tensor(t, device=device), weight=tw,
                     reduction=reduction)
    np.testing.assert_allclose(npy(out), ref_nll(logp, t, w, -100, reduction), rtol=1e-12)


def test_cross_entropy_is_log_softmax_then_nll(rng, device):
    x = rng.normal(size=(7, 5))
    t = rng.integers(0, 5, 7)
    w = rng.uniform(0.5, 2, 5)
    tx, tt, tw = t64(x, device=device), corefw.tensor(t, device=device), t64(w, device=device)
    a = F.cross_entropy(tx, tt, weight=tw, ignore_index=3)
    b = F.nll_loss(F.log_softmax(tx, 1), tt, weight=tw, ignore_index=3)
    assert a.item() == pytest.approx(b.item(), rel=1e-13)


def test_int32_targets_and_float32_inputs(rng, device):
    x = rng.normal(size=(4, 3))
    t = np.array([0, 2, 1, 2])
    out = F.cross_entropy(corefw.tensor(x, dtype=corefw.float32, device=device),
                          corefw.tensor(t, dtype=corefw.int32, device=device))
    assert out.dtype == corefw.float32
    assert out.item() == pytest.approx(ref_ce_indices(x, t), rel=1e-5)


# ---- stability ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [corefw.float32, corefw.float64])
def test_cross_entropy_stable_for_huge_logits(dtype, device):
    x = np.array([[1e4, 0.0, -1e4], [5000.0, 5001.0, 4999.0], [-3e4, -3e4, -3e4 + 2]])
    t = np.array([1, 0, 2])
    xt = corefw.tensor(x, dtype=dtype, requires_grad=True, device=device)
    out = F.cross_entropy(xt, corefw.tensor(t, device=device), label_smoothing=0.1)
    expected = ref_ce_indices(x, t, label_smoothing=0.1)
    assert np.isfinite(out.item())
    assert out.item() == pytest.approx(expected, rel=tol(dtype, device, rtol=1e-6)["rtol"])
    out.backward()
    g = npy(xt.grad)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-6)  # softmax - target sums to 0


def test_bce_with_logits_stable_for_huge_logits(device):
    x = np.array([1e4, -1e4, 3e3, -3e3, 0.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    xt = t64(x, requires_grad=True, device=device)
    out = F.binary_cross_entropy_with_logits(xt, t64(y, device=device), reduction="none")
    np.testing.assert_allclose(npy(out), [1e4, 1e4, 0.0, 0.0, math.log(2)], rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(npy(xt.grad), [1.0, -1.0, 0.0, 0.0, -0.5], atol=1e-12)


def test_bce_clamps_logs_at_minus_100(device):
    x = t64([0.0, 1.0, 0.0, 1.0], requires_grad=True, device=device)
    y = t64([1.0, 0.0, 0.0, 1.0], device=device)
    out = F.binary_cross_entropy(x, y, reduction="none")
    np.testing.assert_allclose(npy(out), [100.0, 100.0, 0.0, 0.0])
    out.sum().backward()
    assert np.isfinite(npy(x.grad)).all()  # PyTorch's (x - y) / max(x (1 - x), 1e-12)


# ---- the other losses ---------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(rng, reduction, device):
    x, y = rng.normal(size=(4, 5)) * 2, rng.normal(size=(4, 5)) * 2
    d = x - y
    tx, ty = t64(x, device=device), t64(y, device=device)
    cases = {
        "mse": (F.mse_loss(tx, ty, reduction=reduction), d**2),
        "l1": (F.l1_loss(tx, ty, reduction=reduction), np.abs(d)),
        "smooth_l1": (F.smooth_l1_loss(tx, ty, reduction=reduction, beta=0.7),
                      ref_smooth_l1(d, 0.7)),
        "smooth_l1_beta0": (F.smooth_l1_loss(tx, ty, reduction=reduction, beta=0.0),
                            np.abs(d)),
        "huber": (F.huber_loss(tx, ty, reduction=reduction, delta=1.3),
                  ref_huber(d, 1.3)),
    }
    for name, (out, loss) in cases.items():
        np.testing.assert_allclose(npy(out), reduce_np(loss, reduction), rtol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(rng, reduction, weighted, device):
    x = rng.uniform(0.05, 0.95, (3, 4))
    y = rng.uniform(0, 1, (3, 4))
    w = rng.uniform(0.5, 2, (4,)) if weighted else None
    tw = None if w is None else t64(w, device=device)
    out = F.binary_cross_entropy(t64(x, device=device), t64(y, device=device), weight=tw,
                                 reduction=reduction)
    np.testing.assert_allclose(npy(out), reduce_np(ref_bce(x, y, w), reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos", [False, True])
def test_binary_cross_entropy_with_logits(rng, reduction, weighted, pos, device):
    x = rng.normal(size=(3, 4)) * 3
    y = rng.uniform(0, 1, (3, 4))
    w = rng.uniform(0.5, 2, (3, 1)) if weighted else None
    pw = rng.uniform(0.5, 3, (4,)) if pos else None
    out = F.binary_cross_entropy_with_logits(
        t64(x, device=device), t64(y, device=device),
        weight=None if w is None else t64(w, device=device), reduction=reduction,
        pos_weight=None if pw is None else t64(pw, device=device))
    expected = reduce_np(ref_bce_logits(x, y, w, pw), reduction)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12)


def test_bce_with_logits_equals_bce_of_sigmoid(rng, device):
    x = rng.normal(size=(5,))
    y = rng.uniform(size=(5,))
    a = F.binary_cross_entropy_with_logits(t64(x, device=device), t64(y, device=device))
    b = F.binary_cross_entropy(F.sigmoid(t64(x, device=device)), t64(y, device=device))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(rng, reduction, log_target, device):
    logq = np_log_softmax(rng.normal(size=(3, 4)), 1)
    p = rng.uniform(size=(3, 4))
    if not log_target:
        p[0, 1] = 0.0  # 0 * log 0 = 0 (with log_target a -inf target gives NaN, as PyTorch)
    p /= p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    pointwise = np.where(p > 0, p * (np.where(p > 0, logp, 0) - logq), 0.0)
    target = logp if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = F.kl_div(t64(logq, device=device), t64(target, device=device), reduction=reduction,
                       log_target=log_target)
    if reduction == "batchmean":
        expected = pointwise.sum() / 3
    else:
        expected = reduce_np(pointwise, reduction)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-15)


def test_kl_div_mean_warns_like_pytorch(rng, device):
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(t64(np.zeros((2, 2)), device=device), t64(np.full((2, 2), 0.5), device=device))


# ---- backward -----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_gradcheck(rng, reduction, eps, weighted, device):
    x = t64(rng.normal(size=(4, 3)), requires_grad=True, device=device)
    t = corefw.tensor([0, 2, 1, 2], device=device)
    w = t64(rng.uniform(0.5, 2, 3), device=device) if weighted else None
    assert gradcheck(lambda x: F.cross_entropy(x, t, weight=w, ignore_index=1,
                                               reduction=reduction, label_smoothing=eps), (x,))


def test_cross_entropy_gradcheck_spatial_and_probs(rng, device):
    x = t64(rng.normal(size=(2, 3, 2)), requires_grad=True, device=device)
    t = corefw.tensor(rng.integers(0, 3, (2, 2)), device=device)
    assert gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.1), (x,))
    p = rng.uniform(size=(2, 3, 2))
    p = t64(p / p.sum(axis=1, keepdims=True), requires_grad=True, device=device)
    w = t64([1.0, 2.0, 0.5], device=device)
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, weight=w, label_smoothing=0.2), (x, p))


def test_cross_entropy_second_derivative(rng, device):
    """Hessian-vector product through the fused VJP (create_graph) against central
    differences of the gradient."""
    t = corefw.tensor([0, 3, 1], device=device)
    w = t64([1.0, 2.0, 0.5, 1.5], device=device)
    x0, v = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))

    def grad_at(x_np, create_graph=False):
        x = t64(x_np, requires_grad=True, device=device)
        loss = F.cross_entropy(x, t, weight=w, label_smoothing=0.2)
        (g,) = corefw.autograd.grad(loss, x, create_graph=create_graph)
        return x, g

    x, g = grad_at(x0, create_graph=True)
    (hv,) = corefw.autograd.grad((g * t64(v, device=device)).sum(), x)
    h = 1e-5
    numeric = (npy(grad_at(x0 + h * v)[1]) - npy(grad_at(x0 - h * v)[1])) / (2 * h)
    np.testing.assert_allclose(npy(hv), numeric, rtol=1e-6, atol=1e-8)


def test_gradient_reaches_class_weights_that_require_grad(rng, device):
    x = t64(rng.normal(size=(4, 3)), requires_grad=True, device=device)
    w = t64([1.0, 2.0, 0.5], requires_grad=True, device=device)
    t = corefw.tensor([0, 2, 1, 2], device=device)
    assert gradcheck(lambda x, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1), (x, w))
    assert gradcheck(lambda x, w: F.nll_loss(x, t, weight=w), (x, w))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_gradcheck(rng, reduction, device):
    x = t64(rng.normal(size=(2, 3, 2)), requires_grad=True, device=device)
    t = corefw.tensor([[0, -100], [2, 1]], device=device)
    w = t64([0.5, 1.0, 2.0], device=device)
    assert gradcheck(lambda x: F.nll_loss(x, t, weight=w, reduction=reduction), (x,))


@pytest.mark.parametrize("name", ["mse", "l1", "smooth_l1", "huber", "bce", "bce_logits",
                                  "kl_div", "kl_div_log_target"])
def test_other_losses_gradcheck(rng, name, device):
    x0 = rng.uniform(0.1, 0.9, (3, 2)) if name == "bce" else rng.normal(size=(3, 2)) * 2
    y0 = rng.uniform(0.1, 0.9, (3, 2)) if name in ("bce", "bce_logits", "kl_div") else \
        rng.normal(size=(3, 2))
    x, y = t64(x0, requires_grad=True, device=device), t64(y0, requires_grad=True, device=device)
    pw, w = t64([2.0, 0.5], device=device), t64([[1.5], [0.5], [1.0]], device=device)
    fns = {
        "mse": lambda x, y: F.mse_loss(x, y),
        "l1": lambda x, y: F.l1_loss(x, y, reduction="sum"),
        "smooth_l1": lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
        "huber": lambda x, y: F.huber_loss(x, y, delta=0.8, reduction="none"),
        "bce": lambda x, y: F.binary_cross_entropy(x, y, weight=w),
        "bce_logits": lambda x, y: F.binary_cross_entropy_with_logits(
            x, y, weight=w, pos_weight=pw),
        "kl_div": lambda x, y: F.kl_div(x, y, reduction="batchmean"),
        "kl_div_log_target": lambda x, y: F.kl_div(x, y, reduction="sum", log_target=True),
    }
    assert gradcheck(fns[name], (x, y))


def test_bce_with_logits_gradient_at_zero_logits(device):
    # zero-initialised heads give logits of exactly 0: d/dx = sigmoid(0) - y = 0.5 - y
    x = t64(np.zeros(3), requires_grad=True, device=device)
    F.binary_cross_entropy_with_logits(x, t64([0.0, 1.0, 0.25], device=device),
                                       reduction="sum").backward()
    np.testing.assert_allclose(npy(x.grad), [0.5, -0.5, 0.25], atol=1e-15)


# ---- fused kernels against the decompositions ---------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [corefw.float32, corefw.float64])
def test_fast_kernels_match_decompositions(rng, reduction, eps, weighted, dtype, device):
    x = corefw.tensor(rng.normal(size=(6, 5)) * 4, dtype=dtype, device=device)
    t = corefw.tensor([0, 4, -100, 2, 2, 1], device=device)
    w = corefw.tensor(rng.uniform(0.5, 2, 5), dtype=dtype, device=device) if weighted else None
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == corefw.float32 else dict(rtol=1e-13)
    attrs = {"ignore_index": -100, "reduction": reduction}
    fast = F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=eps)
    ref = get_op("cross_entropy").decomposition(x, t, w, label_smoothing=eps, **attrs)
    assert fast.dtype == ref.dtype == dtype
    np.testing.assert_allclose(npy(fast), npy(ref), **tol)
    logp = F.log_softmax(x, 1)
    fast = F.nll_loss(logp, t, weight=w, reduction=reduction)
    ref = get_op("nll_loss").decomposition(logp, t, w, **attrs)
    assert fast.dtype == ref.dtype == dtype
    np.testing.assert_allclose(npy(fast), npy(ref), **tol)


def test_bce_kernel_matches_decomposition(rng, device):
    x = corefw.tensor(np.r_[rng.uniform(0, 1, 6), 0.0, 1.0], device=device)
    y = corefw.tensor(rng.uniform(0, 1, 8), device=device)
    fast = F.binary_cross_entropy(x, y, reduction="none")
    with np.errstate(divide="ignore"):
        ref = get_op("binary_cross_entropy").decomposition(x, y)
    np.testing.assert_allclose(npy(fast), npy(ref), **tol(fast.dtype, device, rtol=1e-6))


# ---- errors -------------------------------------------------------------------------------
def test_target_dtype_and_shape_errors_name_the_loss_and_shapes(device):
    x = corefw.randn(4, 3, device=device)
    with pytest.raises(DTypeError, match=r"nll_loss.*\(4, 3\).*\(4,\).*float32"):
        F.nll_loss(x, corefw.zeros(4, device=device))
    with pytest.raises(ShapeError, match=r"cross_entropy.*\(4, 3\).*\(4,\).*\(4, 2\)"):
        F.cross_entropy(x, corefw.zeros(4, 2, device=device))
    with pytest.raises(ShapeError, match=r"cross_entropy.*expected target of shape \(4,\)"):
        F.cross_entropy(x, corefw.tensor([0, 1, 2], device=device))
    with pytest.raises(DTypeError, match="cross_entropy.*bool"):
        F.cross_entropy(x, corefw.tensor([True, False, True, True], device=device))
    with pytest.raises(DTypeError, match="cross_entropy: expected a floating point input"):
        F.cross_entropy(corefw.tensor([[1, 2]], device=device), corefw.tensor([0], device=device))
    with pytest.raises(ShapeError, match="binary_cross_entropy.*target"):
        F.binary_cross_entropy(corefw.rand(3, device=device), corefw.rand(3, 1, device=device))
    with pytest.raises(ShapeError, match="binary_cross_entropy_with_logits.*target size"):
        F.binary_cross_entropy_with_logits(corefw.rand(3, device=device),
                                           corefw.rand(2, device=device))
    with pytest.raises(ShapeError, match=r"mse_loss.*\(3,\).*\(2,\)"):
        F.mse_loss(corefw.rand(3, device=device), corefw.rand(2, device=device))


def test_value_errors(device):
    x = corefw.randn(4, 3, device=device)
    with pytest.raises(CorefwIndexError, match="cross_entropy: target 3 is out of bounds"):
        F.cross_entropy(x, corefw.tensor([0, 1, 3, 2], device=device))
    with pytest.raises(CorefwIndexError, match="nll_loss: target -1 is out of bounds"):
        F.nll_loss(x, corefw.tensor([0, 1, -1, 2], device=device))
    F.nll_loss(x, corefw.tensor([0, 1, -1, 2], device=device), ignore_index=-1)  # fine when ignored
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, corefw.tensor([0, 1, 1, 2], device=device), reduction="avg")
    with pytest.raises(ShapeError, match="weight must be a 1-D tensor with one entry per class"):
        F.cross_entropy(x, corefw.tensor([0, 1, 1, 2], device=device),
                        weight=corefw.ones(4, device=device))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(corefw.tensor([0.5, 1.5], device=device),
                               corefw.tensor([0.0, 1.0], device=device))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, corefw.tensor([0, 1, 1, 2], device=device), label_smoothing=1.5)


def test_mismatched_shapes_broadcast_with_a_warning(device):
    with pytest.warns(UserWarning, match="mse_loss.*broadcast"):
        out = F.mse_loss(t64([[1.0], [2.0]], device=device), t64([0.0, 1.0], device=device))
    assert out.item() == pytest.approx(np.mean((np.array([[1.0], [2.0]]) - [0.0, 1.0])**2))


def test_legacy_size_average_and_reduce(device):
    x, y = t64([1.0, 2.0], device=device), t64([0.0, 0.0], device=device)
    with pytest.warns(DeprecationWarning):
        assert F.mse_loss(x, y, size_average=False).item() == pytest.approx(5.0)
    with pytest.warns(DeprecationWarning):
        assert F.mse_loss(x, y, reduce=False).shape == (2,)


# ---- modules ------------------------------------------------------------------------------
def test_loss_modules_match_functions(rng, device):
    x = t64(rng.normal(size=(4, 3)), device=device)
    t = corefw.tensor([0, 2, 1, 1], device=device)
    w = t64([1.0, 2.0, 0.5], device=device)
    y = t64(rng.uniform(size=(4, 3)), device=device)
    p = t64(rng.uniform(0.1, 0.9, (4, 3)), device=device)
    pairs = [
        (nn.CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.1)(x, t),
         F.cross_entropy(x, t, weight=w, ignore_index=2, label_smoothing=0.1)),
        (nn.NLLLoss(reduction="sum")(x, t), F.nll_loss(x, t, reduction="sum")),
        (nn.MSELoss(reduction="none")(x, y), F.mse_loss(x, y, reduction="none")),
        (nn.L1Loss()(x, y), F.l1_loss(x, y)),
        (nn.SmoothL1Loss(beta=0.5)(x, y), F.smooth_l1_loss(x, y, beta=0.5)),
        (nn.HuberLoss(delta=0.3)(x, y), F.huber_loss(x, y, delta=0.3)),
        (nn.BCELoss(weight=w)(p, y), F.binary_cross_entropy(p, y, weight=w)),
        (nn.BCEWithLogitsLoss(pos_weight=w)(x, y),
         F.binary_cross_entropy_with_logits(x, y, pos_weight=w)),
        (nn.KLDivLoss(reduction="batchmean", log_target=True)(x, y),
         F.kl_div(x, y, reduction="batchmean", log_target=True)),
    ]
    for a, b in pairs:
        np.testing.assert_array_equal(npy(a), npy(b))


def test_loss_module_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=corefw.tensor([1.0, 2.0]))
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=corefw.ones(3)).state_dict()) == ["pos_weight"]
    assert loss.double().weight.dtype == corefw.float64
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"


def test_cpu_runs_the_fused_ops_natively():
    """corefw-cpu registers fast kernels for every fused op of the layer library (the tests
    above compare them with the decompositions)."""
    table = corefw.zeros(1).device.table
    for op in ("cross_entropy", "nll_loss", "binary_cross_entropy", "embedding", "dropout",
               "scaled_dot_product_attention"):
        assert not getattr(table[op], "decomposed", False), op
        assert not getattr(table[op], "fallback", False), op
