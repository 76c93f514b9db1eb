"""Capture: run a function eagerly once while every kernel call is recorded.

For the duration of a trace each resolved device gets a capturing copy of its kernel table
(swapped in, swapped back after), so the hot path (:mod:`corefw._call`) is untouched and pays
nothing when no trace runs. Each outermost kernel call becomes a :class:`~._ir.Node`; arrays
are tracked by identity (kept alive for the trace, so ids stay unique). Reads of a tensor's
values into Python (``.item()``, ``bool(t)``, printing, ``.numpy()``: the backend's
``to_host``) are graph breaks, recorded with their reason and source line.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading

import numpy as np

from .. import dispatch
from .._registry import OPS
from .._tensor import Tensor
from ..errors import CorefwError
from ._ir import Node, Value

__all__ = ["GUARD_OPS", "GraphBreak", "GuardMiss", "Tracer", "source_line"]

#: Nodes that check, on replay, that a value the Python read while capturing is unchanged.
GUARD_OPS = frozenset({"guard", "host.guard"})

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_REASONS = {"item": "Tensor.item()", "__bool__": "bool(tensor)", "__float__": "float(tensor)",
            "__int__": "int(tensor)", "__repr__": "printing a tensor", "__str__":
            "printing a tensor", "__format__": "formatting a tensor", "numpy": "Tensor.numpy()",
            "tolist": "Tensor.tolist()", "__array__": "numpy.asarray(tensor)",
            "__index__": "using a tensor as an index"}


class GraphBreakError(CorefwError, RuntimeError):
    """``fullgraph=True`` and the function reads a tensor's values into Python."""


_PLAIN = (float, int, bool)


def _unlift(a):
    return float.__float__(a) if hasattr(a, "__corefw_lift__") else a


_UNWRAPPED: dict = {}


def _arrays_of(kernel):
    """``kernel`` returning the arrays of the tensors it returns (one wrapper per kernel, so
    two captures compare equal node by node)."""
    fn = _UNWRAPPED.get(kernel)
    if fn is None:
        def fn(*args, **kwargs):
            out = kernel(*args, **kwargs)
            return tuple(x._data if isinstance(x, Tensor) else x for x in out)
        fn.__name__ = getattr(kernel, "__name__", "kernel")
        _UNWRAPPED[kernel] = fn
    return fn


class GuardMiss(Exception):
    """A replay found a value the captured Python read (a graph break) changed: the call must
    run the function again (see _compiled). Raised before anything was written."""

    def __init__(self, reason: str, line: str) -> None:
        super().__init__(f"{reason} at {line}")
        self.reason, self.line = reason, line


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        except TypeError:
            return bool(np.array_equal(a, b))
    return a == b or a != a and b != b  # NaN reads equal


def read_guard(to_host, expected, args: tuple, kwargs: dict, reason: str, line: str):
    """The kernel of a ``guard`` node: re-read the array, compare with the capture's read."""
    def guard(arr):
        if not _same(to_host(arr, *args, **kwargs), expected):
            raise GuardMiss(reason, line)
    guard.__name__ = "guard_read"
    guard.reason = reason
    return guard


def host_guard(fn, expected, reason: str, line: str):
    """The kernel of a ``host.guard`` node: recompute ``fn`` of lifted scalars."""
    def guard(*args):
        args = [float.__float__(a) if isinstance(a, float) else a for a in args]
        if not _same(fn(*args), expected):
            raise GuardMiss(reason, line)
    guard.__name__ = f"guard_{getattr(fn, '__name__', 'host')}"
    guard.reason = reason
    return guard


class GraphBreak:
    """Where and why capture had to stop: ``reason``, ``line`` and the node index."""

    __slots__ = ("reason", "line", "at")

    def __init__(self, reason: str, line: str, at: int) -> None:
        self.reason, self.line, self.at = reason, line, at

    def __repr__(self) -> str:
        return f"GraphBreak({self.reason!r} at {self.line})"


def source_line(skip_internal: bool = True) -> tuple[str, str]:
    """(``file:line: code`` of the innermost user frame, name of the corefw function it
    called)."""
    f = sys._getframe(1)
    inner = ""
    while f is not None:
        path = os.path.abspath(f.f_code.co_filename)
        if not path.startswith(_PKG):
            code = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
            return f"{os.path.basename(path)}:{f.f_lineno}: {code}", inner
        inner = f.f_code.co_name
        f = f.f_back
    return "?", inner


def is_array(a) -> bool:
    """A native array (not a Python or NumPy scalar)."""
    return hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, np.generic)


class Tracer:
    """Records the kernel calls of one eager run (see the module docstring)."""

    def __init__(self, fullgraph: bool = False, lines: bool = True) -> None:
        self.values: dict[int, Value] = {}
        self.keep: list = []
        self.nodes: list[Node] = []
        self.breaks: list[GraphBreak] = []
        self.depth = 0
        self.tid = threading.get_ident()
        self.fullgraph = fullgraph
        self.lines = lines
        self.ops = OPS
        self._saved: list = []
        self.refused: str | None = None  # why this trace cannot become a plan (see refuse)

    # -- values -------------------------------------------------------------------------
    def new_value(self, arr, kind: str = "tmp") -> Value:
        v = Value(len(self.keep), tuple(arr.shape) if is_array(arr) else None,
                  getattr(arr, "dtype", None) if is_array(arr) else None, kind)
        self.keep.append(arr)
        self.values[id(arr)] = v
        return v

    def void(self) -> Value:
        """The (unused) result Value of a guard node."""
        self.keep.append(None)
        return Value(len(self.keep) - 1)

    def input(self, arr) -> Value:
        """The Value of an array the caller passes in (an input of the graph)."""
        v = self.values.get(id(arr))
        return v if v is not None else self.new_value(arr, "input")

    def encode(self, a):
        if hasattr(a, "__corefw_lift__") and a._value is not None and \
                self.values.get(id(a)) is a._value:  # a lifted scalar of this trace
            return a._value
        if is_array(a):
            v = self.values.get(id(a))
            if v is None:
                v = self.new_value(a, "const")
                v.const = a
            return v
        if isinstance(a, (tuple, list)) and a and any(is_array(x) or isinstance(x, (tuple, list))
                                                      for x in a):
            out = [self.encode(x) for x in a]
            return out if isinstance(a, list) else tuple(out)
        return a

    def record(self, name, kernel, args, kwargs, out) -> None:
        if isinstance(out, tuple) and any(isinstance(x, Tensor) for x in out):
            # a decomposition runner's tuple of updated tensors (a fused optimizer step on a
            # backend without the kernel): the graph sees their arrays
            kernel = _arrays_of(kernel)
            out = tuple(x._data if isinstance(x, Tensor) else x for x in out)
        op = self.ops.get(name)
        mutates = bool(op is not None and op.inplace) or name.endswith("_")
        line = source_line()[0] if self.lines else ""
        node = Node(name, kernel, tuple(self.encode(a) for a in args),
                    {k: self.encode(v) for k, v in kwargs.items()}, self.new_value(out), line,
                    mutates)
        self.nodes.append(node)
        if isinstance(out, (tuple, list)):
            for i, item in enumerate(out):
                if is_array(item):
                    self.nodes.append(Node("getitem", None, (node.out, i), {},
                                           self.new_value(item), line))

    # -- installation -------------------------------------------------------------------
    def _wrap(self, name, fn):
        def capture(*args, **kwargs):
            if self.depth or threading.get_ident() != self.tid:
                return fn(*args, **kwargs)
            self.depth += 1
            try:
                if any(a.__class__ not in _PLAIN and hasattr(a, "__corefw_lift__")
                       for a in args) or \
                        any(a.__class__ not in _PLAIN and hasattr(a, "__corefw_lift__")
                            for a in kwargs.values()):  # lifted scalars: kernels get floats
                    out = fn(*[_unlift(a) for a in args],
                             **{k: _unlift(a) for k, a in kwargs.items()})
                else:
                    out = fn(*args, **kwargs)
            finally:
                self.depth -= 1
            self.record(name, fn, args, kwargs, out)
            return out
        return capture

    def _host_reader(self, fn):
        def to_host(arr, *args, **kwargs):
            if not self.depth and threading.get_ident() == self.tid and self.refused is None:
                line, inner = source_line()
                reason = _REASONS.get(inner, f"reading a tensor's values in Python ({inner})")
                if self.fullgraph:
                    raise GraphBreakError(
                        f"corefw.compile(fullgraph=True): graph break at {line}: {reason}. "
                        f"Keep the value a tensor (e.g. corefw.where instead of if), move it "
                        f"out of the compiled function, or compile with fullgraph=False")
                self.breaks.append(GraphBreak(reason, line, len(self.nodes)))
                host = fn(arr, *args, **kwargs)
                expected = np.array(host, copy=True) if isinstance(host, np.ndarray) else host
                self.nodes.append(Node("guard", read_guard(fn, expected, args, kwargs, reason,
                                                           line), (self.encode(arr),), {},
                                       self.void(), line))
                return host
            return fn(arr, *args, **kwargs)
        return to_host

    def refuse(self, reason: str) -> None:
        """Something no graph can hold ran (a collective: a replay would skip the
        communication): a graph break, and the capture is refused, so the function runs
        eagerly. Under ``fullgraph=True`` it raises here."""
        if self.depth or threading.get_ident() != self.tid:
            return
        line = source_line()[0] if self.lines else ""
        if self.fullgraph:
            raise GraphBreakError(f"corefw.compile(fullgraph=True): graph break at {line}: "
                                  f"{reason}")
        self.breaks.append(GraphBreak(reason, line, len(self.nodes)))
        if self.refused is None:
            self.refused = f"{reason} (at {line})"

    def guard_host(self, fn, args: tuple, result, reason: str) -> None:
        """Record that Python used lifted scalars (``fn(*args) == result``): a break."""
        line = source_line()[0] if self.lines else ""
        if self.fullgraph:
            raise GraphBreakError(f"corefw.compile(fullgraph=True): graph break at {line}: "
                                  f"{reason}")
        self.breaks.append(GraphBreak(reason, line, len(self.nodes)))
        self.nodes.append(Node("host.guard", host_guard(fn, result, reason, line),
                               tuple(self.encode(a) for a in args), {}, self.void(),
                               line))

    def __enter__(self) -> Tracer:
        backends = {}
        for devs in dispatch._DEVICES.values():
            for dev in devs:
                if dev.table is None:
                    continue
                self._saved.append((dev, dev.table))
                dev.table = {name: self._wrap(name, fn) for name, fn in dev.table.items()}
                backends[id(dev.backend)] = dev.backend
        for backend in backends.values():
            orig = backend.to_host
            own = "to_host" in getattr(backend, "__dict__", {})
            try:
                backend.to_host = self._host_reader(orig)
            except (AttributeError, TypeError):  # a slotted backend: no break detection
                continue
            self._saved.append((backend, (orig, own)))
        return self

    def __exit__(self, *exc) -> None:
        for obj, saved in reversed(self._saved):
            if isinstance(saved, tuple):  # a backend's to_host
                orig, own = saved
                if own:
                    obj.to_host = orig
                else:
                    del obj.to_host  # the instance attribute set above
            else:
                obj.table = saved
        self._saved.clear()
