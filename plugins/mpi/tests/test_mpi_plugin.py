"""corefw-mpi registers the ``mpi`` process-group backend without importing mpi4py; its
collectives are tested across processes in tests/distributed."""

from __future__ import annotations

import subprocess
import sys

import corefw_mpi


def test_registers_mpi_without_importing_mpi4py():
    code = ("import sys, corefw\nfrom corefw.plugins import catalogue, load\nload()\n"
            "assert 'mpi' in catalogue.PROCESS_GROUPS\n"
            "assert 'mpi4py' not in sys.modules, 'imported mpi4py while loading'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_availability_matches_mpi4py(monkeypatch):
    backend = corefw_mpi.MPIBackend()
    assert backend.is_available() == (backend.unavailable_reason() is None)
    monkeypatch.setattr(corefw_mpi.importlib.util, "find_spec", lambda name: None)
    assert not backend.is_available()
    assert "mpi4py is not installed" in backend.unavailable_reason()
