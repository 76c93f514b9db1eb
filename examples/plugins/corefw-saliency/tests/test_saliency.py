"""corefw-saliency's own tests: closed forms on a linear model."""

from __future__ import annotations

import numpy as np
from corefw_saliency.explainers import GradientXInput, SmoothGrad

import corefw


def _linear():
    corefw.manual_seed(0)
    model = corefw.nn.Linear(5, 3)
    return model, model.weight.detach().numpy().copy()


def test_registered():
    assert corefw.explainers()["gradient_x_input"] is GradientXInput
    assert corefw.explainers()["smoothgrad"] is SmoothGrad


def test_gradient_x_input_closed_form():
    """For y = W x + b, d y[t] / d x = W[t], so the attribution is W[t] * x."""
    model, w = _linear()
    x = corefw.randn(4, 5)
    target = corefw.tensor([0, 2, 1, 2])
    got = GradientXInput(model).attribute(x, target=target).numpy()
    np.testing.assert_allclose(got, w[[0, 2, 1, 2]] * x.numpy(), rtol=1e-6)


def test_smoothgrad_of_a_linear_model_is_its_gradient():
    model, w = _linear()
    x = corefw.randn(2, 5)
    got = SmoothGrad(model).attribute(x, target=1, samples=4,
                                      generator=corefw.Generator().manual_seed(1))
    np.testing.assert_allclose(got.numpy(), np.broadcast_to(w[1], (2, 5)), rtol=1e-6)
    assert got.shape == x.shape
