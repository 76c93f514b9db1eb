"""Every cupy / cupyx name the plugin relies on is listed in one place and exists in cupy.

The scan reads the plugin's sources and corefw's backend toolkit (whose kernels the plugin runs
with ``xp=cupy``) for ``cp.X`` / ``cupy.X`` / ``cupyx.X`` / ``xp.X`` and requires each name in
:data:`corefw_cuda._cupy.CUPY_NAMES`. Where cupy is installed (CI may install it: it imports
without a GPU), every listed name must resolve, and the reason reported is the driver's.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import corefw_cuda
import pytest
from corefw_cuda import _cupy

import corefw.backend.toolkit

SOURCES = sorted(Path(corefw_cuda.__file__).parent.glob("*.py")) + [
    Path(corefw.backend.toolkit.__file__)]
PATTERN = re.compile(r"\b(cp|cupy|cupyx|xp)\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_]\w*)*)")
NOT_CUPY = {"__name__"}  # attributes of the module object, not of cupy's API


def used_names() -> set[str]:
    names = set()
    for path in SOURCES:
        for prefix, rest in PATTERN.findall(path.read_text()):
            if rest in NOT_CUPY:
                continue
            names.add(f"{'cupyx' if prefix == 'cupyx' else 'cupy'}.{rest}")
    return names


def test_every_name_used_is_listed():
    missing = used_names() - set(_cupy.CUPY_NAMES) - _cupy.REPLACED_TOOLKIT_DEFAULTS
    assert not missing, f"add to corefw_cuda._cupy.CUPY_NAMES: {sorted(missing)}"


def test_the_scan_finds_names():
    names = used_names()
    assert {"cupy.ElementwiseKernel", "cupy.cuda.runtime.getDeviceCount", "cupy.take_along_axis",
            "cupyx.scatter_add"} <= names


def test_names_are_unique():
    assert len(set(_cupy.CUPY_NAMES)) == len(_cupy.CUPY_NAMES)


needs_cupy = pytest.mark.skipif(importlib.util.find_spec("cupy") is None,
                                reason="cupy is not installed")


@needs_cupy
def test_every_listed_name_exists_in_cupy():
    assert _cupy.missing_names() == []


@needs_cupy
def test_replaced_defaults_are_really_replaced():
    # the plugin passes its own add_at and rng_factory, so these toolkit defaults never run
    src = (Path(corefw_cuda.__file__).parent / "backend.py").read_text()
    assert "add_at=_make_add_at(cp)" in src and "rng_factory=" in src


def test_missing_names_reports_a_wrong_name():
    assert _cupy.missing_names(("numpy.float32", "numpy.no_such_name")) == ["numpy.no_such_name"]


@needs_cupy
def test_with_cupy_and_no_gpu_the_reason_is_the_drivers():
    if corefw_cuda.is_available():
        pytest.skip("a CUDA device is present")
    reason = corefw_cuda.unavailable_reason()
    assert reason.startswith("no CUDA device"), reason
    assert corefw_cuda.device_count() == 0
