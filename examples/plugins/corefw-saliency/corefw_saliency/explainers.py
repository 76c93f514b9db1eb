"""Gradient-based attributions: ``GradientXInput`` and ``SmoothGrad``."""

from __future__ import annotations

import corefw


def _selected(model, x, target):
    """Sum over the batch of each sample's output for its target class (or all outputs)."""
    out = model(x)
    if target is None:
        return out.sum()
    if isinstance(target, int):
        return out[:, target].sum()
    idx = target.to(out.device).reshape(-1, 1)
    return out.gather(1, idx).sum()


class GradientXInput:
    """``x * d output[target] / d x`` (Shrikumar et al., 2016)."""

    def __init__(self, model) -> None:
        self.model = model

    def gradient(self, inputs, target=None):
        """The gradient of the target outputs with respect to ``inputs``."""
        x = inputs.detach().requires_grad_(True)
        with corefw.enable_grad():
            (grad,) = corefw.autograd.grad(_selected(self.model, x, target), [x])
        return grad

    def attribute(self, inputs, target=None, **options):
        """Attributions shaped like ``inputs``; ``target``: a class index per sample (a tensor),
        one class for all (an int) or None (the sum of all outputs)."""
        return self.gradient(inputs, target) * inputs.detach()


class SmoothGrad(GradientXInput):
    """The gradient averaged over noisy copies of the input (Smilkov et al., 2017)."""

    def attribute(self, inputs, target=None, *, samples: int = 16, sigma: float = 0.15,
                  generator=None, **options):
        """``mean_k grad(x + noise_k)`` with Gaussian noise of ``sigma`` times the input's
        range; pass a seeded ``corefw.Generator`` for reproducible results."""
        x = inputs.detach()
        scale = sigma * float((x.amax() - x.amin()).item() or 1.0)
        total = corefw.zeros_like(x)
        for _ in range(samples):
            noise = corefw.randn(*x.shape, generator=generator, dtype=x.dtype,
                                 device=x.device) * scale
            total = total + self.gradient(x + noise, target)
        return total / samples
