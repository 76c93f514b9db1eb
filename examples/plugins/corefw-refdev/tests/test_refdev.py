"""refdev's own tests (the conformance kit joins them through tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import DTypeError


def test_registered_from_its_entry_point():
    backend = corefw.plugins.backends()["refdev"]
    assert backend.name == "numpy-reference"
    assert corefw.zeros(2, device="refdev").device.type == "refdev"


def test_storage_is_its_own():
    host = np.arange(6.0).reshape(2, 3)
    t = corefw.tensor(host, device="refdev")
    host[0, 0] = 100.0
    assert t[0, 0].item() == 0.0  # from_host copied
    out = t.numpy()
    out[0, 1] = -1.0
    assert t[0, 1].item() == 1.0  # to_host copied


def test_composites_run_by_decomposition():
    backend = corefw.plugins.backends()["refdev"]
    assert "softmax" not in backend.kernels and "conv2d" not in backend.kernels
    x = np.random.default_rng(0).standard_normal((3, 5))
    got = corefw.softmax(corefw.tensor(x, dtype=corefw.float64, device="refdev"), 1).numpy()
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-12)


def test_float16_is_refused():
    with pytest.raises(DTypeError, match="float16"):
        corefw.zeros(2, dtype=corefw.float16, device="refdev")


def test_demo_cnn_trains_and_matches_cpu():
    """A few Adam steps of the demo CNN: the loss falls, and refdev follows cpu step by step."""
    from corefw.data.datasets import digits
    from corefw.demo import build_model

    data = digits()
    x = corefw.stack([data[i][0] for i in range(64)])
    y = corefw.tensor([int(data[i][1]) for i in range(64)])
    losses = {}
    for dev in ("cpu", "refdev"):
        corefw.manual_seed(0)
        model = build_model("cnn").to(dev)
        opt = corefw.optim.Adam(model.parameters(), lr=1e-2)
        xs, ys = x.to(dev), y.to(dev)
        losses[dev] = []
        for _ in range(10):
            opt.zero_grad()
            loss = corefw.nn.functional.cross_entropy(model(xs), ys)
            loss.backward()
            opt.step()
            losses[dev].append(loss.item())
    assert losses["refdev"][-1] < 0.7 * losses["refdev"][0], losses["refdev"]
    np.testing.assert_allclose(losses["refdev"], losses["cpu"], rtol=1e-3)
