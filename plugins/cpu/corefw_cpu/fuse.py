"""``cpu_fuse``: a corefw.compile compiler that fuses chains of elementwise kernels into one
numexpr expression (one pass over memory, no temporaries, numexpr's threads), then replays.

A chain is a run of elementwise nodes whose intermediate results are read only inside the
chain. It is fused only when its result has at least :data:`MIN_ELEMENTS` elements (below
that, numexpr's fixed cost per call exceeds what fusion saves) and only if numexpr beats NumPy
on this machine: the first use times one chain both ways (:func:`numexpr_wins`, a few ms).
On the project's 2-core box numexpr 2.14 (no VML) was 3-10x *slower* than NumPy at every size
(docs/performance.md), so there ``cpu_fuse`` replays exactly as ``replay`` does. Fused results agree
with NumPy to float rounding (numexpr's exp/log may differ in the last bit): the documented
tolerance is 1e-6 relative for float32.
"""

from __future__ import annotations

import numpy as np

from corefw.compiler import Graph, Node, Value, replay

__all__ = ["MIN_ELEMENTS", "cpu_fuse", "fuse"]

#: Smallest result (elements) worth a numexpr call.
MIN_ELEMENTS = 1 << 15

_BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})", "div": "({} / {})",
           "maximum": "where({0} > {1}, {0}, {1})", "minimum": "where({0} < {1}, {0}, {1})"}
_UNARY = {"neg": "(-{})", "exp": "exp({})", "log": "log({})", "sqrt": "sqrt({})",
          "tanh": "tanh({})", "sin": "sin({})", "cos": "cos({})", "abs": "abs({})",
          "relu": "where({0} > 0, {0}, ZERO)"}
_FLOATS = (np.float32, np.float64)


def _fusable(n: Node) -> bool:
    if n.kwargs or n.mutates or n.out.dtype not in _FLOATS:
        return False
    if n.op in _UNARY:
        return len(n.args) == 1 and isinstance(n.args[0], Value)
    if n.op in _BINARY and len(n.args) == 2:
        return all(isinstance(a, Value) and a.dtype == n.out.dtype or
                   type(a) in (int, float) for a in n.args)
    return False


def fuse(graph: Graph, min_elements: int = MIN_ELEMENTS) -> Graph:
    """A copy of ``graph`` whose elementwise chains are single numexpr nodes."""
    uses: dict[int, int] = {}
    for n in graph.nodes:
        for v in n.values():
            uses[id(v)] = uses.get(id(v), 0) + 1
    for v in graph.outputs:
        uses[id(v)] = uses.get(id(v), 0) + 2
    out_nodes: list[Node] = []
    i = 0
    nodes = graph.nodes
    while i < len(nodes):
        j = i
        while j < len(nodes) and _fusable(nodes[j]):
            j += 1
        chain = nodes[i:j]
        if len(chain) >= 2 and int(np.prod(chain[-1].out.shape)) >= min_elements:
            out_nodes.extend(_fuse_chain(chain, uses))
            i = j
        else:
            out_nodes.append(nodes[i])
            i += 1
    return Graph(graph.inputs, out_nodes, graph.outputs, graph.device, dict(graph.meta))


def _fuse_chain(chain: list[Node], uses: dict) -> list[Node]:
    """Split ``chain`` where an intermediate is read outside it; one node per piece."""
    made = {id(n.out) for n in chain}
    inner_uses: dict[int, int] = {}
    for n in chain:
        for v in n.values():
            if id(v) in made:
                inner_uses[id(v)] = inner_uses.get(id(v), 0) + 1
    out, piece = [], []
    for n in chain:
        piece.append(n)
        if uses.get(id(n.out), 0) != inner_uses.get(id(n.out), 0) or n is chain[-1]:
            out.append(_one(piece) if len(piece) > 1 else piece[0])
            piece = []
    return out


def _one(piece: list[Node]) -> Node:
    import numexpr

    exprs: dict[int, str] = {}
    names: dict[int, str] = {}
    inputs: list[Value] = []
    consts: dict[str, np.ndarray] = {}
    dtype = piece[-1].out.dtype

    def term(a) -> str:
        if isinstance(a, Value):
            if id(a) in exprs:
                return exprs[id(a)]
            if id(a) not in names:
                names[id(a)] = f"x{len(names)}"
                inputs.append(a)
            return names[id(a)]
        key = f"k{len(consts)}"
        consts[key] = np.asarray(a, dtype=dtype)  # keeps float32 float32
        return key

    for n in piece:
        fmt = _UNARY.get(n.op) or _BINARY[n.op]
        text = fmt.format(*[term(a) for a in n.args])
        exprs[id(n.out)] = text.replace("ZERO", term(0.0)) if "ZERO" in text else text
    expr = exprs[id(piece[-1].out)]
    arg_names = [names[id(v)] for v in inputs]
    keys = arg_names + list(consts)
    const_vals = list(consts.values())
    evaluate = numexpr.evaluate

    def kernel(*arrays):
        return evaluate(expr, local_dict=dict(zip(keys, (*arrays, *const_vals))))

    kernel.__name__ = f"numexpr[{expr}]"
    return Node("fused", kernel, tuple(inputs), {}, piece[-1].out,
                "; ".join(dict.fromkeys(n.line for n in piece)))


_WINS: list = []


def numexpr_wins() -> bool:
    """Whether numexpr evaluates a 3-op float32 chain of 2**18 elements at least 1.2x faster
    than NumPy here (measured once per process)."""
    if not _WINS:
        import time

        try:
            import numexpr
        except ImportError:
            _WINS.append(False)
            return False
        a = np.random.default_rng(0).random(1 << 18, dtype=np.float32)
        k = np.float32(0.5)

        def best(fn) -> float:
            out = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                fn()
                out = min(out, time.perf_counter() - t)
            return out

        t_np = best(lambda: np.exp((a + k) * a))
        t_ne = best(lambda: numexpr.evaluate("exp((a + k) * a)", local_dict={"a": a, "k": k}))
        _WINS.append(t_ne * 1.2 < t_np)
    return _WINS[0]


def cpu_fuse(graph: Graph):
    """The ``cpu_fuse`` compiler: :func:`fuse` (where numexpr wins here), then
    :func:`corefw.compiler.replay`."""
    return replay(fuse(graph) if numexpr_wins() else graph)
