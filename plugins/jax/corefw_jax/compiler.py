"""``corefw.compile(fn, backend="jax")``: a captured graph on the ``jax`` device becomes one
``jax.jit`` function, so XLA fuses the whole step and a call costs one dispatch.

Built on the core's ``replay`` compiler (a flat Python function of the graph's kernel calls),
which ``jax.jit`` traces once per input shapes and dtypes. A graph that cannot be traced runs
as plain replay: one with a kernel that reads values on the host (random streams, ``nonzero``,
the bounds-checked indexing kernels), one on another device, or one whose trace fails.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["jax_jit"]

#: kernels that cannot run under a trace: host random streams, data-dependent shapes, index
#: bounds checks that read the indices
UNTRACEABLE = frozenset({"uniform", "normal", "randint", "randperm", "bernoulli",
                         "multinomial", "nonzero", "index", "index_put", "index_put_",
                         "gather", "scatter_add"})


def jax_jit(graph) -> Callable[[list], list]:
    """The ``jax`` compiler: ``jax.jit`` over the replayed ``graph`` (see the module doc)."""
    from corefw.compiler import replay

    run = replay(graph)
    device = getattr(graph.device, "type", graph.device)
    if device not in (None, "jax") or any(n.op in UNTRACEABLE for n in graph.nodes):
        return run
    import jax

    from ._lazy import Engine, LazyArray

    wrap = Engine.get(jax).wrap
    state = {"fn": jax.jit(run)}

    def compiled(inputs: list) -> list:
        fn = state["fn"]
        if fn is run:
            return run(inputs)
        try:  # the graph's inputs computed first (lazy arrays: _lazy.py), its outputs wrapped
            out = fn([x.value() if type(x) is LazyArray else x for x in inputs])
            return [wrap(o) if hasattr(o, "shape") else o for o in out]
        except jax.errors.JAXTypeError:  # a kernel read a traced value: replay from now on
            state["fn"] = run
            return run(inputs)

    compiled.source = getattr(run, "source", None)
    return compiled
