"""Starts corefw's conformance kit on ``jax`` as soon as collection is done, in a subprocess,
when ``test_jax_conformance.py`` is selected and ``COREFW_JAX_KIT=1``: JAX's kit is
compile-bound (one XLA compile per new shape), so it runs beside the rest of the suite, on
another core, and its test only waits for the result."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

KIT: dict = {}


def _die_with_parent() -> None:
    """In the kit's process (Linux): end when the suite's process ends, even if it is killed
    without running pytest_sessionfinish (a CI timeout)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_kit() -> None:
    out = Path(tempfile.mkdtemp(prefix="corefw-jax-kit-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COREFW_") and k != "PYTEST_ADDOPTS"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    report = out / "jax.json"
    log = open(out / "kit.log", "w", encoding="utf-8")  # noqa: SIM115 - closed by the test
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "corefw.testing.plugin", "--pyargs",
         "corefw.testing.conformance", "-q", "-p", "no:cacheprovider", "--corefw-backend=jax",
         f"--corefw-report={report}"], cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT,
        text=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    KIT.update(proc=proc, report=report, log=log, dir=out)


def pytest_collection_finish(session: pytest.Session) -> None:
    if KIT or session.config.option.collectonly:
        return
    if os.environ.get("COREFW_JAX_KIT") == "1" and any(
            item.nodeid.endswith("test_jax_conformance.py::test_jax_is_conformant")
            for item in session.items):
        try:
            import corefw_jax  # noqa: F401
            import jax  # noqa: F401
        except ImportError:
            return  # the test itself is skipped with the reason
        _start_kit()


def pytest_sessionfinish(session: pytest.Session) -> None:
    proc = KIT.get("proc")
    if proc is not None and proc.poll() is None:  # the run stopped early (-x, Ctrl-C)
        proc.kill()
        proc.wait()


@pytest.fixture
def jax_kit() -> dict:
    """The kit's subprocess (``proc``), its report path, log file and directory; started
    now if the collection hook did not start it."""
    if not KIT:
        _start_kit()
    return KIT
