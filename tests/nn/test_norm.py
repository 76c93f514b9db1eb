"""Normalisation against float64 NumPy references written from the formulas, backward by finite
differences (first and second order), the cpu kernels against the ops' decompositions, batch
norm's running statistics over several steps, eval mode, the layers' state and the errors."""

import numpy as np
import pytest
from nn_helpers import gradgrad, npy, t64

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw._call import apply
from corefw.autograd import gradcheck
from corefw.errors import DTypeError, ShapeError
from corefw.ops.nn_norm import BATCH_NORM, GROUP_NORM, LAYER_NORM


# ---- references ---------------------------------------------------------------------------
def ref_normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def ref_batch_norm(x, w, b, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    return ref_normalize(x, axes, eps) * w.reshape(shape) + b.reshape(shape)


def ref_group_norm(x, groups, w, b, eps):
    n, c = x.shape[:2]
    y = np.empty_like(x)
    cg = c // groups
    for i in range(n):
        for g in range(groups):
            part = x[i, g * cg:(g + 1) * cg]
            y[i, g * cg:(g + 1) * cg] = (part - part.mean()) / np.sqrt(part.var() + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return y * w.reshape(shape) + b.reshape(shape)


# ---- forward, kernels vs decompositions ---------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_training_forward(rng, shape, device):
    x = rng.standard_normal(shape) * 3 + 1
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    expected = ref_batch_norm(x, w, b, 1e-5)
    tx, tw, tb = (t64(a, device=device) for a in (x, w, b))
    out = F.batch_norm(tx, None, None, tw, tb, training=True)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-10, atol=1e-10)
    dec = BATCH_NORM.decomposition(tx, tw, tb, eps=1e-5)
    np.testing.assert_allclose(npy(dec), expected, rtol=1e-10, atol=1e-10)
    plain = F.batch_norm(tx, None, None, training=True, eps=0.1)
    np.testing.assert_allclose(npy(plain), ref_normalize(x, (0,) + tuple(range(2, len(shape))),
                                                         0.1), rtol=1e-10, atol=1e-10)


def test_batch_norm_eval_forward(rng, device):
    x = rng.standard_normal((3, 4, 2, 2))
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    out = F.batch_norm(*(t64(a, device=device) for a in (x, rm, rv, w, b)), training=False,
                       eps=1e-3)
    s = (1, 4, 1, 1)
    expected = (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-3) * w.reshape(s) + b.reshape(s)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,normalized", [((3, 5), (5,)), ((2, 3, 4), (3, 4)),
                                               ((2, 2, 3, 4), (4,))])
def test_layer_norm_forward(rng, shape, normalized, device):
    x = rng.standard_normal(shape) * 2 - 1
    w, b = rng.standard_normal(normalized), rng.standard_normal(normalized)
    axes = tuple(range(len(shape) - len(normalized), len(shape)))
    expected = ref_normalize(x, axes, 1e-5) * w + b
    tx, tw, tb = (t64(a, device=device) for a in (x, w, b))
    out = F.layer_norm(tx, normalized, tw, tb)
    np.testing.assert_allclose(npy(out), expected, rtol=1e-10, atol=1e-10)
    attrs = {"ndim": len(normalized), "eps": 1e-5}
    dec = LAYER_NORM.decomposition(tx, tw, tb, **attrs)
    np.testing.assert_allclose(npy(dec), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(npy(F.layer_norm(tx, normalized)),
                               ref_normalize(x, axes, 1e-5), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 3), 3), ((3, 4, 5), 1), ((2, 4), 4)])
def test_group_norm_forward(rng, shape, groups, device):
    x = rng.standard_normal(shape) + 2
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    expected = ref_group_norm(x, groups, w, b, 1e-5)
    tx, tw, tb = (t64(a, device=device) for a in (x, w, b))
    np.testing.assert_allclose(npy(F.group_norm(tx, groups, tw, tb)), expected,
                               rtol=1e-10, atol=1e-10)
    dec = GROUP_NORM.decomposition(tx, tw, tb, num_groups=groups, eps=1e-5)
    np.testing.assert_allclose(npy(dec), expected, rtol=1e-10, atol=1e-10)


def test_norm_kernels_match_decompositions_in_float32(rng, device):
    x = corefw.tensor(rng.standard_normal((4, 6, 3, 3)), dtype=corefw.float32, device=device)
    w = corefw.tensor(rng.standard_normal(6), dtype=corefw.float32, device=device)
    for op, attrs, wb in ((BATCH_NORM, {"eps": 1e-5}, (w, w)),
                          (GROUP_NORM, {"num_groups": 2, "eps": 1e-5}, (w, None)),
                          (LAYER_NORM, {"ndim": 2, "eps": 1e-5}, (None, None))):
        fast = apply(op, (x,) + wb, attrs)
        assert fast.dtype == corefw.float32
        np.testing.assert_allclose(npy(fast), npy(op.decomposition(x, *wb, **attrs)), rtol=1e-5,
                                   atol=1e-5)


# ---- backward -----------------------------------------------------------------------------
def test_batch_norm_gradcheck_and_double_backward(rng, device):
    x = t64(rng.standard_normal((3, 2, 2, 2)), requires_grad=True, device=device)
    w = t64(rng.standard_normal(2), requires_grad=True, device=device)
    b = t64(rng.standard_normal(2), requires_grad=True, device=device)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, True), (x, w, b))
    assert gradgrad(lambda x, w: F.batch_norm(x, None, None, w, None, True), (x, w))
    rm = t64(rng.standard_normal(2), device=device)
    rv = t64(rng.uniform(0.5, 2, 2), device=device)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, False), (x, w, b))


def test_layer_and_group_norm_gradcheck(rng, device):
    x = t64(rng.standard_normal((2, 4, 3)), requires_grad=True, device=device)
    w = t64(rng.standard_normal((4, 3)), requires_grad=True, device=device)
    b = t64(rng.standard_normal((4, 3)), requires_grad=True, device=device)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (4, 3), w, b), (x, w, b))
    assert gradgrad(lambda x, w: F.layer_norm(x, (3,), w[0], None), (x, w))
    gw = t64(rng.standard_normal(4), requires_grad=True, device=device)
    gb = t64(rng.standard_normal(4), requires_grad=True, device=device)
    assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, gw, gb))
    assert gradgrad(lambda x, w, b: F.group_norm(x, 2, w, b), (x, gw, gb))
    assert gradcheck(lambda x: F.group_norm(x, 4), (x,))


# ---- layers -------------------------------------------------------------------------------
def test_batch_norm_layer_state():
    bn = nn.BatchNorm2d(5)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(npy(bn.weight), np.ones(5))
    np.testing.assert_array_equal(npy(bn.bias), np.zeros(5))
    np.testing.assert_array_equal(npy(bn.running_mean), np.zeros(5))
    np.testing.assert_array_equal(npy(bn.running_var), np.ones(5))
    assert bn.num_batches_tracked.dtype == corefw.int64 and bn.num_batches_tracked.shape == ()
    assert repr(bn) == ("BatchNorm2d(5, eps=1e-05, momentum=0.1, affine=True, "
                        "track_running_stats=True)")
    plain = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and list(plain.parameters()) == []


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batch_norm_running_statistics_over_steps(rng, momentum, device):
    bn = nn.BatchNorm2d(3, momentum=momentum, dtype=corefw.float64, device=device)
    rm, rv = np.zeros(3), np.ones(3)
    batches = [rng.standard_normal((4, 3, 2, 3)) * (i + 1) + i for i in range(4)]
    for step, x in enumerate(batches, 1):
        out = bn(t64(x, device=device))
        np.testing.assert_allclose(npy(out), ref_normalize(x, (0, 2, 3), 1e-5), rtol=1e-9,
                                   atol=1e-9)  # training: batch statistics
        f = 1 / step if momentum is None else momentum
        rm = (1 - f) * rm + f * x.mean(axis=(0, 2, 3))
        rv = (1 - f) * rv + f * x.var(axis=(0, 2, 3), ddof=1)  # unbiased, as PyTorch
        np.testing.assert_allclose(npy(bn.running_mean), rm, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(npy(bn.running_var), rv, rtol=1e-12, atol=1e-12)
        assert int(bn.num_batches_tracked.item()) == step
    assert not bn.running_mean.requires_grad and bn.running_mean.grad_fn is None
    bn.eval()
    x = rng.standard_normal((2, 3, 2, 2))
    out = bn(t64(x, device=device))
    s = (1, 3, 1, 1)
    np.testing.assert_allclose(npy(out), (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-5),
                               rtol=1e-12, atol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 4  # eval does not count


def test_batch_norm_without_running_stats_and_backward_through_layer(rng, device):
    bn = nn.BatchNorm1d(4, track_running_stats=False, dtype=corefw.float64, device=device)
    x = rng.standard_normal((6, 4))
    bn.eval()  # no running stats: batch statistics even in eval mode, as PyTorch
    np.testing.assert_allclose(npy(bn(t64(x, device=device))), ref_normalize(x, (0,), 1e-5),
                               rtol=1e-10)
    bn = nn.BatchNorm1d(4, dtype=corefw.float64, device=device)
    xt = t64(x, requires_grad=True, device=device)
    bn(xt).pow(2).sum().backward()
    assert xt.grad.shape == (6, 4) and bn.weight.grad.shape == (4,)
    np.testing.assert_allclose(npy(bn.weight.grad), 2 * np.sum(ref_normalize(x, (0,), 1e-5) ** 2,
                                                               axis=0), rtol=1e-9)


def test_layer_and_group_norm_layers(rng, device):
    ln = nn.LayerNorm([3, 4])
    assert list(ln.state_dict()) == ["weight", "bias"] and ln.weight.shape == (3, 4)
    assert repr(ln) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True)"
    assert nn.LayerNorm(4, bias=False).bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []
    x = rng.standard_normal((2, 3, 4))
    ln = nn.LayerNorm(4, dtype=corefw.float64, device=device)
    np.testing.assert_allclose(npy(ln(t64(x, device=device))),
                               ref_normalize(x, (2,), 1e-5), rtol=1e-10)
    gn = nn.GroupNorm(2, 6)
    assert list(gn.state_dict()) == ["weight", "bias"] and gn.weight.shape == (6,)
    assert repr(gn) == "GroupNorm(2, 6, eps=1e-05, affine=True)"
    x = rng.standard_normal((2, 6, 3))
    gn = nn.GroupNorm(3, 6, dtype=corefw.float64, device=device)
    np.testing.assert_allclose(npy(gn(t64(x, device=device))),
                               ref_group_norm(x, 3, np.ones(6), np.zeros(6), 1e-5), rtol=1e-10)


def test_norm_errors(device):
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(4.*expected 4D input, got 3D"):
        nn.BatchNorm2d(4, device=device)(corefw.randn(2, 4, 3, device=device))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(4.*4 channels.*\(2, 5\)"):
        nn.BatchNorm1d(4, device=device)(corefw.randn(2, 5, device=device))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4, device=device)(corefw.randn(1, 4, device=device))
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(corefw.randn(2, 3, device=device), None, None, training=False)
    with pytest.raises(ShapeError, match=r"normalized_shape=\[4\].*\[2, 3\]"):
        F.layer_norm(corefw.randn(2, 3, device=device), (4,))
    with pytest.raises(ShapeError, match="divisible by num_groups"):
        F.group_norm(corefw.randn(2, 6, 3, device=device), 4)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ShapeError, match=r"GroupNorm.*\(N, 6, \*\)"):
        nn.GroupNorm(2, 6, device=device)(corefw.randn(2, 4, 3, device=device))
    with pytest.raises(DTypeError, match="floating"):
        F.layer_norm(corefw.ones(2, 3, dtype=corefw.int64, device=device), (3,))
