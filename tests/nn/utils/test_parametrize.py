"""Parametrizations (register/remove/cached, right_inverse assignment, chaining) and
weight/spectral norm in both PyTorch APIs: values against float64 numpy formulas (the
singular value from numpy's SVD), gradients by finite differences, PyTorch's state-dict
keys."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
import corefw.nn as nn
from corefw.autograd import gradcheck
from corefw.nn.utils import (
    parametrizations,
    parametrize,
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)


class Double(nn.Module):
    def forward(self, x):
        return 2 * x

    def right_inverse(self, x):
        return x / 2


class AddOne(nn.Module):
    def forward(self, x):
        return x + 1


def test_register_assign_chain_cache_remove():
    lin = nn.Linear(3, 2).double()
    w = lin.weight.detach().numpy().copy()
    original = lin.weight
    parametrize.register_parametrization(lin, "weight", Double())
    assert type(lin).__name__ == "ParametrizedLinear" and parametrize.is_parametrized(lin)
    assert parametrize.type_before_parametrizations(lin) is nn.Linear
    assert lin.parametrizations.weight.original is original  # the same parameter object
    np.testing.assert_allclose(lin.weight.detach().numpy(), w)  # original = w / 2, value = w
    assert sorted(lin.state_dict()) == ["bias", "parametrizations.weight.original"]
    lin.weight = corefw.ones(2, 3, dtype=corefw.float64)  # through right_inverse
    np.testing.assert_allclose(original.detach().numpy(), 0.5)
    parametrize.register_parametrization(lin, "weight", AddOne())  # chained: 2 * orig + 1
    np.testing.assert_allclose(lin.weight.detach().numpy(), 2.0)
    with parametrize.cached():
        assert lin.weight is lin.weight
    assert lin.weight is not lin.weight
    x = corefw.ones(1, 3, dtype=corefw.float64)
    lin(x).sum().backward()
    np.testing.assert_allclose(original.grad.numpy(), 2.0)  # d(2 * orig + 1) / d orig
    parametrize.remove_parametrizations(lin, "weight")
    assert type(lin) is nn.Linear and isinstance(lin.weight, nn.Parameter)
    assert lin.weight is original and sorted(lin.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(lin.weight.detach().numpy(), 2.0)


def test_remove_leaving_the_original_and_errors():
    lin = nn.Linear(2, 2)
    w = lin.weight.detach().numpy().copy()
    parametrize.register_parametrization(lin, "weight", Double())
    parametrize.remove_parametrizations(lin, "weight", leave_parametrized=False)
    np.testing.assert_allclose(lin.weight.detach().numpy(), w / 2)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        parametrize.register_parametrization(lin, "nope", Double())
    with pytest.raises(ValueError, match="does not have a parametrization"):
        parametrize.remove_parametrizations(lin, "weight")

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:1]

    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(lin, "weight", Shrink())


def _wn_numpy(g, v, dim):
    axes = tuple(d for d in range(v.ndim) if d != dim)
    return g * v / np.sqrt((v * v).sum(axis=axes, keepdims=True))


@pytest.mark.parametrize("dim", [0, 1])
def test_weight_norm_parametrization(dim):
    conv = nn.Conv2d(2, 3, 3).double()
    w = conv.weight.detach().numpy().copy()
    parametrizations.weight_norm(conv, dim=dim)
    assert list(conv.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    g = conv.parametrizations.weight.original0
    v = conv.parametrizations.weight.original1
    axes = tuple(d for d in range(4) if d != dim)
    np.testing.assert_allclose(g.detach().numpy(),
                               np.sqrt((w * w).sum(axis=axes, keepdims=True)))
    np.testing.assert_allclose(conv.weight.detach().numpy(), w, rtol=1e-12)
    with corefw.no_grad():
        g.mul_(1.5)
    np.testing.assert_allclose(conv.weight.detach().numpy(),
                               _wn_numpy(g.detach().numpy(), v.detach().numpy(), dim))
    fn = parametrizations._WeightNorm(dim)
    assert gradcheck(lambda g_, v_: fn(g_, v_), (g.detach().requires_grad_(),
                                                 v.detach().requires_grad_()))


def test_weight_norm_over_whole_tensor():
    lin = parametrizations.weight_norm(nn.Linear(3, 2).double(), dim=None)
    g = lin.parametrizations.weight.original0
    assert g.dim() == 0


def test_spectral_norm_parametrization_converges_to_the_top_singular_value():
    corefw.manual_seed(0)
    lin = nn.Linear(5, 4).double()
    w = lin.weight.detach().numpy().copy()
    parametrizations.spectral_norm(lin, n_power_iterations=3)
    assert list(lin.state_dict()) == ["bias", "parametrizations.weight.original",
                                      "parametrizations.weight.0._u",
                                      "parametrizations.weight.0._v"]
    for _ in range(20):  # power iterations run on each access in training mode
        _ = lin.weight
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    lin.eval()
    np.testing.assert_allclose(lin.weight.detach().numpy(), w / sigma, rtol=1e-8)
    before = lin.parametrizations.weight[0]._u.numpy().copy()
    _ = lin.weight  # eval: no power step, buffers unchanged
    np.testing.assert_array_equal(lin.parametrizations.weight[0]._u.numpy(), before)
    deconv = parametrizations.spectral_norm(nn.ConvTranspose2d(3, 2, 2))
    assert deconv.parametrizations.weight[0].dim == 1  # output channels of a transposed conv
    assert tuple(deconv.parametrizations.weight[0]._u.shape) == (2,)


def test_hook_based_weight_norm():
    lin = nn.Linear(4, 3).double()
    w = lin.weight.detach().numpy().copy()
    weight_norm(lin)
    assert list(lin.state_dict()) == ["bias", "weight_g", "weight_v"]
    np.testing.assert_allclose(lin(corefw.eye(4, dtype=corefw.float64)).detach().numpy(),
                               w.T + lin.bias.detach().numpy(), rtol=1e-12)
    with corefw.no_grad():
        lin.weight_g.mul_(2.0)
    lin(corefw.ones(1, 4, dtype=corefw.float64)).sum().backward()
    np.testing.assert_allclose(lin.weight.detach().numpy(), 2 * w, rtol=1e-12)
    assert lin.weight_g.grad is not None and lin.weight_v.grad is not None
    remove_weight_norm(lin)
    assert list(lin.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(lin.weight.detach().numpy(), 2 * w, rtol=1e-12)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        remove_weight_norm(lin)


def test_hook_based_spectral_norm():
    corefw.manual_seed(1)
    lin = nn.Linear(6, 3).double()
    w = lin.weight.detach().numpy().copy()
    spectral_norm(lin, n_power_iterations=2)
    assert list(lin.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    x = corefw.ones(1, 6, dtype=corefw.float64)
    for _ in range(15):
        lin(x)
    np.testing.assert_allclose(lin.weight.detach().numpy(),
                               w / np.linalg.svd(w, compute_uv=False)[0], rtol=1e-8)
    remove_spectral_norm(lin)
    assert list(lin.state_dict()) == ["bias", "weight"]
