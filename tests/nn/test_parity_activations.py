"""More activations, distances, Bilinear, GLU: forward against float64 numpy written from
PyTorch's documented formulas, backward by finite differences, module reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.autograd import gradcheck
from corefw.errors import DTypeError, ShapeError
from corefw.nn import functional as F

ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(x):
    return np.logaddexp(0, x)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (module, functional call, numpy reference)
CASES = {
    "mish": (nn.Mish(), F.mish, lambda x: x * np.tanh(_softplus(x))),
    "hardswish": (nn.Hardswish(), F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hardsigmoid": (nn.Hardsigmoid(), F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "selu": (nn.SELU(), F.selu, lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(x))),
    "celu": (nn.CELU(0.7), lambda x: F.celu(x, 0.7),
             lambda x: np.maximum(x, 0) + np.minimum(0, 0.7 * np.expm1(x / 0.7))),
    "softsign": (nn.Softsign(), F.softsign, lambda x: x / (1 + np.abs(x))),
    "tanhshrink": (nn.Tanhshrink(), F.tanhshrink, lambda x: x - np.tanh(x)),
    "softshrink": (nn.Softshrink(0.4), lambda x: F.softshrink(x, 0.4),
                   lambda x: np.where(x > 0.4, x - 0.4, np.where(x < -0.4, x + 0.4, 0))),
    "hardshrink": (nn.Hardshrink(0.4), lambda x: F.hardshrink(x, 0.4),
                   lambda x: np.where(np.abs(x) > 0.4, x, 0)),
    "threshold": (nn.Threshold(0.1, 20.0), lambda x: F.threshold(x, 0.1, 20.0),
                  lambda x: np.where(x > 0.1, x, 20.0)),
    "rrelu_eval": (nn.RReLU(0.1, 0.3).eval(), lambda x: F.rrelu(x, 0.1, 0.3),
                   lambda x: np.where(x >= 0, x, 0.2 * x)),
    "glu": (nn.GLU(1), lambda x: F.glu(x, 1),
            lambda x: x[:, :2] * _sigmoid(x[:, 2:])),
    "softmax2d": (nn.Softmax2d(), lambda x: F.softmax(x, -3),
                  lambda x: np.exp(x) / np.exp(x).sum(-3, keepdims=True)),
}


def _input(rng):
    # away from the kinks (|x| = 0.4, +-3, 0.1) so finite differences are smooth
    x = rng.uniform(-4, 4, (3, 4, 2, 3))
    for k in (0.0, 0.1, 0.4, -0.4, 3.0, -3.0):
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return x


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_forward_and_gradient(name):
    module, fn, ref = CASES[name]
    x = _input(np.random.default_rng(0))
    out = module(t64(x))
    np.testing.assert_allclose(npy(out), ref(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(npy(fn(t64(x))), ref(x), rtol=1e-12, atol=1e-12)
    assert gradcheck(fn, (t64(x[:2, :, :1], requires_grad=True),))
    f32 = module(corefw.tensor(x.astype(np.float32)))
    assert f32.dtype is corefw.float32
    np.testing.assert_allclose(npy(f32), ref(x), rtol=1e-5, atol=1e-5)


def test_inplace_variants_write_into_the_input():
    x = corefw.tensor([-4.0, -1.0, 0.5, 4.0])
    y = nn.Hardswish(inplace=True)(x)
    assert y is x
    np.testing.assert_allclose(x.numpy(), [0.0, -1 / 3, 0.5 * 3.5 / 6, 4.0], rtol=1e-6)


def test_rrelu_training_draws_slopes_in_range():
    corefw.manual_seed(0)
    x = -corefw.ones(2000, dtype=corefw.float64)
    y = npy(F.rrelu(x, 0.1, 0.3, training=True))
    assert ((y <= -0.1) & (y >= -0.3)).all() and y.std() > 0.03
    assert np.allclose(npy(F.rrelu(-x, training=True)), 1.0)


def test_prelu_functional():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    w = np.array([0.1, 0.2, 0.3])
    out = F.prelu(t64(x), t64(w))
    np.testing.assert_allclose(npy(out), np.where(x >= 0, x, w[:, None] * x))
    assert gradcheck(F.prelu, (t64(x, True), t64(w, True)))
    with pytest.raises(ShapeError, match="prelu: weight of shape"):
        F.prelu(t64(x), t64(np.ones(4)))


def test_cosine_similarity_and_pairwise_distance():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(npy(nn.CosineSimilarity()(t64(a), t64(b))), cos, rtol=1e-12)
    d = np.linalg.norm(a - b + 1e-6, ord=3, axis=-1)
    np.testing.assert_allclose(npy(nn.PairwiseDistance(p=3)(t64(a), t64(b))), d, rtol=1e-12)
    assert gradcheck(lambda x, y: F.cosine_similarity(x, y, 1), (t64(a, True), t64(b, True)))
    assert gradcheck(F.pairwise_distance, (t64(a, True), t64(b, True)))
    # broadcasting and the eps clamp of a zero vector
    z = F.cosine_similarity(t64(np.zeros((1, 5))), t64(a))
    np.testing.assert_allclose(npy(z), 0.0)
    with pytest.raises(ShapeError, match="cannot be broadcast"):
        F.cosine_similarity(t64(a), t64(np.ones((3, 5))))


def test_bilinear_module_matches_einsum_and_state_dict_keys():
    corefw.manual_seed(0)
    m = nn.Bilinear(3, 4, 5).double()
    assert list(m.state_dict()) == ["weight", "bias"]
    assert m.weight.shape == (5, 3, 4) and float(m.weight.abs().amax()) <= 1 / np.sqrt(3)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 4))
    want = np.einsum("...i,kij,...j->...k", a, npy(m.weight), b) + npy(m.bias)
    np.testing.assert_allclose(npy(m(t64(a), t64(b))), want, rtol=1e-12)
    assert gradcheck(F.bilinear, (t64(a[0, :2], True), t64(b[0, :2], True),
                                  t64(npy(m.weight), True), t64(npy(m.bias), True)))
    with pytest.raises(ShapeError, match="bilinear: input1"):
        m(t64(a), t64(a))


def test_errors_name_the_function():
    with pytest.raises(ShapeError, match="glu: halving dimension must be even"):
        F.glu(corefw.ones(3, 5))
    with pytest.raises(DTypeError, match="mish: expected a floating point input"):
        F.mish(corefw.ones(3, dtype=corefw.int64))
    with pytest.raises(ShapeError, match="Softmax2d"):
        nn.Softmax2d()(corefw.ones(3))
    with pytest.raises(ValueError, match="softshrink: lambda"):
        F.softshrink(corefw.ones(2), -1.0)


def test_reprs():
    assert repr(nn.CELU(0.5)) == "CELU(alpha=0.5)"
    assert repr(nn.Threshold(0.1, 20)) == "Threshold(threshold=0.1, value=20)"
    assert repr(nn.Softshrink()) == "Softshrink(0.5)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"


@pytest.mark.parametrize("name,call,ref", [
    ("relu_", lambda x: F.relu_(x), lambda x: np.maximum(x, 0)),
    ("elu_", lambda x: F.elu_(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("leaky_relu_", lambda x: F.leaky_relu_(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("hardtanh_", lambda x: F.hardtanh_(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    ("threshold_", lambda x: F.threshold_(x, 0.1, 7.0), lambda x: np.where(x > 0.1, x, 7.0)),
    ("celu_", lambda x: F.celu_(x, 0.7), CASES["celu"][2]),
    ("selu_", lambda x: F.selu_(x), CASES["selu"][2]),
    ("mish", lambda x: F.mish(x, inplace=True), CASES["mish"][2]),
    ("rrelu_", lambda x: F.rrelu_(x, 0.1, 0.3), lambda x: np.where(x >= 0, x, 0.2 * x)),
])
def test_functional_inplace_variants(name, call, ref):
    x = _input(np.random.default_rng(4))[:2]
    t = t64(x)
    assert call(t) is t
    np.testing.assert_allclose(npy(t), ref(x), rtol=1e-12, atol=1e-12)
    # on a non-leaf that requires grad, the gradient flows through the in-place op
    leaf = t64(x, requires_grad=True)
    h = leaf * 1.0
    call(h).sum().backward()
    assert leaf.grad is not None and leaf.grad.shape == leaf.shape


def test_gradients_at_the_kinks_are_pytorchs():
    x = t64(np.array([-3.0, 3.0, 0.0]), requires_grad=True)
    F.hardswish(x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), [-0.5, 1.5, 0.5])  # (2x + 3) / 6 on [-3, 3]
    x = t64(np.array([-3.0, 3.0, 0.0]), requires_grad=True)
    F.hardsigmoid(x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), [0.0, 0.0, 1 / 6])  # open interval
    x = t64(np.array([0.0]), requires_grad=True)
    F.selu(x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), [SCALE * ALPHA])  # the x <= 0 branch at 0
