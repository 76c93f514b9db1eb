"""Runs corefw's conformance kit on ``jax`` in a subprocess, beside the rest of the suite:
JAX's kit is compile-bound (one XLA compile per graph it reads, about 3.5 min of CPU), so it
takes a core while the suite's other tests take the other, and its test only waits.

Without pytest-xdist the kit starts as soon as collection is done. Under xdist every worker
collects everything, so none starts it early (each would): the kit's test is moved to the
front of the collection instead, so the first worker starts it at once and waits on it while
the other workers, and later work stealing, run the rest. ``COREFW_JAX_KIT=0`` skips it."""

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


_TEST = "test_jax_conformance.py::test_jax_is_conformant"


def _wanted() -> bool:
    return os.environ.get("COREFW_JAX_KIT", "1") != "0"


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if hasattr(config, "workerinput") and _wanted():  # an xdist worker: see the module doc
        first = [item for item in items if item.nodeid.endswith(_TEST)]
        items[:] = first + [item for item in items if item not in first]


def pytest_collection_finish(session: pytest.Session) -> None:
    if KIT or session.config.option.collectonly or hasattr(session.config, "workerinput"):
        return
    if _wanted() and any(item.nodeid.endswith(_TEST) for item in session.items):
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
