"""Entry point ``alt_cpu``: replaces the ``cpu`` backend and the layer ``ToyScale`` on purpose.

Its name sorts before ``cpu``, so it loads first. corefw-toydup does not declare ``cpu`` in
``corefw.devices`` and corefw-cpu does, so it is refused whatever ``override`` says, unless the
user gives it the device type (``COREFW_DEVICE_OWNER=cpu=corefw-toydup``).
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_backends(register):
    import numpy

    from corefw.backend import ArrayModuleBackend

    register(ArrayModuleBackend(numpy, device_type="cpu", name="alt-numpy"), override=True)


@hookimpl
def register_layers(register):
    class ToyScale:
        origin = "alt_cpu"

    register(ToyScale, override=True)
