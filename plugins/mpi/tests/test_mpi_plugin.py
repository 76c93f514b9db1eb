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


def test_cpu_numpy_shares_the_tensor_memory():
    # the process group reduces host tensors in place through Tensor.numpy() (group._host and
    # the all_reduce fast path): a copy there would silently drop every collective's result
    import corefw

    t = corefw.zeros(4)
    t.add_(1.0)  # an in-place op may rebind the tensor's array: numpy() must follow it
    a = t.numpy()
    a[0] = 5.0
    assert t.tolist() == [5.0, 1.0, 1.0, 1.0]
    base = corefw.zeros(2, 3)
    base[1].numpy()[:] = 7.0  # a view's array is a view of its base's (all_reduce of a row)
    assert base.tolist() == [[0.0, 0.0, 0.0], [7.0, 7.0, 7.0]]
