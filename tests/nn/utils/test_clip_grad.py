"""clip_grad_norm_ and clip_grad_value_ against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _tolerance import tol

import corefw
from corefw.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm


def _params_with_grads(seed=0, scale=1.0, dtype=None, device=None):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) * scale for s in [(3, 4), (5,), ()]]
    params = []
    for g in grads:
        p = corefw.zeros(g.shape, dtype=dtype or corefw.float64, requires_grad=True,
                         device=device)
        p.grad = corefw.tensor(g, dtype=dtype or corefw.float64, device=device)
        params.append(p)
    return params, grads


def _np_norm(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    if norm_type == math.inf:
        return np.abs(flat).max()
    return (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_returns_total_norm_and_scales(norm_type, max_norm, device):
    params, grads = _params_with_grads(1, scale=3.0, device=device)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = _np_norm(grads, norm_type)
    assert isinstance(total, corefw.Tensor) and total.dim() == 0
    assert total.item() == pytest.approx(expected, rel=1e-12)
    coef = min(1.0, max_norm / (expected + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.cpu().numpy(), g * coef, rtol=1e-12)
    if max_norm < expected:
        assert _np_norm([p.grad.cpu().numpy() for p in params], norm_type) == pytest.approx(
            max_norm, rel=1e-5)


def test_clip_grad_norm_single_tensor_skips_missing_grads_and_float32(device):
    params, grads = _params_with_grads(2, dtype=corefw.float32, device=device)
    params[1].grad = None
    total = clip_grad_norm_(params, max_norm=0.1)
    kept = [grads[0], grads[2]]
    assert total.item() == pytest.approx(_np_norm(kept, 2),
                                         rel=tol(corefw.float32, device, rtol=1e-6)["rtol"])
    assert params[1].grad is None and params[0].grad.dtype == corefw.float32
    np.testing.assert_allclose(params[0].grad.cpu().numpy(),
                               grads[0] * 0.1 / (_np_norm(kept, 2) + 1e-6), rtol=1e-5)
    p = corefw.zeros(3, dtype=corefw.float64, requires_grad=True, device=device)
    p.grad = corefw.tensor([3.0, 0.0, 4.0], dtype=corefw.float64, device=device)
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.cpu().numpy(), np.array([3.0, 0.0, 4.0]) / (5 + 1e-6))


def test_clip_grad_norm_no_grads_returns_zero(device):
    p = corefw.zeros(3, requires_grad=True, device=device)
    assert clip_grad_norm_([p], 1.0).item() == 0.0


def test_clip_grad_norm_error_if_nonfinite(device):
    params, grads = _params_with_grads(3, device=device)
    bad = grads[0].copy()
    bad[0, 0] = np.inf
    params[0].grad = corefw.tensor(bad, dtype=corefw.float64, device=device)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[1].grad.cpu().numpy(), grads[1])  # untouched on error
    params[0].grad = corefw.tensor(np.full((3, 4), np.nan), dtype=corefw.float64, device=device)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(params, 1.0)  # default: no error, PyTorch scales by the nan norm
    assert math.isnan(total.item())


def test_get_total_norm_matches_numpy(device):
    _, grads = _params_with_grads(4, device=device)
    tensors = [corefw.tensor(g, dtype=corefw.float64, device=device) for g in grads]
    assert get_total_norm(tensors, 2.0).item() == pytest.approx(_np_norm(grads, 2.0), rel=1e-12)


@pytest.mark.parametrize("clip_value", [0.5, 2])
def test_clip_grad_value(clip_value, device):
    params, grads = _params_with_grads(5, scale=2.0, device=device)
    params[2].grad = None
    clip_grad_value_(params, clip_value)
    for p, g in zip(params[:2], grads[:2]):
        np.testing.assert_array_equal(p.grad.cpu().numpy(), np.clip(g, -clip_value, clip_value))
    assert params[2].grad is None
