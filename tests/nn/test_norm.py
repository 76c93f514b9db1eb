"""Normalisation layers: batch norm's running statistics over several steps, eval mode, the
layers' state and the errors (against corefw.testing's float64 references)."""

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.errors import DTypeError, ShapeError
from corefw.testing import reference_nn as RN

# F.batch_norm (training and eval), F.layer_norm and F.group_norm over shapes, with and without
# affine parameters, forward, backward and double backward, through the kernels and the
# decompositions: rows of the op table (corefw.testing.cases_nn_functions, run by
# tests/ops/test_op_table.py).


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
        np.testing.assert_allclose(npy(out), RN.batch_norm(x, None, None, 1e-5), rtol=1e-9,
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
    np.testing.assert_allclose(npy(bn(t64(x, device=device))), RN.batch_norm(x, None, None, 1e-5),
                               rtol=1e-10)
    bn = nn.BatchNorm1d(4, dtype=corefw.float64, device=device)
    xt = t64(x, requires_grad=True, device=device)
    bn(xt).pow(2).sum().backward()
    assert xt.grad.shape == (6, 4) and bn.weight.grad.shape == (4,)
    y = RN.batch_norm(x, None, None, 1e-5)
    np.testing.assert_allclose(npy(bn.weight.grad), 2 * np.sum(y ** 2, axis=0), rtol=1e-9)


def test_layer_and_group_norm_layers(rng, device):
    ln = nn.LayerNorm([3, 4])
    assert list(ln.state_dict()) == ["weight", "bias"] and ln.weight.shape == (3, 4)
    assert repr(ln) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True)"
    assert nn.LayerNorm(4, bias=False).bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []
    x = rng.standard_normal((2, 3, 4))
    ln = nn.LayerNorm(4, dtype=corefw.float64, device=device)
    np.testing.assert_allclose(npy(ln(t64(x, device=device))),
                               RN.layer_norm(x, None, None, 1, 1e-5), rtol=1e-10)
    gn = nn.GroupNorm(2, 6)
    assert list(gn.state_dict()) == ["weight", "bias"] and gn.weight.shape == (6,)
    assert repr(gn) == "GroupNorm(2, 6, eps=1e-05, affine=True)"
    x = rng.standard_normal((2, 6, 3))
    gn = nn.GroupNorm(3, 6, dtype=corefw.float64, device=device)
    np.testing.assert_allclose(npy(gn(t64(x, device=device))),
                               RN.group_norm(x, None, None, 3, 1e-5), rtol=1e-10)


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
