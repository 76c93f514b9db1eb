"""The explainer ``toy_saliency``: the gradient of the target output with respect to the input."""

from __future__ import annotations

import corefw


class ToySaliency:
    def __init__(self, model) -> None:
        self.model = model

    def attribute(self, inputs, target=None):
        x = inputs.detach().requires_grad_()
        out = self.model(x)
        if target is not None:
            out = out[:, target]
        (grad,) = corefw.autograd.grad(out.sum(), [x])
        return grad
