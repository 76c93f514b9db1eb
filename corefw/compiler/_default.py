"""The ``default`` compiler of :func:`corefw.compile`: the one the graph's device recommends.

A backend may name a registered compiler in its optional ``default_compiler`` attribute
(corefw-cpu: ``"cpu_fuse"``), because the device's owner knows which compiler suits its
kernels; a graph on a device whose backend names none, or names one that is not installed,
compiles with the core's ``replay``. Each graph records the compiler that compiled it in
``graph.meta["compiler"]``.
"""

from __future__ import annotations

from ._ir import Graph

__all__ = ["default_compiler_for", "default"]


def default_compiler_for(device) -> str:
    """The name of the compiler ``backend="default"`` uses for graphs on ``device``."""
    from ..dispatch import backends
    from ..plugins.catalogue import COMPILERS

    dev_type = getattr(device, "type", device)
    name = getattr(backends().get(dev_type), "default_compiler", None)
    return name if isinstance(name, str) and name in COMPILERS else "replay"


def default(graph: Graph):
    """Compile ``graph`` with :func:`default_compiler_for` its device."""
    from ..plugins.catalogue import COMPILERS

    name = default_compiler_for(graph.device) if graph.device is not None else "replay"
    graph.meta["compiler"] = name
    return COMPILERS[name](graph)
