"""Tracing: run a model once with a capturing kernel table and record every op call.

While :func:`trace` runs, each entry of the traced device's kernel table (``dev.table``, the
dict the hot path in ``corefw._call`` looks ops up in) is wrapped: a call at depth 0 is recorded
with its native input arrays, attributes and output array, and the kernels it calls in turn
(a decomposition runner's inner ops) are not. An op the exporter cannot map runs its
``decomposition`` (``corefw._registry.OPS[name].decomposition``) with its inner ops recorded
instead. The table is restored afterwards, so tracing costs nothing outside an export.

Core API relied on (documented in docs/onnx.md): ``corefw._registry.OPS``, a resolved device's
``table`` dict (``corefw.dispatch.device_of(dev).table``) and ``corefw._tensor.wrap`` (turn a
native array back into a Tensor for a decomposition).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import corefw
from corefw._registry import OPS
from corefw._tensor import wrap
from corefw.dispatch import device_of

from .errors import UnsupportedOpError

__all__ = ["Call", "Trace", "trace"]

_LOCK = threading.Lock()
_POSITIONAL = {"full": ("shape", "fill_value"), "arange": ("start", "end", "step"),
               "uniform": ("shape", "low", "high"), "normal": ("shape", "mean", "std"),
               "randint": ("shape", "low", "high"), "randperm": ("n",)}


@dataclass
class Call:
    """One recorded op call: ``out = op(*operands, **attrs)``; operands and attrs hold native
    arrays (recorded by identity), Python scalars, None, tuples and slices."""

    op: str
    operands: tuple
    attrs: dict
    out: Any
    module: str | None


@dataclass
class Trace:
    calls: list[Call] = field(default_factory=list)
    keep: list = field(default_factory=list)  # every array seen: ids stay unique
    depth: int = 0
    modules: list[str] = field(default_factory=list)
    host_reads: dict = field(default_factory=dict)  # id(array) -> module that read it


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, (int, float))


def _wrapper(name: str, fn: Callable, state: Trace, dev, exportable: Callable[[str], bool]):
    op = OPS.get(name)

    def run(*operands, **attrs):
        if state.depth:
            return fn(*operands, **attrs)
        module = state.modules[-1] if state.modules else None
        if exportable(name, attrs) or op is None or op.decomposition is None:
            if not exportable(name, attrs):
                raise UnsupportedOpError(name, module, "it has no ONNX mapping and no "
                                                       "decomposition")
            state.depth += 1
            try:
                out = fn(*operands, **attrs)
            finally:
                state.depth -= 1
            state.keep.extend((operands, attrs, out))
            attrs = dict(attrs)
            if name in _POSITIONAL:  # creation kernels take their attributes positionally
                attrs.update(zip(_POSITIONAL[name], operands))
                operands = ()
            state.calls.append(Call(name, operands, attrs, out, module))
            return out
        args = [wrap(a, dev) if _is_array(a) else a for a in operands]
        with corefw.no_grad():
            out = op.decomposition(*args, **attrs)
        return out._data if isinstance(out, corefw.Tensor) else out

    return run


def trace(model, args: tuple, kwargs: dict, dev, exportable: Callable[[str, dict], bool]):
    """Run ``model(*args, **kwargs)`` under no_grad with ``dev``'s kernel table capturing;
    returns ``(outputs, Trace)``. Module names are tracked with forward hooks."""
    state = Trace()
    table = device_of(dev).table
    names = {id(m): n for n, m in model.named_modules()} if isinstance(
        model, corefw.nn.Module) else {}
    handles = []

    def enter(mod, inp):
        state.modules.append(names.get(id(mod), "?") or type(mod).__name__)

    def leave(mod, inp, out):
        state.modules.pop()

    for _, m in model.named_modules() if names else ():
        handles.append(m.register_forward_pre_hook(enter))
        handles.append(m.register_forward_hook(leave))
    backend = device_of(dev).backend
    to_host = backend.to_host

    def spy(a):  # a host read of a traced value freezes it into the graph: noted
        state.host_reads.setdefault(id(a), state.modules[-1] if state.modules else None)
        state.keep.append(a)
        return to_host(a)

    own = vars(backend).get("to_host") if hasattr(backend, "__dict__") else None
    with _LOCK:
        saved = dict(table)
        table.update({k: _wrapper(k, f, state, dev, exportable) for k, f in saved.items()})
        try:  # a backend with __slots__ keeps its method: host reads then go unnoticed
            backend.to_host = spy
        except AttributeError:
            pass
        try:
            with corefw.no_grad():
                out = model(*args, **kwargs)
        finally:
            if own is not None:
                backend.to_host = own
            elif "to_host" in getattr(backend, "__dict__", {}):
                del backend.to_host  # the class's method shows again
            table.clear()
            table.update(saved)
            for h in handles:
                h.remove()
    return out, state
