"""``corefw.compile(fn, backend="jax")``: a captured graph on the ``jax`` device becomes one
``jax.jit`` function, so XLA fuses the whole step and a call costs one dispatch.

Built on the core's ``replay`` compiler (a flat Python function of the graph's kernel calls),
which ``jax.jit`` traces once per input shapes and dtypes. The indexing kernels (``gather``,
``index`` ...; also inside a composite's decomposition, e.g. ``embedding``) check their
indices on the host, as eager does, since JAX would clamp them: under the trace they defer the
check (``backend.DEFERRED``) and the jitted function returns those indices too; the check runs
on them after the call, before any result is used, so an out-of-range index raises eager's
``IndexError`` and the step writes nothing. A graph that cannot be traced runs as plain
replay: one with a kernel that reads values on the host (random streams, ``nonzero``, a
boolean mask), one on another device, or one whose trace fails.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["jax_jit"]

#: kernels that cannot run under a trace: host random streams, data-dependent shapes
UNTRACEABLE = frozenset({"uniform", "normal", "randint", "randperm", "bernoulli",
                         "multinomial", "nonzero"})


def jax_jit(graph) -> Callable[[list], list]:
    """The ``jax`` compiler: ``jax.jit`` over the replayed ``graph`` (see the module doc)."""
    from corefw.compiler import replay

    run = replay(graph)
    device = getattr(graph.device, "type", graph.device)
    if device not in (None, "jax") or any(n.op in UNTRACEABLE for n in graph.nodes):
        return run
    import jax

    from ._lazy import Engine, LazyArray
    from .backend import DEFERRED

    wrap = Engine.get(jax).wrap
    templates: list = []  # the deferred index checks of the last trace, values as _Slot

    def jitted(inputs):
        DEFERRED.checks = deferred = []
        try:
            out = run(inputs)
        finally:
            DEFERRED.checks = None
        templates[:] = [_template(op, key, shape) for op, key, shape in deferred]
        return out, [p for _, key, _ in deferred for p in _parts(key) if _traced(p)]

    state = {"fn": jax.jit(jitted)}

    def compiled(inputs: list) -> list:
        fn = state["fn"]
        if fn is run:
            return run(inputs)
        try:  # the graph's inputs computed first (lazy arrays: _lazy.py), its outputs wrapped
            out, indices = fn([x.value() if type(x) is LazyArray else x for x in inputs])
        except Exception:  # noqa: BLE001 - the trace failed (a kernel read a traced value,
            state["fn"] = run  # a boolean mask ...): replay from now on; replay raises what
            return run(inputs)  # eager would
        _check(templates, indices)
        return [wrap(o) if hasattr(o, "shape") else o for o in out]

    compiled.source = getattr(run, "source", None)
    return compiled


def _parts(key) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _traced(p) -> bool:
    from jax.core import Tracer

    return isinstance(p, Tracer)


class _Slot:
    """Where a traced index array sat in a deferred check's key."""


def _template(op: str, key, shape) -> tuple:
    return op, tuple(_Slot if _traced(p) else p for p in _parts(key)), tuple(shape)


def _check(templates: list, indices: list) -> None:
    """The eager bounds check (backend._check_bounds: its IndexError and message) on the
    index values a jitted call returned."""
    import numpy as np

    from .backend import _check_bounds

    values = iter(indices)
    for op, template, shape in templates:
        key = tuple(np.asarray(next(values)) if p is _Slot else p for p in template)
        _check_bounds(key, shape, op)
