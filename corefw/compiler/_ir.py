"""The captured graph handed to a compiler: a small, printable IR of kernel calls.

A :class:`Graph` is a straight-line program over native arrays: its ``inputs`` (values the
caller passes in, in order), its ``nodes`` (one kernel call each, in execution order) and its
``outputs``. Every :class:`Value` carries the shape and dtype it had when traced. A node keeps
the op's name, the resolved kernel it called (the device's table entry), the positional
arguments and keyword attributes (:class:`Value` where an array flowed, plain Python otherwise)
and the source line of the user code that called it. ``print(graph)`` shows it::

    graph(%0: float32[32, 64], %1: float32[128, 64]):
      %2 = matmul(%0, %3)            float32[32, 128]   # model.py:12
      ...
      return (%7,)

A compiler (see :func:`corefw.compiler.register_compiler`) turns a Graph into a callable
``run(inputs: list) -> list`` of native arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Graph", "Node", "Value"]

#: Ops whose kernels change state other than their result: never removed, never reordered.
RANDOM_OPS = frozenset({"uniform", "normal", "randint", "randperm", "bernoulli", "multinomial"})


#: Guards (see _trace): they produce nothing anyone reads, but must run.
KEPT = frozenset({"guard", "host.guard"})


@dataclass(eq=False)
class Value:
    """One array in the graph: ``%id`` with the shape and dtype seen while tracing."""

    id: int
    shape: tuple | None = None
    dtype: Any = None
    kind: str = "tmp"  # tmp | input | const
    const: Any = None  # the array, for kind == "const"

    def __repr__(self) -> str:
        return f"%{self.id}"

    def type_str(self) -> str:
        """``float32[32, 128]`` (or ``?`` for a non-array value)."""
        if self.shape is None:
            return "?"
        return f"{getattr(self.dtype, 'name', self.dtype)}[{', '.join(map(str, self.shape))}]"


@dataclass(eq=False)
class Node:
    """One kernel call: ``outputs[0] = kernel(*args, **kwargs)``; ``op == "getitem"`` picks
    element ``args[1]`` of a tuple result."""

    op: str
    kernel: Callable | None
    args: tuple
    kwargs: dict
    out: Value
    line: str = ""
    mutates: bool = False  # an in-place kernel: writes into its array operands

    def values(self) -> list[Value]:
        """The Values this node reads."""
        found: list[Value] = []
        _collect(self.args, found)
        _collect(tuple(self.kwargs.values()), found)
        return found


def _collect(obj, found: list) -> None:
    for a in obj:
        if isinstance(a, Value):
            found.append(a)
        elif isinstance(a, (tuple, list)):
            _collect(a, found)


def _fmt(a) -> str:
    if isinstance(a, (tuple, list)):
        inner = ", ".join(_fmt(x) for x in a)
        return f"[{inner}]" if isinstance(a, list) else f"({inner}{',' if len(a) == 1 else ''})"
    if isinstance(a, type):
        return a.__name__
    return repr(a)


@dataclass(eq=False)
class Graph:
    """A captured straight-line program (see the module docstring)."""

    inputs: list[Value]
    nodes: list[Node]
    outputs: list[Value]
    device: Any = None
    meta: dict = field(default_factory=dict)

    def __str__(self) -> str:
        head = ", ".join(f"{v}: {v.type_str()}" for v in self.inputs)
        lines = [f"graph({head}):"]
        for n in self.nodes:
            args = ", ".join([_fmt(a) for a in n.args] +
                             [f"{k}={_fmt(v)}" for k, v in n.kwargs.items()])
            call = f"  {n.out} = {n.op}({args})"
            where = f"   # {n.line}" if n.line else ""
            lines.append(f"{call:<58} {n.out.type_str()}{where}")
        lines.append(f"  return ({', '.join(map(repr, self.outputs))}"
                     f"{',' if len(self.outputs) == 1 else ''})")
        return "\n".join(lines)

    __repr__ = __str__

    def op_counts(self) -> dict[str, int]:
        """How many nodes call each op."""
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


def subgraph(nodes: list[Node], outputs: list[Value], device=None) -> Graph:
    """The graph computing ``outputs`` from ``nodes`` (in order): nodes nobody reads and
    that change nothing are dropped; every value read but not produced here is an input (a
    constant array stays a constant)."""
    live = {id(v) for v in outputs}
    kept = []
    for n in reversed(nodes):
        if n.mutates or n.op in RANDOM_OPS or n.op in KEPT or id(n.out) in live:
            kept.append(n)
            for v in n.values():
                live.add(id(v))
    kept.reverse()
    made = {id(n.out) for n in kept}
    inputs: list[Value] = []
    seen: set[int] = set()
    for n in kept:
        for v in n.values():
            if id(v) not in made and id(v) not in seen and v.kind != "const":
                seen.add(id(v))
                inputs.append(v)
    for v in outputs:
        if id(v) not in made and id(v) not in seen and v.kind != "const":
            seen.add(id(v))
            inputs.append(v)
    inputs.sort(key=lambda v: v.id)
    return Graph(inputs, kept, list(outputs), device)
