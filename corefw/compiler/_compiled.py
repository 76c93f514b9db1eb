"""A compiled function: guards, a bounded cache of captures, and the replay of one capture.

A call computes the guard key (input shapes, dtypes, devices, ``requires_grad``, Python scalar
arguments, grad mode, the state facts of :mod:`._state`) and looks it up. A miss traces the
function (an eager run, so its results are returned as they are) and turns the trace into a
:class:`Plan`: the forward graph, and when the result needs a gradient the backward graph
(traced with ``autograd.grad`` as one joint plan, like AOTAutograd), each compiled by the
chosen compiler. A hit runs the plan: gather input arrays, run, write back ``.grad`` and
versions, wrap the outputs.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

from .._graph.grad_mode import STATE
from .._tensor import Tensor, wrap
from ._ir import subgraph
from ._state import State, find_roots
from ._trace import Tracer

__all__ = ["CompileWarning", "CompiledFunction"]

_LOCAL = threading.local()  # .tracing: a capture runs on this thread (nested calls go eager)
_SCALARS = (int, float, bool, str, type(None))


class CompileWarning(RuntimeWarning):
    """corefw.compile gave up on a guard, a capture or a feature and runs eagerly."""


def _flat_inputs(args, kwargs) -> tuple[list, tuple]:
    """(tensors among the arguments, in order; the guard key of the arguments)."""
    tensors: list = []
    key: list = []

    def visit(a, where: str, depth: int = 0) -> None:
        if isinstance(a, Tensor):
            tensors.append(a)
            d = a._data
            key.append((where, d.shape, d.dtype, a._dev, a._req))
        elif isinstance(a, _SCALARS):
            key.append((where, a.__class__, a))
        elif depth == 0 and isinstance(a, (tuple, list)):
            for i, x in enumerate(a):
                visit(x, f"{where}[{i}]", 1)
        else:
            key.append((where, id(a)))

    for i, a in enumerate(args):
        visit(a, f"argument {i}")
    for k, a in kwargs.items():
        visit(a, f"argument {k!r}")
    if len(tensors) > 1:  # which arguments are the same tensor
        seen: dict = {}
        key.append(("aliasing of tensor arguments",
                    tuple([seen.setdefault(id(t), i) for i, t in enumerate(tensors)])))
    return tensors, tuple(key)


def _leaves(outs, stop: dict) -> list:
    """Tensors requiring grad that the graphs of ``outs`` end at: leaves, and inputs whose
    node was made before the capture (``stop``: id of that node -> the input tensor)."""
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    todo = []
    for t in outs:
        if t._node is None or id(t._node) in stop:
            found[id(t)] = t
        else:
            todo.append(t._node)
    while todo:
        node = todo.pop()
        node = getattr(node, "node", node)  # an output reference of a multi-output node
        if id(node) in seen:
            continue
        seen.add(id(node))
        for e in node.next:
            if e is None:
                continue
            if isinstance(e, Tensor):
                found[id(e)] = e
            elif id(e) in stop:
                found[id(stop[id(e)])] = stop[id(e)]
            else:
                todo.append(e)
    return list(found.values())


class Plan:
    """One capture: compiled graphs and how to feed them and use their results."""

    def __init__(self) -> None:
        self.sources: list = []      # per forward input: (kind, index)
        self.fwd = None
        self.bwd = None
        self.graphs: list = []
        self.writes: list = []       # (tensor, "grad"|"data", out position | None)
        self.bumps: list = []        # (tensor, version delta)
        self.outs: list = []         # per output leaf: ("v", pos, req) | ("obj", x) | ("c", x)
        self.tree = None
        self.bwd_sources: list = []  # per backward input: ("out", pos) | ("gout", k)
        self.targets: list = []      # tensors the backward returns gradients for
        self.req_pos: list = []      # output positions that carry the joint node
        self.identity: list = []
        self.state_tensors: list = []
        self.n_args = 0
        self.arg_pos: list = []      # positions of the distinct tensors among the arguments

    def valid(self) -> bool:
        for store, k, obj in self.identity:
            cur = store.get(k)
            if isinstance(obj, tuple):
                if len(cur) != len(obj) or any(a is not b for a, b in zip(cur, obj)):
                    return False
            elif cur is not obj:
                return False
        return True

    def run(self, arg_tensors, fn, args, kwargs):
        tensors = [arg_tensors[j] for j in self.arg_pos] + self.state_tensors
        inputs = []
        for kind, i in self.sources:
            t = tensors[i]
            inputs.append(t._data if kind == "data" else t._grad._data)
        res = self.fwd(inputs)
        for t, what, pos in self.writes:
            if what == "grad":
                t._grad = None if pos is None else wrap(res[pos], t._dev)
            else:
                t._data = res[pos]
        for t, d in self.bumps:
            if t._vc is None:
                t._vc = [d]
            else:
                t._vc[0] += d
        leaves = []
        for kind, x, dev in self.outs:
            if kind == "v":
                leaves.append(wrap(res[x], dev))
            else:
                leaves.append(x)
        if self.req_pos and STATE.enabled:
            from ._joint import attach

            attach(self, res, leaves, fn, args, kwargs, tensors)
        return _unflatten(self.tree, leaves)


def _flatten(out) -> tuple[list, object]:
    if isinstance(out, (tuple, list)):
        parts = [_flatten(x) for x in out]
        leaves = [leaf for p in parts for leaf in p[0]]
        return leaves, (type(out), [p[1] for p in parts])
    if isinstance(out, dict):
        parts = [_flatten(x) for x in out.values()]
        leaves = [leaf for p in parts for leaf in p[0]]
        return leaves, (dict, list(out), [p[1] for p in parts])
    return [out], None


def _unflatten(tree, leaves: list, pos: list | None = None):
    pos = [0] if pos is None else pos
    if tree is None:
        pos[0] += 1
        return leaves[pos[0] - 1]
    if tree[0] is dict:
        return {k: _unflatten(t, leaves, pos) for k, t in zip(tree[1], tree[2])}
    items = [_unflatten(t, leaves, pos) for t in tree[1]]
    return tree[0](items) if tree[0] in (tuple, list) else tree[0](*items)


class CompiledFunction:
    """``corefw.compile(fn)``: call it like ``fn``."""

    def __init__(self, fn, compiler, name: str, fullgraph: bool, dynamic, cache_limit: int):
        self.fn = fn
        self.compiler = compiler
        self.backend = name
        self.fullgraph = fullgraph
        self.dynamic = dynamic
        self.cache_limit = cache_limit
        self.cache: dict = {}
        self.recompiles: list[str] = []  # the guard that failed, per recompile
        self.breaks: list = []
        self.eager_keys: set = set()
        self.attempts: dict = {}
        self._warned = False
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __get__(self, obj, objtype=None):  # decorating a method
        if obj is None:
            return self
        bound = self.__dict__.setdefault("_bound", {})
        cf = bound.get(id(obj))
        if cf is None:
            cf = bound[id(obj)] = CompiledFunction(
                self.fn.__get__(obj, objtype), self.compiler, self.backend, self.fullgraph,
                self.dynamic, self.cache_limit)
        return cf

    state = None

    def __call__(self, *args, **kwargs):
        if getattr(_LOCAL, "tracing", False):
            return self.fn(*args, **kwargs)
        tensors, akey = _flat_inputs(args, kwargs)
        if self.state is None:
            self.state = find_state(self.fn, args, kwargs)
        skey = self.state.signature()
        key = (akey, STATE.enabled, skey)
        plan = self.cache.get(key)
        if plan is not None and plan.valid():
            return plan.run(tensors, self.fn, args, kwargs)
        if key in self.eager_keys:
            return self.fn(*args, **kwargs)
        return self._miss(key, tensors, args, kwargs)

    def _why(self, key) -> str:
        """The failing guard, against the closest cached capture."""
        if not self.cache:
            return "first call"
        best = min((_diffs(old, key) for old in self.cache), key=len)
        return best[0] if best else "a parameter, buffer or optimizer param list was replaced"

    def _miss(self, key, tensors, args, kwargs):
        why = self._why(key)
        if self.cache:
            self.recompiles.append(why)
        if len(self.cache) >= self.cache_limit:
            if not self._warned:
                self._warned = True
                warnings.warn(f"corefw.compile({self.__name__}): cache limit "
                              f"({self.cache_limit}) reached; guard failed: {why}. Running "
                              f"eagerly from now on for new guard values", CompileWarning,
                              stacklevel=3)
            self.eager_keys.add(key)
            return self.fn(*args, **kwargs)
        from ._capture import capture

        plan, out, reason = capture(self, tensors, args, kwargs)
        if plan is not None:
            self.cache[key] = plan
            return out
        n = self.attempts[key] = self.attempts.get(key, 0) + 1
        if reason != "unsteady" or n >= 3:
            self.eager_keys.add(key)
            if reason not in ("graph break", "unsteady") or n >= 3:
                warnings.warn(f"corefw.compile({self.__name__}): running eagerly: {reason}",
                              CompileWarning, stacklevel=3)
        return out


def _diffs(old, key) -> list[str]:
    (oa, og, os_), (na, ng, ns) = old, key
    out = []
    if og != ng:
        out.append(f"grad mode (was {'enabled' if og else 'disabled'})")
    if len(oa) != len(na):
        out.append(f"number of arguments ({len(na)}, was {len(oa)})")
    out += [f"{n[0]}: {_describe(n)} (was {_describe(o)})" for o, n in zip(oa, na) if o != n]
    out += [n[0] for o, n in zip(os_, ns) if o != n]
    return out


def _describe(entry) -> str:
    if len(entry) == 5:
        return f"shape {tuple(entry[1])} {entry[2]} on {entry[3]}, requires_grad={entry[4]}"
    return repr(entry[-1])


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


class _Scope:
    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def __enter__(self) -> Tracer:
        _LOCAL.tracing = True
        return self.tracer.__enter__()

    def __exit__(self, *exc) -> None:
        _LOCAL.tracing = False
        self.tracer.__exit__(*exc)


def find_state(fn, args, kwargs) -> State:
    """The :class:`State` of ``fn`` (see :mod:`._state`)."""
    return State(find_roots(fn, args, kwargs))
