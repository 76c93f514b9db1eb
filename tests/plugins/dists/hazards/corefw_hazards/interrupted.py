"""Entry point ``interrupted``: with HAZARD_INTERRUPT=1, the first import raises
KeyboardInterrupt (as Ctrl-C during a slow import would); the second succeeds."""

from __future__ import annotations

import builtins
import os

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"

if os.environ.get("HAZARD_INTERRUPT") == "1" and not getattr(builtins, "_hazard_hit", False):
    builtins._hazard_hit = True
    raise KeyboardInterrupt


@hookimpl
def register_layers(register):
    class HazardLayer:
        pass

    register(HazardLayer)
