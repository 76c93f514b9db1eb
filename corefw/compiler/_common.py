"""Shared pieces of corefw.compile: the warning, the tracing flag, output trees, logging."""

from __future__ import annotations

import os
import sys
import threading

from ._ir import subgraph
from ._trace import Tracer

__all__ = ["CompileWarning", "LOCAL", "build_graph", "flatten", "log_graph", "refuse_capture",
           "trace_scope", "unflatten"]

LOCAL = threading.local()  # .tracing: a capture runs on this thread (nested calls go eager)


class CompileWarning(RuntimeWarning):
    """corefw.compile gave up on a guard, a capture or a feature and runs eagerly."""


def flatten(out) -> tuple[list, object]:
    if isinstance(out, (tuple, list)):
        parts = [flatten(x) for x in out]
        leaves = [leaf for p in parts for leaf in p[0]]
        return leaves, (type(out), [p[1] for p in parts])
    if isinstance(out, dict):
        parts = [flatten(x) for x in out.values()]
        leaves = [leaf for p in parts for leaf in p[0]]
        return leaves, (dict, list(out), [p[1] for p in parts])
    return [out], None


def unflatten(tree, leaves: list, pos: list | None = None):
    pos = [0] if pos is None else pos
    if tree is None:
        pos[0] += 1
        return leaves[pos[0] - 1]
    if tree[0] is dict:
        return {k: unflatten(t, leaves, pos) for k, t in zip(tree[1], tree[2])}
    items = [unflatten(t, leaves, pos) for t in tree[1]]
    return tree[0](items) if tree[0] in (tuple, list) else tree[0](*items)


def refuse_capture(reason: str) -> None:
    """Called by code that a captured graph cannot replay (``corefw.distributed``'s
    collectives): when this thread is capturing, the capture is refused with ``reason`` and
    the compiled function runs eagerly (see :meth:`Tracer.refuse`). Free otherwise."""
    if getattr(LOCAL, "tracing", False):
        LOCAL.tracer.refuse(reason)


def log_graph(graph, title: str) -> None:
    """Print ``graph`` when COREFW_LOGS names ``graph`` (or ``graphs``, ``all``)."""
    logs = {s.strip() for s in os.environ.get("COREFW_LOGS", "").split(",")}
    if logs & {"graph", "graphs", "all"}:
        print(f"[corefw.compile] {title}\n{graph}", file=sys.stderr)


def build_graph(nodes, outputs, device):
    """See :func:`._ir.subgraph`."""
    return subgraph(nodes, outputs, device)


def trace_scope(fullgraph: bool):
    """A :class:`Tracer` marking this thread as tracing (nested compiled calls go eager)."""
    return _Scope(Tracer(fullgraph))


_DEPTH = [0]  # trace scopes open in any thread (Tensor.item is swapped while one is)


class _Scope:
    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def __enter__(self) -> Tracer:
        LOCAL.tracing = True
        LOCAL.tracer = self.tracer
        _DEPTH[0] += 1
        if _DEPTH[0] == 1:
            from ._lift import install_item

            install_item()
        return self.tracer.__enter__()

    def __exit__(self, *exc) -> None:
        LOCAL.tracing = False
        LOCAL.tracer = None
        _DEPTH[0] -= 1
        if not _DEPTH[0]:
            from ._lift import uninstall_item

            uninstall_item()
        self.tracer.__exit__(*exc)


