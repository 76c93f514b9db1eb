"""Pooling behaviour the op table cannot express: tie-breaking and NaN in max pooling, the layers,
and the error messages. Values and gradients are rows of the op table (corefw.testing)."""


import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.errors import ShapeError
from corefw.ops.nn_conv import (
    MAX_POOL2D_GRAD_INPUT,
)
from corefw.testing import reference_nn as RN

# F.max_pool2d (values and indices), F.avg_pool2d, F.adaptive_avg_pool2d and the 1-D pools over
# kernels, strides, paddings, dilations, ceil_mode and divisors, forward, backward and double
# backward, through the kernels and the decompositions: rows of the op table
# (corefw.testing.cases_nn_functions, run by tests/ops/test_op_table.py).


def test_max_pool2d_ties_go_to_the_first_maximum(device):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = -1.0  # window 0 still ties at 0 in the first row
    xt = t64(x, requires_grad=True, device=device)
    F.max_pool2d(xt, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[0::2, 0::2] = 1.0
    np.testing.assert_array_equal(npy(xt.grad)[0, 0], expected)
    # overlapping windows (stride 1) all tied: each window's grad lands on its own first cell
    xt = t64(np.ones((1, 1, 3, 3)), requires_grad=True, device=device)
    F.max_pool2d(xt, 2, 1).sum().backward()
    np.testing.assert_array_equal(npy(xt.grad)[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    attrs = {"kernel_size": (2, 2), "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1),
             "ceil_mode": False}
    dec = MAX_POOL2D_GRAD_INPUT.decomposition(
        t64(np.ones((1, 1, 3, 3)), device=device), t64(np.ones((1, 1, 2, 2)), device=device),
        t64(np.ones((1, 1, 2, 2)), device=device), **attrs)
    np.testing.assert_array_equal(npy(dec), npy(xt.grad))


def test_max_pool2d_nan_propagates(device):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    xt = t64(x, requires_grad=True, device=device)
    out = F.max_pool2d(xt, 2)
    assert np.isnan(npy(out)[0, 0, 0, 0]) and npy(out)[0, 0, 1, 1] == 15
    out.sum().backward()
    assert npy(xt.grad)[0, 0, 0, 1] == 1 and npy(xt.grad)[0, 0, 0, 0] == 0


# ---- layers and errors --------------------------------------------------------------------
def test_pool_layers(rng, device):
    x = rng.standard_normal((2, 3, 8, 8))
    pool = nn.MaxPool2d(2)
    assert pool.stride == 2 and list(pool.state_dict()) == []
    assert repr(pool) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                          "ceil_mode=False)")
    tx = t64(x, device=device)
    np.testing.assert_array_equal(npy(pool(tx)), x.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)))
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(tx)
    assert out.shape == idx.shape == (2, 3, 4, 4)
    avg = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(npy(avg(t64(x[:, :, :7, :7], device=device))),
                               RN.avg_pool2d(x[:, :, :7, :7], (2, 2), (2, 2), (0, 0), True, False,
                                             None), rtol=1e-12)
    assert repr(nn.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    ad = nn.AdaptiveAvgPool2d((1, 1))
    assert repr(ad) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    np.testing.assert_allclose(npy(ad(tx)), x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    assert nn.MaxPool1d(2)(corefw.randn(2, 3, 9, device=device)).shape == (2, 3, 4)
    assert nn.AvgPool1d(3, 1, 1)(corefw.randn(2, 3, 9, device=device)).shape == (2, 3, 9)
    assert nn.AdaptiveAvgPool1d(5)(corefw.randn(2, 3, 9, device=device)).shape == (2, 3, 5)


def test_pool_errors(device):
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(corefw.randn(1, 1, 8, 8, device=device), 2, padding=2)
    with pytest.raises(ShapeError, match="too small"):
        F.avg_pool2d(corefw.randn(1, 1, 2, 2, device=device), 3)
    with pytest.raises(ShapeError, match=r"3-D \(unbatched\) or 4-D"):
        nn.MaxPool2d(2)(corefw.randn(8, 8, device=device))
    with pytest.raises(ValueError, match="positive"):
        F.max_pool2d(corefw.randn(1, 1, 4, 4, device=device), 2, stride=0)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(corefw.randn(1, 1, 4, 4, device=device), 2, divisor_override=0)
