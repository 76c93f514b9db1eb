"""The hooks a corefw plugin may implement. This file is the plugin API's reference.

A plugin is a module exposed in the ``corefw.plugins`` entry-point group. It declares the
plugin-API versions it supports and implements any of the hooks below with ``@hookimpl``::

    from corefw.plugins import hookimpl

    COREFW_PLUGIN_API = ">=1,<2"      # required: the API major versions it was written for

    @hookimpl
    def register_backends(register):
        register(MyBackend())

Every ``register_*`` hook receives a ``register`` callback (simonw/llm's pattern). Passing
``override=True`` replaces an existing entry of the same name on purpose; otherwise a second
registration of a name is refused with a warning that names both plugins. Plugin modules must
be cheap to import: import heavy libraries inside the objects they register, on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["PLUGIN_API_VERSION", "hookimpl", "hookspec"]

#: The plugin API's version. The major number changes only with an incompatible change; see
#: docs/plugin-api-policy.md.
PLUGIN_API_VERSION = "1.0"

hookspec = pluggy.HookspecMarker("corefw")
hookimpl = pluggy.HookimplMarker("corefw")


@hookspec
def register_backends(register: Callable[..., None]) -> None:
    """Register device backends: ``register(backend, override=False)``.

    ``backend`` implements :class:`corefw.backend.Backend` (``device_type``, ``kernels``,
    transfers, RNG...). Registering must not touch hardware or import heavy libraries; do that
    in ``backend.is_available()`` or on first use.
    """


@hookspec
def register_kernels(register: Callable[..., None]) -> None:
    """Add kernels to an existing device type: ``register(device_type, {op: kernel},
    override=False)``.

    Use it for a faster kernel of a composite op, or a kernel for an op another plugin added.
    A kernel takes native arrays (and the op's attributes as keywords) and returns a new array.
    """


@hookspec
def register_ops(register: Callable[..., Any]) -> None:
    """Register new ops: ``register(name, vjp=..., decomposition=..., override=False)``
    (the signature of :func:`corefw.ops.register_op`).

    Give a decomposition into existing ops so every backend runs it, or kernels for the
    backends you target through ``register_kernels``; give a VJP written with corefw ops so
    autograd works on every device.
    """


@hookspec
def register_layers(register: Callable[..., None]) -> None:
    """Register layer classes (``corefw.nn.Module`` subclasses): ``register(cls, name=None,
    override=False)``. They appear in ``corefw.layers()`` and ``corefw plugins``."""


@hookspec
def register_explainers(register: Callable[..., None]) -> None:
    """Register explainers: ``register(name, cls, override=False)``. ``cls(model)`` has
    ``attribute(inputs, target=..., **options)``; they appear in ``corefw.explainers()``."""
