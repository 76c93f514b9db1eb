"""Shared models for the corefw-xai tests, each with an independent float64 numpy twin."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from xai_models import FIXTURES, MLP, build_digits_cnn

import corefw

HERE = Path(__file__).parent


def _cuda_reason() -> str | None:
    import corefw.dispatch

    backend = corefw.dispatch.backends().get("cuda")
    if backend is None:
        return "corefw-cuda is not installed"
    if not backend.is_available():
        return f"cuda unavailable: {backend.unavailable_reason()}"
    return None


def pytest_collection_modifyitems(config, items):
    """The ``cuda`` marker skips, with the reason, where no GPU is usable (also when these
    tests run on their own, without tests/conftest.py)."""
    reason = None
    for item in items:
        if HERE not in Path(str(item.path)).parents:
            continue
        if item.get_closest_marker("cuda") is not None and \
                item.get_closest_marker("skip") is None:
            reason = reason or _cuda_reason() or ""
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    """Run a test on every device: cpu always, cuda where a GPU is present."""
    return request.param


@pytest.fixture
def mlp(device):
    """The default MLP on every device (tests taking it run once per device)."""
    return MLP(device=device)


@pytest.fixture(autouse=True)
def no_leftover_overrides():
    """Every test must leave no VJP override behind."""
    yield
    left = corefw.autograd.active_overrides()
    assert not left, f"VJP overrides left active: {sorted(left)}"


@pytest.fixture(scope="session")
def digits_cnn():
    """The trained digits CNN fixture (eval mode, float32) and 32 test digits with labels."""
    model = build_digits_cnn()
    state = corefw.load(os.path.join(FIXTURES, "digits_cnn.safetensors"))
    model.load_state_dict(state)
    model.eval()
    ds = corefw.data.datasets.digits()
    perm = np.random.default_rng(0).permutation(len(ds))[-360:][:32]
    x = corefw.stack([ds[int(i)][0] for i in perm]).reshape(-1, 1, 8, 8)
    y = corefw.tensor([int(ds[int(i)][1]) for i in perm])
    return model, x, y
