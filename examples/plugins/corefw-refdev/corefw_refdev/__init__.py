"""corefw-refdev: a second device, ``refdev``, that implements only corefw's primitives.

A third-party plugin written against corefw's public plugin API: it registers one backend
through the ``register_backends`` hook. Every composite op runs on it through its
decomposition, and the conformance kit checks it like any other backend::

    python -m pytest --pyargs corefw.testing.conformance --corefw-backend=refdev
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"
__version__ = "0.1.0"


@hookimpl
def register_backends(register):
    from .backend import RefBackend  # imported when corefw first needs a backend

    register(RefBackend())
