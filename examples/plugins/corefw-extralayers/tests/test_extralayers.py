"""corefw-extralayers' own tests: the op against NumPy and finite differences, the layers."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_extralayers import FusedRMSNorm, SwiGLU, rms_norm
from corefw_extralayers.conformance import reference

import corefw


def test_registered():
    assert corefw.layers()["FusedRMSNorm"] is FusedRMSNorm and corefw.layers()["SwiGLU"] is SwiGLU
    assert corefw.ops.OPS["rms_norm"].owner == "extralayers"


def test_rms_norm_matches_numpy_and_gradcheck():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 5)), rng.uniform(0.5, 2, 5)
    got = rms_norm(corefw.tensor(x), corefw.tensor(w, dtype=corefw.float32), 1e-6)
    np.testing.assert_allclose(got.numpy(), reference(x, w, 1e-6), rtol=1e-5)
    xt = corefw.tensor(x, dtype=corefw.float64, requires_grad=True)
    wt = corefw.tensor(w, dtype=corefw.float64, requires_grad=True)
    assert corefw.autograd.gradcheck(lambda a, b: rms_norm(a, b), (xt, wt))


def test_rms_norm_refuses_a_wrong_weight():
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        rms_norm(corefw.ones(2, 4), corefw.ones(3))


def test_layers_train():
    corefw.manual_seed(0)
    model = corefw.nn.Sequential(FusedRMSNorm(8), SwiGLU(8, 16))
    x = corefw.randn(16, 8)
    target = x.flip(1)
    opt = corefw.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first
    assert set(dict(model.named_parameters())) == {
        "0.weight", "1.gate.weight", "1.up.weight", "1.down.weight"}
