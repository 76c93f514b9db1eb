"""Linear, Identity, Flatten and the activation layers: PyTorch's parameter names and
initialisation, per-channel PReLU, in-place activations, reprs and errors. Values and gradients
of linear and of every activation module are rows of the op table (corefw.testing)."""

import math

import numpy as np
import pytest

import corefw
from corefw import nn
from corefw.autograd import gradcheck as _gradcheck
from corefw.errors import ShapeError


def gradcheck(fn, inputs):
    """Finite differences in float64, with tolerances tight enough to catch a 1e-4 error."""
    return _gradcheck(fn, inputs, atol=1e-7, rtol=1e-6)


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


_erf = np.vectorize(math.erf)


# ---- Linear -------------------------------------------------------------------------------
def test_linear_parameters_follow_pytorch():
    layer = nn.Linear(5, 3)
    assert [(k, tuple(v.shape)) for k, v in layer.state_dict().items()] == [
        ("weight", (3, 5)), ("bias", (3,))]
    assert list(nn.Linear(5, 3, bias=False).state_dict()) == ["weight"]
    assert nn.Linear(5, 3, bias=False).bias is None
    assert repr(layer) == "Linear(in_features=5, out_features=3, bias=True)"
    assert nn.Linear(2, 2, dtype=corefw.float64).weight.dtype == corefw.float64


def test_linear_initialisation_is_uniform_within_one_over_sqrt_fan_in(device):
    layer = nn.Linear(400, 300, device=device)
    bound = 1 / math.sqrt(400)
    w, b = npy(layer.weight), npy(layer.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-b, b) has std b / sqrt(3); 120000 samples pin it to well under 1%
    assert np.std(w) == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(np.mean(w)) < 5 * bound / math.sqrt(3) / math.sqrt(w.size)
    assert np.abs(b).max() > 0.8 * bound  # spread over the interval, not all zero


def test_linear_shape_error_names_both_shapes(device):
    with pytest.raises(ShapeError, match=r"linear.*2x4 and 5x3"):
        nn.Linear(5, 3, device=device)(corefw.randn(2, 4, device=device))


def test_identity_flatten_unflatten(device):
    x = corefw.randn(2, 3, 4, 5, device=device)
    assert nn.Identity(54, unused="x")(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    np.testing.assert_array_equal(npy(nn.Flatten()(x)), npy(x).reshape(2, 60))
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


# ---- activations --------------------------------------------------------------------------
# every activation module's values and gradients: rows of the op table (corefw.testing
# cases_nn_functions, run by tests/ops/test_op_table.py)


def test_prelu_per_channel_parameters_and_gradient(rng, device):
    m = nn.PReLU(3, init=0.1, device=device).double()
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [("weight", (3,))]
    np.testing.assert_allclose(npy(m.weight), [0.1, 0.1, 0.1], rtol=1e-7)
    with corefw.no_grad():
        m.weight.copy_(t64([0.1, 0.2, 0.3], device=device))
    x = rng.choice([-1.0, 1.0], (2, 3, 4)) * rng.uniform(0.1, 3.0, (2, 3, 4))  # no kink at 0
    expected = np.where(x >= 0, x, np.array([0.1, 0.2, 0.3])[:, None] * x)
    np.testing.assert_allclose(npy(m(t64(x, device=device))), expected, rtol=1e-14)
    xt = t64(x, requires_grad=True, device=device)
    assert gradcheck(lambda x: m(x), (xt,))
    m(xt).sum().backward()  # d/dw_c = sum of the negative inputs of channel c
    np.testing.assert_allclose(npy(m.weight.grad), np.where(x < 0, x, 0).sum(axis=(0, 2)),
                               rtol=1e-13)
    with pytest.raises(ShapeError, match="PReLU: 3 parameters"):
        m(t64(np.ones((2, 4)), device=device))


@pytest.mark.parametrize("module", [nn.ReLU(inplace=True), nn.LeakyReLU(0.1, inplace=True),
                                    nn.ELU(inplace=True), nn.Hardtanh(inplace=True),
                                    nn.SiLU(inplace=True), nn.ReLU6(inplace=True)],
                         ids=lambda m: type(m).__name__)
def test_inplace_activations_write_into_their_input(rng, module, device):
    x = t64(rng.normal(size=(3, 4)) * 3, device=device)
    expected = npy(type(module)()(x)) if not isinstance(module, nn.LeakyReLU) else \
        npy(nn.LeakyReLU(0.1)(x))
    out = module(x)
    assert out is x
    np.testing.assert_allclose(npy(x), expected, rtol=1e-15)


def test_inplace_relu_keeps_gradients_on_non_leaves(rng, device):
    a = t64(rng.normal(size=(5,)), requires_grad=True, device=device)
    y = a * 2
    nn.ReLU(inplace=True)(y)
    y.sum().backward()
    np.testing.assert_array_equal(npy(a.grad), np.where(npy(a) > 0, 2.0, 0.0))


def test_activation_reprs():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
