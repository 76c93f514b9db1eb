"""References of the fused cuda kernels, run with xp=numpy, against the ops' decompositions and
against corefw.optim.Adam / AdamW (the fused Adam step)."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_cuda.kernels import REFERENCES, adam_step_reference

import corefw
import corefw.nn  # noqa: F401 - registers the nn ops
from corefw.ops.registry import OPS

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-6, atol=2e-6)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,attrs", [
    ("gelu", {}), ("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}),
    ("silu", {}), ("sigmoid", {}), ("softmax", {"dim": 1}), ("softmax", {"dim": 0}),
    ("log_softmax", {"dim": 1}), ("log_softmax", {"dim": 2}),
])
def test_reference_matches_decomposition(rng, name, attrs, dtype):
    x = (rng.normal(size=(3, 4, 5)) * 4).astype(dtype)
    got = REFERENCES[name](np, x, **attrs)
    with corefw.no_grad():
        want = OPS[name].decomposition(corefw.from_numpy(x), **attrs).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("maximize", [False, True])
def test_adam_step_reference_matches_corefw_optim(rng, decoupled, weight_decay, maximize):
    p0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(3)]
    cls = corefw.optim.AdamW if decoupled else corefw.optim.Adam
    param = corefw.nn.Parameter(corefw.from_numpy(p0.copy()))
    opt = cls([param], lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay,
              maximize=maximize)
    mine, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for step, g in enumerate(grads, start=1):
        param.grad = corefw.from_numpy(g.copy())
        opt.step()
        adam_step_reference(np, mine, g, m, v, lr=0.05, beta1=0.8, beta2=0.95, eps=1e-6,
                            weight_decay=weight_decay, decoupled=decoupled, maximize=maximize,
                            step=step)
        np.testing.assert_allclose(mine, param.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(mine, p0)
