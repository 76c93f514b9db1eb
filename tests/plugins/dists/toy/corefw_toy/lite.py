"""Entry point ``toylite``: device type ``toylite``, the toolkit's numpy backend without a
``matmul`` kernel (a primitive with no decomposition: the fallback policy decides)."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_backends(register):
    import numpy

    from corefw.backend import ArrayModuleBackend

    backend = ArrayModuleBackend(numpy, device_type="toylite", name="toy-lite")
    del backend.kernels["matmul"]
    register(backend)
