"""The cpu code generator: one Python function of direct NumPy calls per captured graph.

``replay`` calls one kernel (a Python function around NumPy) per node and allocates every
result. On small models that Python is most of the time. :func:`codegen` emits the NumPy
calls themselves, from the per-op templates of :mod:`corefw_cpu._templates`, into one
generated function:

* results go into buffers **preallocated at compile time** (``out=``), and a buffer is reused
  once every value living in it is dead (in place when an elementwise op's operand dies there);
* identity movement ops (a reshape or expand to the shape the array has, an identity permute)
  are dropped, size-0 work is not special-cased;
* creation ops without tensor operands (``full``, ``arange``) are computed once, at compile
  time, when nothing writes into their result or returns it;
* ops without a template call their kernel, as ``replay`` does.

Safety rules, which the tests check: a value the graph returns (or that one of its results
may alias) is never in a preallocated buffer -- it is a fresh array on every call, so a
returned tensor is never overwritten by the next call; a kernel's result is taken to alias
every array it was given (a view is kept alive with its base); buffers are only used where
every shape is known when compiling (not in dynamic-batch graphs, nor after an op whose
result shape depends on data). The same NumPy operations run in the same order as in the
kernels, so results are bit-identical to eager (docs/compile.md).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from corefw.compiler import Graph, Value

from ._templates import match, same_kernel

__all__ = ["codegen", "generate"]

_LITERALS = (bool, int, str, type(None))
#: Kernels of the cpu table whose result shape depends on the data, not on shapes.
_DATA_SHAPED = frozenset({"nonzero", "index", "repeat_interleave"})
#: The plugin's own rewritten nodes (_compile, fuse): their results have their inputs' shapes.
_SHAPED_FUSED = frozenset({"cross_entropy_fwd_bwd", "fused"})
#: Kernels (the cpu table's, or the plugin's rewritten nodes) whose results are new arrays,
#: never views of an operand: their results neither alias nor keep alive their operands.
_FRESH = frozenset({"cross_entropy_fwd_bwd", "cross_entropy", "nll_loss", "softmax",
                    "log_softmax", "where", "cast", "clone", "fused"})
#: Zero-operand creation ops that may be computed once at compile time.
_CREATION = frozenset({"full", "arange"})


def _table() -> dict:
    """The cpu backend's kernels (node kernels are compared with them by identity)."""
    from corefw.plugins import backends

    from .backend import NumpyBackend

    be = backends().get("cpu")
    return be.kernels if isinstance(be, NumpyBackend) else {}


def _plain(dtype) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "biufc"


class _Emit:
    """What a template sees of the generator for one node."""

    def __init__(self, gen: _Gen, node, out: str | None, escapes: bool) -> None:
        self.gen, self.node, self.out, self.escapes = gen, node, out, escapes
        self.var = f"v{node.out.id}"
        self.scratches: list = []
        self.items: dict[int, str] = {}  # tuple item -> the buffer it is in

    def x(self, a) -> str:
        return self.gen.expr(a)

    def g(self, obj, prefix: str) -> str:
        return self.gen.bind(obj, prefix)

    def static(self, v) -> bool:
        return isinstance(v, Value) and self.gen.is_static(v)

    def c(self, v) -> bool:
        """Whether ``v`` is laid out in C order (so a C-order buffer matches NumPy's)."""
        return isinstance(v, Value) and self.gen.is_c(v)

    def alias(self, v) -> list[str]:
        self.gen.names[id(self.node.out)] = self.gen.expr(v)
        return []

    def out_view(self, dtype: str) -> str:
        return self.gen.bind(self.gen.buffers[self.out].view(dtype), "bv")

    def const_value(self, v):
        """The array of ``v`` when it is the same on every call, else None."""
        if v.kind == "const":
            return v.const
        name = self.gen.names.get(id(v))
        arr = self.gen.env.get(name) if name else None
        return arr if isinstance(arr, np.ndarray) and not arr.flags.writeable else None

    def keep(self, shape: tuple, dtype, item: int) -> str | None:
        """A buffer for item ``item`` of this node's tuple result (None: it is returned, so
        it must be a fresh array)."""
        gen = self.gen
        got = gen.getitems.get(id(self.node.out), {}).get(item)
        if not gen.static_graph or got is None or id(got) in gen.escape:
            return None
        name = gen.take(tuple(shape), np.dtype(dtype))
        self.items[item] = name
        return name

    def dying(self, v) -> str | None:
        """The buffer ``v`` fills, when ``v`` dies at this node and nothing else lives in
        it (the node may then overwrite it once it has read ``v``)."""
        gen = self.gen
        b = gen.direct.get(id(v)) if isinstance(v, Value) else None
        if b is None or gen.last.get(id(v)) != gen.index or gen.holders.get(b) != {id(v)} or \
                sum(a is v for a in self.node.values()) != 1:  # read once by this node
            return None
        return b

    def scratch(self, shape: tuple, dtype) -> str:
        name = self.gen.take(tuple(shape), np.dtype(dtype))
        self.scratches.append(name)
        return name


class _Gen:
    def __init__(self, graph: Graph, table: dict, buffers: bool = True) -> None:
        self.graph, self.table = graph, table
        self.corder: dict[int, bool] = {}  # value -> laid out in C order (see _layout)
        self.env: dict = {}
        self.names: dict[int, str] = {}
        self.counter = 0
        self.buffers: dict[str, np.ndarray] = {}  # name -> preallocated array
        self.pool: dict[tuple, list[str]] = {}    # (shape, dtype) -> free buffer names
        self.refs: dict[int, frozenset] = {}      # value -> buffers it may alias
        self.direct: dict[int, str] = {}          # value -> the buffer it fills exactly
        self.holders: dict[str, set] = {}         # buffer -> live values aliasing it
        self.shaped: dict[int, bool] = {}         # value -> shape known when compiling
        self.index = 0                             # the node being emitted
        self.emitted = False                       # ... through its template
        self.c_items: dict[int, bool] = {}         # tuple value -> its items are C order
        nodes = graph.nodes
        self.static_graph = buffers and all(v.shape is not None for v in graph.inputs)
        self.last: dict[int, int] = {}
        for i, n in enumerate(nodes):
            for v in n.values():
                self.last[id(v)] = i
        for v in graph.outputs:
            self.last[id(v)] = len(nodes)
        self.getitems: dict[int, dict] = {}  # tuple value -> {index: item value}
        for n in nodes:
            if n.op == "getitem":
                self.getitems.setdefault(id(n.args[0]), {})[n.args[1]] = n.out
        self.item_refs: dict[int, dict] = {}
        # templates only over NumPy's own dtypes (bfloat16 kernels compute in float32)
        self.kinds = [match(n, table) if n.op != "getitem" and all(
            v.dtype is None or _plain(v.dtype) for v in n.values() + [n.out]) else None
            for n in nodes]
        self.escape = self._backward(graph.outputs)
        self.written = self._backward([v for n in nodes if n.mutates for v in n.values()])

    # -- analysis -------------------------------------------------------------------------
    def _backward(self, seeds) -> set:
        """Values whose memory the seeds may share (through views and kernel results)."""
        marked = {id(v) for v in seeds}
        for n, kind in zip(reversed(self.graph.nodes), reversed(self.kinds)):
            if id(n.out) not in marked:
                continue
            if (kind is None or kind[0] in ("view", "mut")) and not self.fresh(n):
                marked.update(id(v) for v in n.values())
        return marked

    def fresh(self, n) -> bool:
        """Whether ``n``'s kernel returns new arrays (see _FRESH)."""
        return n.op in _FRESH and (same_kernel(self.table.get(n.op), n.kernel) or
                                   n.op in _SHAPED_FUSED)

    def is_c(self, v: Value) -> bool:
        if v.kind == "const":
            return bool(getattr(v.const, "flags", None) is not None and
                        v.const.flags.c_contiguous)
        if v.kind == "input":
            return self.static_graph  # the generated function checks it on every call
        return self.corder.get(id(v), False)

    def is_static(self, v: Value) -> bool:
        if v.kind == "const":
            return True
        if v.kind == "input":
            return self.static_graph and v.shape is not None
        return self.shaped.get(id(v), False)

    # -- naming ---------------------------------------------------------------------------
    def bind(self, obj, prefix: str) -> str:
        for k, v in self.env.items():  # one name per object (ufuncs, kernels)
            if v is obj and k.startswith(prefix):
                return k
        self.counter += 1
        key = f"{prefix}{self.counter}"
        self.env[key] = obj
        return key

    def expr(self, a) -> str:
        if isinstance(a, Value):
            if a.kind == "const":
                return self.bind(a.const, "c")
            return self.names.get(id(a), f"v{a.id}")
        if isinstance(a, tuple):
            inner = ", ".join(self.expr(x) for x in a)
            return f"({inner}{',' if len(a) == 1 else ''})"
        if isinstance(a, list):
            return f"[{', '.join(self.expr(x) for x in a)}]"
        if type(a) in _LITERALS or type(a) is float and math.isfinite(a):
            return repr(a)
        return self.bind(a, "a")

    # -- buffers --------------------------------------------------------------------------
    def take(self, shape: tuple, dtype) -> str:
        free = self.pool.get((shape, dtype))
        if free:
            return free.pop()
        name = f"b{len(self.buffers)}"
        self.buffers[name] = self.env[name] = np.empty(shape, dtype)
        return name

    def give(self, name: str) -> None:
        arr = self.buffers[name]
        self.pool.setdefault((arr.shape, arr.dtype), []).append(name)

    def _hold(self, v: Value, refs: frozenset) -> None:
        self.refs[id(v)] = refs
        for b in refs:
            self.holders.setdefault(b, set()).add(id(v))

    def _release(self, v) -> None:
        for b in self.refs.pop(id(v), ()):
            held = self.holders[b]
            held.discard(id(v))
            if not held:
                self.give(b)

    def _in_place(self, n, i: int) -> str | None:
        """A buffer of an operand that dies at node ``i`` and has the result's shape."""
        for a in n.args:
            if isinstance(a, Value) and a.kind == "tmp" and self.last.get(id(a)) == i and \
                    a.shape == n.out.shape and a.dtype == n.out.dtype:
                b = self.direct.get(id(a))
                if b is not None and self.holders.get(b) == {id(a)}:
                    return b
        return None

    # -- emission -------------------------------------------------------------------------
    def _call(self, n) -> str:
        k = self.bind(n.kernel, "k")
        args = [self.expr(a) for a in n.args] + [f"{kw}={self.expr(v)}"
                                                 for kw, v in n.kwargs.items()]
        return f"v{n.out.id} = {k}({', '.join(args)})  # {n.op}"

    def _union(self, n) -> frozenset:
        out: set = set()
        for v in n.values():
            out |= self.refs.get(id(v), frozenset())
        return frozenset(out)

    def _c_result(self, n) -> bool:
        """Whether NumPy would lay ``n``'s result out in C order: the result of a 2-D
        product always, an elementwise op's or a reduction's when its operands are (an
        allocation follows its operands' memory order, and a reduction's summation order
        follows it too, so a C buffer elsewhere could change bits)."""
        if n.op in ("matmul", "linear") and all(v.shape is not None and len(v.shape) == 2
                                                 for v in n.values()[:1]):
            return True
        return all(self.is_c(v) for v in n.values())

    def _layout(self, n, kind) -> bool:
        out = n.out
        if n.op == "getitem":
            return self.c_items.get(id(n.args[0]), False)
        if id(out) in self.names:  # an alias (dropped identity op) or a constant
            first = n.args[0] if n.args else None
            return self.is_c(first) if isinstance(first, Value) else True
        if kind is None:
            return False  # a kernel's result: its layout is the kernel's business
        k = kind[0]
        if k == "view":
            return n.op == "reshape" and self.is_c(n.args[0])
        if k == "mut":
            return False
        return self._c_result(n)

    def _node(self, i: int, n, lines: list) -> None:
        self._emit_node(i, n, lines)
        self.corder[id(n.out)] = self._layout(n, self.kinds[i] if self.emitted else None)

    def _emit_node(self, i: int, n, lines: list) -> None:
        self.emitted = False
        self.index = i
        out = n.out
        kind = self.kinds[i]
        args = n.values()
        if n.op == "getitem":
            lines.append(f"    v{out.id} = {self.expr(n.args[0])}[{n.args[1]!r}]")
            items = self.item_refs.get(id(n.args[0]))
            self._hold(out, items.get(n.args[1], frozenset()) if items is not None else
                       self.refs.get(id(n.args[0]), frozenset()))
            self.shaped[id(out)] = self.shaped.get(id(n.args[0]), False)
            return
        if n.op in _CREATION and not args and same_kernel(self.table.get(n.op), n.kernel) and \
                id(out) not in self.escape and id(out) not in self.written:
            arr = n.kernel(*n.args, **n.kwargs)  # computed once; read-only from now on
            arr.flags.writeable = False
            self.names[id(out)] = self.bind(arr, "c")
            self.shaped[id(out)] = True
            return
        static_args = all(self.is_static(v) for v in args)
        if kind is not None:
            k, template = kind
            buf = None
            if k in ("ew", "new") and self.static_graph and static_args and \
                    id(out) not in self.escape and _plain(out.dtype) and \
                    out.shape is not None and self._c_result(n):
                buf = (self._in_place(n, i) if k == "ew" else None) or \
                    self.take(out.shape, out.dtype)
            e = _Emit(self, n, buf, id(out) in self.escape)
            body = template(n, e)
            for s in e.scratches:
                self.give(s)
            if body is None:
                for b in e.items.values():
                    self.give(b)
            else:
                lines += [f"    {line}" for line in body]
                if k in ("view", "mut"):
                    self._hold(out, self._union(n))
                elif buf is not None:
                    self._hold(out, frozenset({buf}))
                    self.direct[id(out)] = buf
                elif e.items:  # a tuple whose items are in buffers
                    self.item_refs[id(out)] = {k: frozenset({b}) for k, b in e.items.items()}
                    self._hold(out, frozenset(e.items.values()))
                self.shaped[id(out)] = static_args
                self.emitted = True
                if e.items:  # the cross-entropy's items have its logits' layout
                    self.c_items[id(out)] = self.is_c(n.args[0])
                return
            if buf is not None and not self.holders.get(buf):
                self.give(buf)
        lines.append(f"    {self._call(n)}")
        self._hold(out, frozenset() if self.fresh(n) else self._union(n))
        self.shaped[id(out)] = static_args and (n.op in _SHAPED_FUSED or (
            n.op not in _DATA_SHAPED and same_kernel(self.table.get(n.op), n.kernel)))

    def source(self, name: str = "run") -> str:
        g = self.graph
        lines = [f"def {name}(inputs):"]
        if g.inputs:
            names = ", ".join(f"v{v.id}" for v in g.inputs)
            lines.append(f"    {names}{',' if len(g.inputs) == 1 else ''} = inputs")
        dying: dict[int, list] = {}
        for n in g.nodes:
            dying.setdefault(self.last.get(id(n.out), -1), []).append(n.out)
        for i, n in enumerate(g.nodes):
            self._node(i, n, lines)
            if self.last.get(id(n.out), -1) == -1:
                self._release(n.out)  # never read: its buffer is free again
            for v in dying.get(i, ()):
                self._release(v)
        lines.append(f"    return [{', '.join(self.expr(v) for v in g.outputs)}]")
        return "\n".join(lines) + "\n"


def generate(graph: Graph, table: dict | None = None) -> tuple[str, dict]:
    """(source of ``def run(inputs)`` for ``graph``, its globals).

    Where it uses preallocated buffers, ``run`` first checks that its array inputs are
    C-contiguous (the layout the buffers were planned for: guards do not cover memory
    layout) and that no other thread is running it, and otherwise calls ``slow``, the same
    program with fresh arrays only."""
    table = _table() if table is None else table
    gen = _Gen(graph, table)
    src = gen.source()
    if not gen.buffers:
        return src, gen.env
    slow = _Gen(graph, table, buffers=False)
    slow_src = slow.source("slow")
    exec(compile(slow_src, "<corefw_cpu codegen>", "exec"), slow.env)  # noqa: S102
    gen.env["slow"] = slow.env["slow"]
    arrays = [f"v{v.id}.flags.c_contiguous" for v in graph.inputs
              if v.shape is not None and len(v.shape) > 1]
    head, body = src.split("\n", 1)
    unpack, rest = body.split("\n", 1) if graph.inputs else ("", body)
    check = f"    if not ({' and '.join(arrays)}):\n        return slow(inputs)\n" if arrays \
        else ""
    # the buffers are this function's: a call while another thread runs it takes the
    # fresh-array version instead of sharing them
    lock = threading.Lock()
    gen.env["acquire"], gen.env["release"] = lock.acquire, lock.release
    guarded = "".join(f"    {line}\n" for line in rest.rstrip("\n").split("\n"))
    src = (f"{head}\n{unpack + chr(10) if unpack else ''}{check}"
           f"    if not acquire(False):\n        return slow(inputs)\n    try:\n{guarded}"
           f"    finally:\n        release()\n")
    return src, gen.env


def codegen(graph: Graph):
    """Compile ``graph`` into one generated function ``run(inputs) -> outputs``."""
    src, env = generate(graph)
    exec(compile(src, "<corefw_cpu codegen>", "exec"), env)  # noqa: S102 - generated above
    run = env["run"]
    run.source = src
    run.buffers = sum(1 for k in env if k.startswith("b") and k[1:].isdigit())
    return run
