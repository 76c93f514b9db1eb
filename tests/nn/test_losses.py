"""Losses: closed forms, stability for huge logits, the -100 clamp, warnings, modules and the
error messages. Every function's values, gradients (and cross entropy's second derivative) over
reductions, weights, ignored targets, label smoothing and input layouts are rows of the op table
(corefw.testing.cases_losses, run by tests/ops/test_op_table.py)."""

import math

import numpy as np
import pytest
from _tolerance import tol

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.autograd import gradcheck as _gradcheck
from corefw.errors import CorefwIndexError, DTypeError, ShapeError
from corefw.ops.registry import get_op
from corefw.testing import reference_nn as RN

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


# ---- cross_entropy / nll_loss forward -----------------------------------------------------


def test_cross_entropy_closed_forms(device):
    # -log softmax([1, 2, 3])[2] = log(1 + e^-1 + e^-2)
    out = F.cross_entropy(t64([[1.0, 2.0, 3.0]], device=device), corefw.tensor([2], device=device))
    assert out.item() == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)), rel=1e-14)
    # equal logits: log(C) whatever the target, the smoothing or the weights
    out = F.cross_entropy(t64(np.zeros((3, 5)), device=device),
                          corefw.tensor([0, 4, 2], device=device),
                          weight=t64([1, 2, 3, 4, 5], device=device), label_smoothing=0.3)
    assert out.item() == pytest.approx(math.log(5), rel=1e-14)


def test_cross_entropy_probabilities_of_one_hot_equal_indices(rng, device):
    x = rng.normal(size=(6, 4))
    t = rng.integers(0, 4, 6)
    onehot = np.eye(4)[t]
    a = F.cross_entropy(t64(x, device=device), t64(onehot, device=device), label_smoothing=0.2)
    b = F.cross_entropy(t64(x, device=device), corefw.tensor(t, device=device), label_smoothing=0.2)
    assert a.item() == pytest.approx(b.item(), rel=1e-13)


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
    expected = RN.cross_entropy_any(x, t, None, -100, 0.0, "mean")
    assert out.item() == pytest.approx(expected, rel=1e-5)


# ---- stability ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [corefw.float32, corefw.float64])
def test_cross_entropy_stable_for_huge_logits(dtype, device):
    x = np.array([[1e4, 0.0, -1e4], [5000.0, 5001.0, 4999.0], [-3e4, -3e4, -3e4 + 2]])
    t = np.array([1, 0, 2])
    xt = corefw.tensor(x, dtype=dtype, requires_grad=True, device=device)
    out = F.cross_entropy(xt, corefw.tensor(t, device=device), label_smoothing=0.1)
    expected = RN.cross_entropy_any(x, t, None, -100, 0.1, "mean")
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
def test_bce_with_logits_equals_bce_of_sigmoid(rng, device):
    x = rng.normal(size=(5,))
    y = rng.uniform(size=(5,))
    a = F.binary_cross_entropy_with_logits(t64(x, device=device), t64(y, device=device))
    b = F.binary_cross_entropy(F.sigmoid(t64(x, device=device)), t64(y, device=device))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_kl_div_mean_warns_like_pytorch(rng, device):
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(t64(np.zeros((2, 2)), device=device), t64(np.full((2, 2), 0.5), device=device))


# ---- backward -----------------------------------------------------------------------------
def test_gradient_reaches_class_weights_that_require_grad(rng, device):
    x = t64(rng.normal(size=(4, 3)), requires_grad=True, device=device)
    w = t64([1.0, 2.0, 0.5], requires_grad=True, device=device)
    t = corefw.tensor([0, 2, 1, 2], device=device)
    assert gradcheck(lambda x, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1), (x, w))
    assert gradcheck(lambda x, w: F.nll_loss(x, t, weight=w), (x, w))


def test_bce_with_logits_gradient_at_zero_logits(device):
    # zero-initialised heads give logits of exactly 0: d/dx = sigmoid(0) - y = 0.5 - y
    x = t64(np.zeros(3), requires_grad=True, device=device)
    F.binary_cross_entropy_with_logits(x, t64([0.0, 1.0, 0.25], device=device),
                                       reduction="sum").backward()
    np.testing.assert_allclose(npy(x.grad), [0.5, -0.5, 0.25], atol=1e-15)


# ---- fused kernels against the decompositions ---------------------------------------------
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
