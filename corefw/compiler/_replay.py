"""The core's ``replay`` compiler: a Graph becomes one generated Python function that calls
the resolved kernels in order (no dispatch, no Tensor wrappers, no graph recording).

Each node becomes one line ``v7 = k3(v2, v5, axis=1)``; kernels, constant arrays and any
attribute that has no literal form are bound as globals of the generated function, so a call
costs one Python function call per kernel and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._ir import Graph, Value

__all__ = ["replay", "generate_source"]

_LITERALS = (bool, int, str, type(None))


def generate_source(graph: Graph, *, name: str = "replay") -> tuple[str, dict]:
    """Python source of ``def <name>(inputs): ...`` for ``graph`` and its globals."""
    env: dict = {}
    counter = [0]

    def bind(obj, prefix: str) -> str:
        counter[0] += 1
        key = f"{prefix}{counter[0]}"
        env[key] = obj
        return key

    def expr(a) -> str:
        if isinstance(a, Value):
            if a.kind == "const":
                return bind(a.const, "c")
            return f"v{a.id}"
        if isinstance(a, tuple):
            inner = ", ".join(expr(x) for x in a)
            return f"({inner}{',' if len(a) == 1 else ''})"
        if isinstance(a, list):
            return f"[{', '.join(expr(x) for x in a)}]"
        if type(a) in _LITERALS or type(a) is float and math.isfinite(a):
            return repr(a)
        return bind(a, "a")

    lines = [f"def {name}(inputs):"]
    if graph.inputs:
        names = ", ".join(f"v{v.id}" for v in graph.inputs)
        lines.append(f"    {names}{',' if len(graph.inputs) == 1 else ''} = inputs")
    for n in graph.nodes:
        if n.op == "getitem":
            lines.append(f"    v{n.out.id} = {expr(n.args[0])}[{n.args[1]!r}]")
            continue
        k = bind(n.kernel, "k")
        args = [expr(a) for a in n.args] + [f"{kw}={expr(v)}" for kw, v in n.kwargs.items()]
        lines.append(f"    v{n.out.id} = {k}({', '.join(args)})  # {n.op}")
    lines.append(f"    return [{', '.join(expr(v) for v in graph.outputs)}]")
    return "\n".join(lines) + "\n", env


def replay(graph: Graph) -> Callable[[list], list]:
    """Compile ``graph`` into a flat function ``run(inputs) -> outputs`` of kernel calls."""
    src, env = generate_source(graph)
    code = compile(src, "<corefw.compile replay>", "exec")
    exec(code, env)  # noqa: S102 - source generated above from the graph
    run = env["replay"]
    run.source = src
    return run
