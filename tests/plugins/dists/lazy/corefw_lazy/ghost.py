"""Entry point ``ghost``: device type ``ghostdev``, never available here."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_backends(register):
    import numpy

    from corefw.backend import ArrayModuleBackend

    class GhostBackend(ArrayModuleBackend):
        def is_available(self) -> bool:
            return False

        def unavailable_reason(self) -> str:
            return "no ghost accelerator in this machine"

    register(GhostBackend(numpy, device_type="ghostdev", name="ghost"))
