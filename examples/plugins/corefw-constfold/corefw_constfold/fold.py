"""Constant folding over corefw's captured Graph, written against its public IR."""

from __future__ import annotations

from corefw.compiler import Graph, Value, replay

RANDOM = {"uniform", "normal", "randint", "bernoulli", "multinomial"}


def fold(graph: Graph) -> tuple[Graph, int]:
    """(a graph whose constant nodes are constants, how many nodes were folded)."""
    outputs = {id(v) for v in graph.outputs}
    mutated = {id(v) for n in graph.nodes if n.mutates for v in n.values()}
    kept, folded = [], 0
    for n in graph.nodes:
        values = n.values()
        if (n.op not in RANDOM and not n.mutates and n.op != "getitem" and
                id(n.out) not in outputs and id(n.out) not in mutated and
                all(v.kind == "const" for v in values)):
            args = [_const(a) for a in n.args]
            kwargs = {k: _const(a) for k, a in n.kwargs.items()}
            n.out.kind, n.out.const = "const", n.kernel(*args, **kwargs)
            folded += 1
            continue
        kept.append(n)
    return Graph(graph.inputs, kept, graph.outputs, graph.device, dict(graph.meta)), folded


def _const(a):
    if isinstance(a, Value):
        return a.const
    if isinstance(a, (tuple, list)):
        return type(a)(_const(x) for x in a)
    return a


def constfold(graph: Graph):
    """The ``constfold`` compiler: :func:`fold`, then corefw's ``replay``."""
    folded, count = fold(graph)
    run = replay(folded)
    run.folded = count
    return run
