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

import warnings

from .._graph.grad_mode import STATE
from .._tensor import Tensor
from ._capture import capture
from ._common import LOCAL, CompileWarning
from ._dynamic import batch_change, make_dynamic, wild_key
from ._fastpath import MISS, build
from ._state import State, find_roots
from ._trace import GuardMiss

__all__ = ["CompileWarning", "CompiledFunction"]

_SCALARS = (int, float, bool, str, type(None))
#: Captures of one guard key that differ in the values read at graph breaks (paths through
#: the function's data-dependent Python) before it runs eagerly.
PATHS_LIMIT = 4
#: Captures replaced for a change of optimizer hyperparameters before they ever ran, in a
#: row, after which a call with hyperparameters new since the last call runs eagerly: an lr
#: set on every step would otherwise be a capture (an eager run under a trace, and a
#: compile) on every step, several times slower than eager.
CHURN_LIMIT = 3


_NAMES = tuple(f"argument {i}" for i in range(64))
_DEVICES: dict = {}  # id(device) -> device, to name it in messages (devices are interned)


def _visit(a, where, tensors: list, key: list, depth: int = 0) -> None:
    if isinstance(a, Tensor):
        tensors.append(a)
        d = a._data
        dev = a._dev
        if id(dev) not in _DEVICES:
            _DEVICES[id(dev)] = dev
        key.append((where, d.shape, d.dtype, id(dev), a._req))  # id: devices hash in Python
    elif a.__class__ in _SCALARS:
        key.append((where, a.__class__, a))
    elif depth == 0 and isinstance(a, (tuple, list)):
        for i, x in enumerate(a):
            _visit(x, f"{where}[{i}]", tensors, key, 1)
    else:
        key.append((where, id(a)))


def _flat_inputs(args, kwargs) -> tuple[list, tuple]:
    """(tensors among the arguments, in order; the guard key of the arguments)."""
    tensors: list = []
    key: list = []
    for i, a in enumerate(args):
        _visit(a, _NAMES[i] if i < 64 else f"argument {i}", tensors, key)
    for k, a in kwargs.items():
        _visit(a, f"argument {k!r}", tensors, key)
    if len(tensors) > 1:  # which arguments are the same tensor
        seen: dict = {}
        key.append(("aliasing of tensor arguments",
                    tuple([seen.setdefault(id(t), i) for i, t in enumerate(tensors)])))
    return tensors, tuple(key)


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
        self.dynamic_cache: dict = {}  # argument positions -> {key without batch dim: plan}
        self.recompiles: list[str] = []  # the guard that failed, per recompile
        self.breaks: list = []
        self.eager_keys: set = set()
        self.paths: dict = {}  # key -> other captures of it (other values read at breaks)
        self.attempts: dict = {}
        self._warned = False
        self._churn = 0  # see CHURN_LIMIT
        self._churn_key = None
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __deepcopy__(self, memo):
        """A copy compiles afresh (captures name the original's tensors)."""
        import copy

        return CompiledFunction(copy.deepcopy(self.fn, memo), self.compiler, self.backend,
                                self.fullgraph, self.dynamic, self.cache_limit)

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
    fast = None  # the fast path of the capture hit last (see _fastpath)

    def __call__(self, *args, **kwargs):
        fast = self.fast
        if fast is not None:
            out = fast(args, kwargs)
            if out is not MISS:
                return out
        if getattr(LOCAL, "tracing", False) or STATE.overrides or STATE.provenance:
            # nested in a capture, or explainers' VJP overrides / module provenance in effect
            # (a captured backward would not follow them): eager
            return self.fn(*args, **kwargs)
        tensors, akey = _flat_inputs(args, kwargs)
        if self.state is None:
            self.state = find_state(self.fn, args, kwargs)
        state_tensors = self.state.tensors
        skey = self.state.signature()
        key = (akey, STATE.enabled, skey)
        plan = self.cache.get(key)
        static = plan is not None
        if plan is None and self.dynamic_cache:
            for positions, plans in self.dynamic_cache.items():
                plan = plans.get(wild_key(key, positions))
                if plan is not None:
                    break
        if plan is not None and plan.valid():
            try:
                out = plan.run(tensors, self.fn, args, kwargs)
            except GuardMiss as miss:  # a graph break read another value: nothing was written
                return self._guard_miss(key, plan, miss, tensors, args, kwargs)
            plan.hits += 1
            if static and not kwargs and self.state.tensors is state_tensors:
                self._use_fast_path(plan, key, len(args))
            return out
        if key in self.eager_keys:
            return self.fn(*args, **kwargs)
        return self._miss(key, tensors, args, kwargs)

    def _use_fast_path(self, plan, key, n_args: int) -> None:
        """Make ``plan``'s fast path the one tried first (built on its first hit)."""
        fast = plan.fast
        if fast is None:
            fast = plan.fast = build(plan, key, self.state, n_args, self.fn) or False
        self.fast = fast or None

    def _guard_miss(self, key, plan, miss, tensors, args, kwargs):
        """Another path through the graph breaks: try the other captures of this key (most
        recent first), else capture this path too (at most ``PATHS_LIMIT`` per key)."""
        paths = self.paths.setdefault(key, [])
        for i, alt in enumerate(paths):
            if not alt.valid():
                continue
            try:
                out = alt.run(tensors, self.fn, args, kwargs)
            except GuardMiss:
                continue
            paths[i] = plan  # the plan that hit becomes the first one tried
            if self.cache.get(key) is plan:
                self.cache[key] = alt
            return out
        if len(paths) + 1 >= PATHS_LIMIT or key not in self.cache:
            if key not in self.eager_keys:
                self.eager_keys.add(key)
                warnings.warn(f"corefw.compile({self.__name__}): running eagerly: graph break "
                              f"at {miss.line} ({miss.reason}) read a different value in "
                              f"{len(paths) + 1} captures; a value that changes on every call "
                              f"(a loss printed or logged) belongs outside the compiled "
                              f"function", CompileWarning, stacklevel=3)
            self.cache.pop(key, None)
            return self.fn(*args, **kwargs)
        new, out, reason = capture(self, tensors, args, kwargs)
        if new is not None:
            paths.append(plan)
            self.cache[key] = new
        else:
            self.eager_keys.add(key)
            self.cache.pop(key, None)
            warnings.warn(f"corefw.compile({self.__name__}): running eagerly: {reason}",
                          CompileWarning, stacklevel=3)
        return out

    def _why(self, key) -> str:
        """The failing guard, against the closest cached capture."""
        if not self.cache:
            return "first call"
        best = min((_diffs(old, key) for old in self.cache), key=len)
        return best[0] if best else "a parameter, buffer or optimizer param list was replaced"

    def _try_dynamic(self, key, plan, tensors) -> None:
        """A second batch size: make the capture dynamic if the two agree (see _dynamic)."""
        for old_key, old in self.cache.items():
            change = batch_change(old_key, key)
            if change is None:
                continue
            b_old, b_new, positions = change
            akey = key[0]
            # the batch tensor's index among the distinct tensor arguments of the plan
            n = sum(1 for e in akey[:positions[0]] if len(e) == 5)
            if n not in plan.arg_pos:
                continue
            dyn = make_dynamic(old, plan, b_old, b_new, plan.arg_pos.index(n), self.compiler)
            if dyn is not None:
                self.dynamic_cache.setdefault(positions, {})[wild_key(key, positions)] = dyn
            return

    def _miss(self, key, tensors, args, kwargs):
        self.fast = None
        why = self._why(key)
        stale = [k for k in self.cache if _only_hyperparameters(k, key)]
        if stale and self._churning(stale, key, why):
            return self.fn(*args, **kwargs)
        if self.cache:
            self.recompiles.append(why)
        for old in stale:
            del self.cache[old]  # an LR schedule: replace the capture, do not fill the cache
        if len(self.cache) >= self.cache_limit:
            if not self._warned:
                self._warned = True
                warnings.warn(f"corefw.compile({self.__name__}): cache limit "
                              f"({self.cache_limit}) reached; guard failed: {why}. Running "
                              f"eagerly from now on for new guard values", CompileWarning,
                              stacklevel=3)
            self.eager_keys.add(key)
            return self.fn(*args, **kwargs)
        plan, out, reason = capture(self, tensors, args, kwargs)
        if plan is not None:
            if self.dynamic is not False and not plan.guarded:
                self._try_dynamic(key, plan, tensors)
            self.cache[key] = plan
            return out
        n = self.attempts[key] = self.attempts.get(key, 0) + 1
        if reason != "unsteady" or n >= 3:
            self.eager_keys.add(key)
            if reason not in ("graph break", "unsteady") or n >= 3:
                warnings.warn(f"corefw.compile({self.__name__}): running eagerly: {reason}",
                              CompileWarning, stacklevel=3)
        return out

    def _churning(self, stale: list, key, why: str) -> bool:
        """Whether this call should run eagerly because hyperparameters change on every call
        (see ``CHURN_LIMIT``). Once they hold still for two calls, the function is captured
        again (an epoch schedule, or the end of a warm-up)."""
        self._churn = 0 if any(self.cache[k].hits for k in stale) else self._churn + 1
        if self._churn < CHURN_LIMIT or key == self._churn_key:
            return False
        if self._churn_key is None:
            warnings.warn(f"corefw.compile({self.__name__}): {why} changed on each of the "
                          f"last {self._churn} calls (an lr schedule stepped every call?), so "
                          f"no capture was ever replayed; running such calls eagerly. A "
                          f"tensor lr, which schedulers fill in place, needs no new capture: "
                          f"Adam(params, lr=corefw.tensor(1e-3)) (docs/optim.md)",
                          CompileWarning, stacklevel=4)
        self._churn_key = key
        return True


def _only_hyperparameters(old, key) -> bool:
    diffs = _diffs(old, key)
    return bool(diffs) and all(d.startswith("hyperparameters of optimizer") for d in diffs)


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
        return (f"shape {tuple(entry[1])} {entry[2]} on {_DEVICES.get(entry[3], '?')}, "
                f"requires_grad={entry[4]}")
    return repr(entry[-1])


def find_state(fn, args, kwargs) -> State:
    """The :class:`State` of ``fn`` (see :mod:`._state`)."""
    return State(find_roots(fn, args, kwargs))
