"""Entry point ``arival`` (sorts before ``rival``): overrides the layer ``ToyScale`` too. Two
distributions overriding one name is a collision: both are refused unless the user chooses
(``COREFW_LAYER_OWNER=ToyScale=...``)."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


class ToyScale:
    origin = "corefw-rival-two"


@hookimpl
def register_layers(register):
    register(ToyScale, override=True)
