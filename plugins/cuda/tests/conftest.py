"""Test configuration of corefw-cuda: the ``cuda`` marker skips, with the reason, where no GPU
is usable, also when these tests run on their own (``pytest plugins/cuda/tests``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import corefw

SKIP_PREFIXES = ("cuda unavailable", "corefw-cuda is not installed")


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    reason = None
    for item in items:
        if HERE not in Path(str(item.path)).parents:
            continue
        marked = item.get_closest_marker("cuda") is not None
        # A check written as ``"cuda" in item.keywords`` (keywords also hold the names of the
        # parent nodes, and every test here lives under plugins/cuda/) skips the unmarked
        # tests here too: take such skips back, keep the cuda-marked ones.
        item.own_markers[:] = [m for m in item.own_markers if marked or not (
            m.name == "skip" and str(m.kwargs.get("reason", "")).startswith(SKIP_PREFIXES))]
        if marked and item.get_closest_marker("skip") is None:
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
