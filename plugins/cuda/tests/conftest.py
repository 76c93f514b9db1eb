"""Test configuration of corefw-cuda: the ``cuda`` marker skips, with the reason, where no GPU
is usable, also when these tests run on their own (``pytest plugins/cuda/tests``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import corefw


def cuda_reason() -> str | None:
    """Why cuda tests cannot run here, or None when they can."""
    import corefw.dispatch

    backend = corefw.dispatch.backends().get("cuda")
    if backend is None:
        return "corefw-cuda is not installed"
    if not backend.is_available():
        return f"cuda unavailable: {backend.unavailable_reason()}"
    return None


HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    reason = None
    for item in items:
        if HERE not in Path(str(item.path)).parents:
            continue
        if item.get_closest_marker("cuda") is not None and \
                item.get_closest_marker("skip") is None:
            reason = reason or cuda_reason() or ""
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _seed():
    corefw.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
