"""Entry point ``aaa``: a backend for device type ``cpu``, which corefw-cpu also declares."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_backends(register):
    import numpy

    from corefw.backend import ArrayModuleBackend

    register(ArrayModuleBackend(numpy, device_type="cpu", name="impostor-numpy"), override=True)
