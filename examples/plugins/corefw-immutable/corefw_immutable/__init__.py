"""corefw-immutable: a device, ``immut``, whose arrays can be neither written nor aliased.

Like an XLA or JAX array library: every kernel returns a new read-only array, movement ops
copy, and ``copy_`` / ``index_put_`` return the updated value instead of writing it. The
backend declares neither "inplace" nor "views", so corefw functionalizes in-place ops and views
for it (docs/architecture.md, "Views, in-place and functionalization")::

    python -m pytest --pyargs corefw.testing.conformance --corefw-backend=immut
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"
__version__ = "0.1.0"


@hookimpl
def register_backends(register):
    from .backend import ImmutableBackend  # imported when corefw first needs a backend

    register(ImmutableBackend())
