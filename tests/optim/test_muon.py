"""Muon against closed forms: Newton-Schulz orthogonalizes (singular values pulled into
PyTorch's band around 1, singular vectors kept); one step from a zero momentum buffer is
``theta (1 - lr wd) - lr' NS((1 - mu^2) g)`` (Nesterov) with PyTorch's lr adjustment."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw
from corefw.optim.muon import zeropower_via_newtonschulz


def _ns(g, steps=5, coeffs=(3.4445, -4.7750, 2.0315)):
    a, b, c = coeffs
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / max(np.linalg.norm(x), 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def test_newton_schulz_orthogonalizes():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((6, 4))
    out = zeropower_via_newtonschulz(corefw.tensor(g)).numpy()
    np.testing.assert_allclose(out, _ns(g), rtol=1e-10, atol=1e-12)
    u, s, vh = np.linalg.svd(g, full_matrices=False)
    so = np.linalg.svd(out, compute_uv=False)
    assert np.all((so > 0.5) & (so < 1.5))  # PyTorch's documented band
    # same singular vectors: U^T out V is diagonal
    core = u.T @ out @ vh.T
    np.testing.assert_allclose(core - np.diag(np.diag(core)), 0, atol=1e-10)


@pytest.mark.parametrize("shape,fn,ratio", [((6, 3), None, math.sqrt(2)),
                                            ((3, 6), "original", 1.0),
                                            ((3, 6), "match_rms_adamw", 0.2 * math.sqrt(6))])
def test_one_step(shape, fn, ratio):
    rng = np.random.default_rng(1)
    theta, g = rng.standard_normal(shape), rng.standard_normal(shape)
    p = corefw.tensor(theta, requires_grad=True)
    opt = corefw.optim.Muon([p], lr=0.1, weight_decay=0.2, momentum=0.9, adjust_lr_fn=fn)
    p.grad = corefw.tensor(g)
    opt.step()
    # buf = 0.1 g; nesterov update = g + 0.9 (buf - g) = 0.19 g; NS is scale-invariant
    want = theta * (1 - 0.1 * 0.2) - 0.1 * ratio * _ns(0.19 * g)
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), 0.1 * g, rtol=1e-12)


def test_refuses_non_matrices_and_bad_arguments():
    with pytest.raises(ValueError, match="2-d"):
        corefw.optim.Muon([corefw.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="Adjust learning rate"):
        corefw.optim.Muon([corefw.zeros(2, 2, requires_grad=True)], adjust_lr_fn="x")
