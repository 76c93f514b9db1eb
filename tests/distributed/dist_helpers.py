"""Helpers for tests that start ranks through the launcher (``corefw run``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py is not installed (python3 -m pip "
                               "install -e plugins/mpi installs it with MPICH; CI does)")


def launch(script: str, nproc: int, *args: str, timeout: float = 60, env: dict | None = None,
           ) -> subprocess.CompletedProcess:
    """Run ``scripts/<script>`` on ``nproc`` ranks with ``python -m corefw.distributed.run``.
    More ranks than cores is fine: MPICH's mpiexec oversubscribes a single machine."""
    full = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", **(env or {}))
    cmd = [sys.executable, "-m", "corefw.distributed.run", "--nproc", str(nproc),
           str(SCRIPTS / script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full)


def results(tmp_path: Path, nproc: int) -> list[dict]:
    """The JSON each rank wrote to ``tmp_path / rank<r>.json``."""
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(nproc)]
