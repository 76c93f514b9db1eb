"""Lazy arrays: kernels are recorded, and every run of them between two reads of a value is
one ``jax.jit`` executable.

Eager JAX compiles one XLA executable per (kernel, shapes, dtypes, attributes) it meets: a
backward pass on new shapes costs one compile per VJP op, 20-70 ms each on a CPU, and a
forward pass one per kernel. Here a kernel call returns a :class:`LazyArray` at once: its
shape and dtype come from ``jax.eval_shape`` (a trace, no compile; cached per signature), so
the core, which reads only ``shape``, ``dtype``, ``ndim`` and ``size`` of a native array,
goes on. When a value is needed (``to_host``, a host bounds check, a kernel that must run
eagerly) or :data:`LIMIT` calls are pending, :meth:`Engine.sync` replays every pending call
whose result is still referenced, as one ``jax.jit`` function of the graph's inputs: one
compile for a whole forward or backward, cached by the graph's structure (kernels, static
attributes, which result feeds which operand) and its inputs' shapes and dtypes, so the same
code on new values reuses it. Results nobody holds any more are computed inside the graph
and never stored.

Every kernel is still JAX's: the graph is the kernels' own ``jax.numpy``/``lax`` code traced
in order. ``xla_allow_excess_precision`` is off, so a float16 or bfloat16 value is rounded
after every kernel as it is eagerly, not kept in float32 across a fused chain. A graph is
compiled cheaply first (:data:`COLD_OPTIONS`: most run once, on a new shape) and again with
XLA's optimisations once it has run :data:`HOT` times (a training step).

What still runs eagerly: the host random streams (backend.py), and a call whose arguments
cannot be keyed (an unhashable attribute) or whose result is not one array. Value-dependent
shapes (``nonzero``, boolean masks) read a count first, then record a kernel of that size.
"""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from collections.abc import Callable

import numpy as np

from ._jit import _SCALARS, SMALL_OPTIONS, _decode, _Eager, _encode, _Tok

__all__ = ["COLD_OPTIONS", "HOT", "HOT_OPTIONS", "LIMIT", "Engine", "LazyArray"]

#: pending kernel calls after which the engine syncs on its own (bounds a graph's size, and
#: the memory its inputs hold, when nothing is read for a long time)
LIMIT = 1000
#: XLA options for a graph's first runs: per-kernel rounding kept (module doc) and the cheapest
#: compile (_jit.py's options for small kernels: no fusion emitters, no LLVM optimisation):
#: most graphs run once or twice (a new shape), so their compile is what they cost
COLD_OPTIONS = {**SMALL_OPTIONS, "xla_allow_excess_precision": False}
#: ... and once a graph has run HOT times with the same signature (a training loop's step):
#: compiled again with XLA's optimisations, for its speed from then on. Not sooner: a graph
#: that runs a few times (the conformance kit re-runs some) would pay two compiles, and an
#: optimised one costs 2-4 cheap ones
HOT_OPTIONS = {"xla_allow_excess_precision": False}
HOT = 8

#: lowerings that share one MLIR context (see _Lowering)
CONTEXT_USES = 200

_ENGINE: list = []  # the process's engine, made by the first backend built


class _Lowering:
    """While the engine compiles a graph: JAX's lowering reuses one MLIR context for up to
    :data:`CONTEXT_USES` lowerings (JAX makes a new one for each, about 7 ms with its dialects:
    a third of a small graph's lowering), and writes a file:line location per operation instead
    of a full traceback. Neither changes the program XLA compiles. Both reach into JAX's
    internals, so both are optional: where a JAX release moved them, graphs compile as they
    would with ``jax.jit``, only slower."""

    def __init__(self) -> None:
        try:
            from jax._src import config
            from jax._src.interpreters import mlir

            self.mlir, self.make = mlir, mlir.make_ir_context
            self.locations = config.include_full_tracebacks_in_locations
        except (ImportError, AttributeError):
            self.mlir = None
        self.context, self.uses = None, 0

    def _context(self):
        if self.context is None or self.uses >= CONTEXT_USES:  # bounded: a context only grows
            self.context, self.uses = self.make(), 0
        self.uses += 1
        return self.context

    @contextlib.contextmanager
    def __call__(self):
        if self.mlir is None:
            yield
            return
        self.mlir.make_ir_context = self._context
        try:
            with self.locations(False):
                yield
        finally:
            self.mlir.make_ir_context = self.make


class _Node:
    """One recorded kernel call (``fn``, static ``spec``, dynamic ``args``: nodes, arrays or
    Python scalars) and its result's signature; ``value`` once computed (then the recipe is
    dropped, so the graph behind it can be freed)."""

    __slots__ = ("fn", "spec", "args", "value", "sig")

    def __init__(self, fn, spec, args, sig, value=None) -> None:
        self.fn, self.spec, self.args, self.sig, self.value = fn, spec, args, sig, value


class LazyArray:
    """The ``jax`` backend's native array: a JAX array now or later (module doc).

    ``shape``, ``dtype``, ``ndim`` and ``size`` are known at once; anything that needs the
    values (``numpy.asarray``, ``jax.numpy`` functions, DLPack) computes them first."""

    __slots__ = ("_node", "shape", "dtype", "ndim", "__weakref__")

    def __init__(self, node: _Node) -> None:
        self._node = node
        self.shape, self.dtype = node.sig[0], node.sig[1]
        self.ndim = len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def weak_type(self) -> bool:
        return self._node.sig[2]

    def value(self):
        """The ``jax.Array`` (computed now, with everything pending, if it is not yet)."""
        node = self._node
        if node.value is None:
            _ENGINE[0].sync()
        return node.value

    def __jax_array__(self):
        return self.value()

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.value())
        return out if dtype is None else out.astype(dtype, copy=False)

    # Python scalars of a 0-d or 1-element array (the core reads a few, e.g. index bounds)
    def __int__(self) -> int:
        return int(self.value())

    def __float__(self) -> float:
        return float(self.value())

    def __bool__(self) -> bool:
        return bool(self.value())

    def __index__(self) -> int:
        return self.value().__index__()

    def __dlpack__(self, **kwargs):
        return self.value().__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.value().__dlpack_device__()

    def __repr__(self) -> str:
        state = "pending" if self._node.value is None else "computed"
        return f"LazyArray(shape={self.shape}, dtype={self.dtype}, {state})"


def _apply(fn, spec, dyn):
    args, kwargs = _decode(spec, dyn)
    return fn(*args, **dict(kwargs))


def _replay(leaves: list, graph: tuple) -> list:
    """The traced function of a graph: ``graph`` (static) is ``(nodes, outputs)``, each node
    ``(fn, spec, refs)`` with ``refs`` an earlier node's position or ``~i`` for leaf ``i``."""
    nodes, outputs = graph
    vals: list = []
    for fn, spec, refs in nodes:
        vals.append(_apply(fn, spec, [leaves[~r] if r < 0 else vals[r] for r in refs]))
    return [vals[i] for i in outputs]


def _concrete(v):
    """``v`` with every LazyArray (also inside keys) replaced by its value."""
    t = type(v)
    if t is LazyArray:
        return v.value()
    if t is tuple or t is list:
        return t(_concrete(e) for e in v)
    if t is slice:
        return slice(_concrete(v.start), _concrete(v.stop), _concrete(v.step))
    return v


def _inline(v):
    """``v`` with every LazyArray replaced by its value inside an outer ``jax.jit`` trace: a
    pending one is evaluated from its recipe into that trace (a kernel recorded there without
    a traced operand, e.g. ``full``), not synced (the engine's jit cannot nest in another)."""
    t = type(v)
    if t is LazyArray:
        return _recipe(v._node)
    if t is tuple or t is list:
        return t(_inline(e) for e in v)
    if t is slice:
        return slice(_inline(v.start), _inline(v.stop), _inline(v.step))
    return v


def _recipe(node: _Node):
    if node.value is not None:
        return node.value
    return _apply(node.fn, node.spec, [_recipe(a) if type(a) is _Node else a
                                       for a in node.args])


class Engine:
    """Records kernel calls and runs them as graphs (module doc); one per process."""

    def __init__(self, jax, limit: int = LIMIT) -> None:
        self.jax = jax
        self.limit = limit
        self.pending: list = []  # weak references to the handles of calls since the last sync
        self.shapes: dict = {}  # (fn, spec, operand signatures) -> result signature or None
        self.lock = threading.RLock()
        self.graphs = 0  # graphs run (a compile only for a new structure or signature)
        self.runs: dict = {}  # (graph, input signatures) -> runs so far (HOT)
        self._cold = jax.jit(_replay, static_argnums=1, compiler_options=COLD_OPTIONS)
        self._hot = jax.jit(_replay, static_argnums=1, compiler_options=HOT_OPTIONS)
        self._tracer = jax.core.Tracer
        self._lowering = _Lowering()

    @classmethod
    def get(cls, jax) -> Engine:
        if not _ENGINE:
            _ENGINE.append(cls(jax))
        return _ENGINE[0]

    # -- values in and out --------------------------------------------------------------------
    def wrap(self, value) -> LazyArray:
        """A computed ``jax.Array`` as a :class:`LazyArray`."""
        if type(value) is LazyArray:
            return value
        return LazyArray(_Node(None, None, None, (value.shape, np.dtype(value.dtype),
                                                  bool(getattr(value, "weak_type", False))),
                               value))

    def eager(self, fn: Callable) -> Callable:
        """``fn`` run now on computed operands (host random streams, data-dependent shapes);
        its array result wrapped."""

        def kernel(*args, **kwargs):
            out = fn(*_concrete(args), **{k: _concrete(v) for k, v in kwargs.items()})
            return self.wrap(out) if hasattr(out, "shape") else out

        kernel.__name__ = getattr(fn, "__name__", "kernel")
        kernel.__wrapped__ = fn
        return kernel

    # -- recording ----------------------------------------------------------------------------
    def lazy(self, fn: Callable, *, scalar_operands: bool = False) -> Callable:
        """``fn(*args, **attrs)`` recorded: arrays (also the index arrays inside keys) and, with
        ``scalar_operands``, positional Python scalars are the graph's operands; every other
        argument is static (shapes, dims, dtypes, slices), keyed by type and ``repr``."""
        run_eager = self.eager(fn)
        tracer = self._tracer

        def kernel(*args, **kwargs):
            dyn: list = []
            try:
                enc = []
                for a in args:
                    if scalar_operands and type(a) in _SCALARS:
                        dyn.append(a)
                        enc.append(_Tok("arg", len(dyn) - 1))
                    else:
                        enc.append(_encode(a, dyn, False))
                # a boolean array is an operand like any other, except as (part of) a key
                spec = (tuple(enc), tuple(sorted((k, _encode(v, dyn, k == "key"))
                                                 for k, v in kwargs.items())))
                hash(spec)
            except (_Eager, TypeError):  # a boolean mask (value-dependent shape), unhashable
                return run_eager(*args, **kwargs)
            sigs = []
            for d in dyn:
                t = type(d)
                if t is LazyArray:
                    sigs.append(d._node.sig)
                elif t in _SCALARS:
                    sigs.append(t)
                elif isinstance(d, tracer):  # inside corefw.compile's jax.jit: its graph
                    return fn(*_inline(args), **{k: _inline(v) for k, v in kwargs.items()})
                else:
                    sigs.append((d.shape, np.dtype(d.dtype), bool(getattr(d, "weak_type",
                                                                          False))))
            key = (fn, spec, tuple(sigs))
            try:
                sig = self.shapes[key]
            except KeyError:
                if len(self.shapes) > 100_000:  # bounded: a forgotten entry is one more trace
                    self.shapes.clear()
                sig = self.shapes[key] = self._signature(fn, spec, dyn)
            if sig is None:  # not one array out: run it now
                return run_eager(*args, **kwargs)
            node = _Node(fn, spec, [d._node if type(d) is LazyArray else d for d in dyn], sig)
            out = LazyArray(node)
            self.pending.append(weakref.ref(out))
            if len(self.pending) >= self.limit:
                self.sync()
            return out

        kernel.__name__ = getattr(fn, "__name__", "kernel")
        kernel.__wrapped__ = fn
        return kernel

    def _signature(self, fn, spec, dyn):
        """(shape, dtype, weak_type) of ``fn``'s result by ``jax.eval_shape`` (raises what the
        kernel raises for bad operands); None when the result is not one array."""
        sds = self.jax.ShapeDtypeStruct
        abstract = []
        for d in dyn:
            if type(d) in _SCALARS:
                abstract.append(d)
            else:
                weak = d._node.sig[2] if type(d) is LazyArray else bool(
                    getattr(d, "weak_type", False))
                abstract.append(sds(d.shape, d.dtype, weak_type=weak))
        out = self.jax.eval_shape(lambda xs: _apply(fn, spec, xs), abstract)
        if not isinstance(out, sds):
            return None
        return (tuple(out.shape), np.dtype(out.dtype), bool(out.weak_type))

    # -- running ------------------------------------------------------------------------------
    def sync(self) -> None:
        """Compute every pending result that is still referenced, as one graph."""
        with self.lock:
            pending, self.pending = self.pending, []
            roots = []
            for ref in pending:
                h = ref()
                if h is not None and h._node.value is None:
                    roots.append(h._node)
            if not roots:
                return
            try:
                self._run(roots)
            except BaseException:
                self.pending[:0] = pending  # nothing was computed: still pending
                raise

    def _run(self, roots: list) -> None:
        order: dict = {}  # id(node) -> position in `entries`
        entries: list = []
        leaves: list = []
        leaf_at: dict = {}  # id(array) -> leaf position (an array used twice is one input)

        def leaf(v) -> int:
            if type(v) in _SCALARS:  # by value, never shared: the structure must not depend
                leaves.append(v)     # on whether two equal scalars are one object
                return ~(len(leaves) - 1)
            i = leaf_at.get(id(v))
            if i is None:
                i = leaf_at[id(v)] = len(leaves)
                leaves.append(v)
            return ~i

        for root in roots:
            stack = [(root, False)]
            while stack:
                n, ready = stack.pop()
                if id(n) in order:
                    continue
                if not ready:
                    stack.append((n, True))
                    stack.extend((a, False) for a in reversed(n.args)
                                 if type(a) is _Node and a.value is None
                                 and id(a) not in order)
                    continue
                refs = []
                for a in n.args:
                    if type(a) is not _Node:
                        refs.append(leaf(a))
                    elif a.value is None:
                        refs.append(order[id(a)])
                    else:
                        refs.append(leaf(a.value))
                order[id(n)] = len(entries)
                entries.append((n.fn, n.spec, tuple(refs)))
        graph = (tuple(entries), tuple(order[id(r)] for r in roots))
        key = (graph, tuple(type(v) if type(v) in _SCALARS else
                            (v.shape, v.dtype, getattr(v, "weak_type", False)) for v in leaves))
        runs = self.runs[key] = self.runs.get(key, 0) + 1
        if len(self.runs) > 100_000:  # bounded: a forgotten count only costs a cold compile
            self.runs.clear()
        with self._lowering():
            values = (self._hot if runs > HOT else self._cold)(leaves, graph)
        self.graphs += 1
        for node, value in zip(roots, values):
            node.value, node.args, node.spec = value, None, None
