"""Shared test configuration: the ``cuda`` marker skips with the reason where no GPU is."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
import corefw.dispatch


def _cuda_reason() -> str | None:
    backend = corefw.dispatch.backends().get("cuda")
    if backend is None:
        return "corefw-cuda is not installed"
    if not backend.is_available():
        return f"cuda unavailable: {backend.unavailable_reason()}"
    return None


def pytest_collection_modifyitems(config, items):
    reason = None
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            reason = reason or _cuda_reason() or ""
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _seed():
    corefw.manual_seed(0)
    yield


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    """Run a test on every device: cpu always, cuda where a GPU is present."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
