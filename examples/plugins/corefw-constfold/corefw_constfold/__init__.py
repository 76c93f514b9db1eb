"""corefw-constfold: the ``constfold`` compiler for corefw.compile (see README.md)."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1.1,<2"  # register_compilers
__version__ = "0.1.0"


@hookimpl
def register_compilers(register):
    from .fold import constfold

    register("constfold", constfold)
