"""``corefw.compiler.explain(fn, *args)``: what a capture of ``fn`` sees (PyTorch's
``torch._dynamo.explain``): graphs, graph breaks with their reasons and source lines, ops per
graph. It runs ``fn`` once, eagerly, under a trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._ir import Graph, subgraph
from ._trace import GraphBreak

__all__ = ["ExplainOutput", "explain"]


@dataclass
class ExplainOutput:
    """The result of :func:`explain`; ``print()`` it for a report."""

    graphs: list[Graph] = field(default_factory=list)
    breaks: list[GraphBreak] = field(default_factory=list)
    out: object = None

    @property
    def graph_count(self) -> int:
        """Number of graphs (segments between breaks that run at least one op)."""
        return len(self.graphs)

    @property
    def graph_break_count(self) -> int:
        """Number of graph breaks."""
        return len(self.breaks)

    @property
    def ops_per_graph(self) -> list[list[str]]:
        """The op names of each graph, in order (kernels: not the guards and host scalar
        arithmetic that connect the graphs)."""
        return [[n.op for n in g.nodes if n.op != "getitem" and not n.op.startswith("host.")
                 and n.op != "guard"] for g in self.graphs]

    def __str__(self) -> str:
        lines = [f"Graph Count: {self.graph_count}",
                 f"Graph Break Count: {self.graph_break_count}",
                 f"Op Count: {sum(len(o) for o in self.ops_per_graph)}", "Break Reasons:"]
        for i, b in enumerate(self.breaks, 1):
            lines.append(f"  Break Reason {i}: {b.reason}\n    at {b.line}")
        lines.append("Ops per Graph:")
        for i, ops in enumerate(self.ops_per_graph, 1):
            lines.append(f"  Graph {i}: {len(ops)} ops: {', '.join(ops)}")
        return "\n".join(lines)


def explain(fn, *args, **kwargs) -> ExplainOutput:
    """Trace ``fn(*args, **kwargs)`` once (it runs, eagerly) and report graphs and breaks."""
    from ._common import trace_scope

    with trace_scope(False) as tr:
        out = fn(*args, **kwargs)
    cuts = [0] + [b.at for b in tr.breaks] + [len(tr.nodes)]
    graphs = []
    for lo, hi in zip(cuts, cuts[1:]):
        nodes = tr.nodes[lo:hi]
        if any(not n.op.startswith("host.") and n.op not in ("guard", "getitem")
               for n in nodes):
            outs = [n.out for n in nodes]
            graphs.append(subgraph(nodes, outs))
    from ._capture import plain_floats

    return ExplainOutput(graphs, list(tr.breaks), plain_floats(out))
