"""``corefw.compile(fn, backend="jax")``: a captured graph on the ``jax`` device becomes one
``jax.jit`` function, so XLA fuses the whole step and a call costs one dispatch.

Built on the core's ``replay`` compiler (a flat Python function of the graph's kernel calls),
which ``jax.jit`` traces once per input shapes and dtypes. The indexing kernels (``gather``,
``index`` ...; also inside a composite's decomposition, e.g. ``embedding``) check their
indices on the host, as eager does, since JAX would clamp them: under the trace they defer the
check (``backend.DEFERRED``) and the jitted function returns those indices too; the check runs
on them after the call, before any result is used, so an out-of-range index raises eager's
``IndexError`` and the step writes nothing. Random draws whose arguments are only shapes and
numbers (dropout's ``uniform`` mask, ``randn``, ``randperm``) run before the call, in graph
order, on the host stream as eager draws them, and enter the jitted function as inputs: the
values and the stream stay eager's. A graph that cannot be traced runs as plain replay: one
with a kernel that reads values on the host (``nonzero``, a boolean mask, a draw whose
arguments are graph values), one on another device (Adam's default step counter lives on cpu:
pass ``capturable=True``), or one whose trace fails. The callable's ``jitted`` and
``reason`` attributes say which, and why.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["jax_jit"]

#: kernels that draw from the host random stream
RANDOM = frozenset({"uniform", "normal", "randint", "randperm", "bernoulli", "multinomial"})
#: kernels that cannot run under a trace: host random streams, data-dependent shapes
UNTRACEABLE = RANDOM | {"nonzero"}


def _reads_graph_values(a, value_type) -> bool:
    if isinstance(a, (tuple, list)):
        return any(_reads_graph_values(x, value_type) for x in a)
    if isinstance(a, dict):
        return any(_reads_graph_values(x, value_type) for x in a.values())
    return isinstance(a, value_type)


def _hoistable(node, value_type) -> bool:
    """A draw whose arguments are only shapes and numbers: it can run before the jitted call."""
    return node.op in RANDOM and not _reads_graph_values((node.args, node.kwargs), value_type)


def jax_jit(graph) -> Callable[[list], list]:
    """The ``jax`` compiler: ``jax.jit`` over the replayed ``graph`` (see the module doc)."""
    from corefw.compiler import Graph, Value, replay

    run = replay(graph)
    device = getattr(graph.device, "type", graph.device)
    hoist = [_hoistable(n, Value) for n in graph.nodes]
    draws = [n for n, h in zip(graph.nodes, hoist) if h]
    rest = [n for n, h in zip(graph.nodes, hoist) if not h]
    blocked = sorted({n.op for n in rest if n.op in UNTRACEABLE})
    if device not in (None, "jax") or blocked:
        run.jitted = False
        run.reason = (f"the graph is on {device}" if device not in (None, "jax") else
                      "a kernel reads values on the host: " + ", ".join(blocked))
        return run
    # the draws become inputs: ``program`` is the graph without them, fed their values
    program = replay(Graph(graph.inputs + [n.out for n in draws], rest, graph.outputs,
                          graph.device, dict(graph.meta))) if draws else run
    import jax
    import numpy as np

    from ._lazy import Engine, LazyArray, _inline
    from .backend import DEFERRED

    wrap = Engine.get(jax).wrap
    templates: list = []  # the deferred checks of the last trace: (check, treedef, leaves)

    def jitted(inputs):
        DEFERRED.checks = deferred = []
        try:  # a result made in the trace from constants only is still pending: inline it
            out = [_inline(o) for o in program(inputs)]
        finally:
            DEFERRED.checks = None
        traced, templates[:] = [], []
        for check, args in deferred:
            leaves, tree = jax.tree_util.tree_flatten(args)
            slots = [isinstance(leaf, jax.core.Tracer) for leaf in leaves]
            traced.extend(leaf for leaf, slot in zip(leaves, slots) if slot)
            templates.append((check, tree, [_SLOT if slot else leaf
                                            for leaf, slot in zip(leaves, slots)]))
        return out, traced

    state = {"fn": jax.jit(jitted)}

    def compiled(inputs: list) -> list:
        fn = state["fn"]
        if fn is run:
            return run(inputs)
        # the draws first, in graph order: only they read the random stream, so the values
        # (and the stream left behind) are eager's
        inputs = [*inputs, *[n.kernel(*n.args, **n.kwargs) for n in draws]]
        for c in consts:  # a pending constant cannot be computed inside the trace
            c.value()
        try:  # the graph's inputs computed first (lazy arrays: _lazy.py), its outputs wrapped
            out, values = fn([x.value() if type(x) is LazyArray else x for x in inputs])
        except Exception as exc:  # noqa: BLE001 - the trace failed (a kernel read a traced
            state["fn"] = run     # value, a boolean mask ...): replay from now on, this
            compiled.jitted, compiled.reason = False, f"{type(exc).__name__}: {exc}"
            return program(inputs)  # call with its draws; raises what eager would
        given = iter(values)  # the deferred checks, on this call's values
        for check, tree, leaves in templates:
            args = [np.asarray(next(given)) if leaf is _SLOT else leaf for leaf in leaves]
            check(*jax.tree_util.tree_unflatten(tree, args))
        return [wrap(o) if hasattr(o, "shape") else o for o in out]

    consts = [v.const for n in graph.nodes for v in n.values()
              if v.kind == "const" and type(v.const) is LazyArray]
    compiled.source = getattr(program, "source", None)
    compiled.jitted, compiled.reason = True, None
    return compiled


_SLOT = object()  # where a traced value sat among a deferred check's arguments

