"""The builtin layer library, registered through the same hook as third-party layer plugins."""

from __future__ import annotations

from ..plugins.hookspecs import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_layers(register):
    from .. import nn

    modules = getattr(nn, "modules", None)
    for name in getattr(modules, "__all__", ()):
        register(getattr(modules, name), name=name)
