"""The core's builtin compilers, registered through the same hook as third-party ones."""

from __future__ import annotations

from ..plugins.hookspecs import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_compilers(register):
    from ._default import default
    from ._replay import replay

    register("replay", replay)
    register("default", default)
