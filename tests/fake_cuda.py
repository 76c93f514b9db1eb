"""A pytest plugin that serves the device type ``cuda`` from NumPy, to exercise the suites'
cuda variants on a machine without a GPU.

Never enabled by default; run ``python -m pytest -p tests.fake_cuda tests/ops tests/nn
tests/optim tests/autograd plugins/xai/tests`` from the repository root. At configure time it
registers, with ``override=True``, a backend built by the core's toolkit over ``numpy`` (device
type ``cuda``, name ``"fake-cuda (numpy)"``) with the cpu backend's fast kernels, so every test
that takes the ``device`` fixture runs its ``cuda`` variant. What that finds: tensors a test (or
an op) creates on the default device instead of its inputs' device (the dispatcher's
mixed-device error), results read without going through host memory, device-dependent code
paths. What it cannot find: numerics or kernels of the real cupy backend (run
``python -m pytest -m cuda`` on a GPU for those).

Unlike the cpu backend, transfers copy (as cupy's do), so a test that relies on a cpu tensor
sharing memory with its device copy fails here as it would on a GPU.
"""

from __future__ import annotations

import types

import numpy as np

NAME = "fake-cuda (numpy)"


def _backend():
    import corefw.dispatch
    from corefw.backend import ArrayModuleBackend

    class FakeCudaBackend(ArrayModuleBackend):
        """NumPy arrays posing as device memory; transfers always copy."""

        def __init__(self) -> None:
            super().__init__(np, device_type="cuda", name=NAME)
            own_random = set(self._random_kernels())  # bound to this backend's own stream
            cpu = corefw.dispatch.backends().get("cpu")
            if cpu is not None:
                self.kernels.update({k: fn for k, fn in cpu.kernels.items()
                                     if k not in own_random})

        def from_host(self, array, index: int = 0):
            return np.array(array, copy=True)

        def to_host(self, array) -> np.ndarray:
            return np.array(array, copy=True)

    return FakeCudaBackend()


def pytest_configure(config) -> None:
    from corefw.plugins import hookimpl, register_plugin

    plugin = types.ModuleType("corefw_fake_cuda")
    plugin.COREFW_PLUGIN_API = ">=1,<2"

    @hookimpl
    def register_backends(register):
        register(_backend(), override=True)

    plugin.register_backends = register_backends
    rec = register_plugin(plugin, name="fake-cuda")
    import corefw.dispatch

    backend = corefw.dispatch.backends().get("cuda")
    if getattr(backend, "name", None) != NAME:
        raise RuntimeError(f"tests.fake_cuda: could not install the fake cuda backend "
                           f"({rec.status}: {getattr(rec, 'error', None) or rec.notes})")


def pytest_report_header(config) -> str:
    return f"device type 'cuda' is served by {NAME} (tests/fake_cuda.py): no GPU is used"
