"""Elementwise fusion for compiler plugins: find chains, hand each as an expression tree.

:func:`fuse_chains` finds runs of elementwise nodes (:data:`ELEMENTWISE`) of one float dtype
whose intermediate results are read only inside the run, and replaces each by one node whose
kernel the backend builds from an expression tree (``emit``). corefw-cpu renders the tree for
numexpr, corefw-cuda for a CuPy ``ElementwiseKernel``. A tree is ``("in", k)`` (the k-th array
input), ``("const", x)`` (a Python number) or ``(op, child, ...)`` with ``op`` from
:data:`ELEMENTWISE`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._ir import Graph, Node, Value

__all__ = ["ELEMENTWISE", "fuse_chains"]

#: Fusable ops and their arity (``relu`` is ``max(x, 0)``).
ELEMENTWISE = {"add": 2, "sub": 2, "mul": 2, "div": 2, "maximum": 2, "minimum": 2, "neg": 1,
               "exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "sin": 1, "cos": 1, "abs": 1,
               "relu": 1}
_FLOATS = (np.float32, np.float64)


def _fusable(n: Node) -> bool:
    if n.kwargs or n.mutates or n.out.dtype not in _FLOATS or \
            ELEMENTWISE.get(n.op) != len(n.args):
        return False
    return all(isinstance(a, Value) and a.dtype == n.out.dtype and a.kind != "const"
               or type(a) in (int, float) for a in n.args)


def fuse_chains(graph: Graph, emit: Callable[[tuple, list, object], Callable], *,
                min_elements: int = 0, max_size: int | None = None) -> Graph:
    """A copy of ``graph`` whose elementwise chains (of >= 2 nodes, results of at least
    ``min_elements``) are single ``fused`` nodes with kernel ``emit(tree, inputs, dtype)``.

    ``max_size``: the most ops and leaves one tree may have, counted as it is written out (a
    value read twice inside a piece is in its tree twice, so a tree can grow exponentially
    with the chain); longer pieces are cut. None: no limit. A backend whose expressions have
    limits (numexpr: 64 operands, 255 registers) sets it."""
    if max_size is not None and max_size < 3:
        raise ValueError(f"fuse_chains: max_size must be at least 3 (a binary op and its two "
                         f"leaves), got {max_size}")
    uses: dict[int, int] = {}
    for n in graph.nodes:
        for v in n.values():
            uses[id(v)] = uses.get(id(v), 0) + 1
    for v in graph.outputs:
        uses[id(v)] = uses.get(id(v), 0) + 2
    out: list[Node] = []
    nodes, i = graph.nodes, 0
    while i < len(nodes):
        j = i
        while j < len(nodes) and _fusable(nodes[j]) and \
                nodes[j].out.dtype == nodes[i].out.dtype:
            j += 1
        chain = nodes[i:j]
        if len(chain) >= 2 and int(np.prod(chain[-1].out.shape)) >= min_elements:
            out.extend(_pieces(chain, uses, emit, max_size))
            i = j
        else:
            out.append(nodes[i])
            i += 1
    return Graph(graph.inputs, out, graph.outputs, graph.device, dict(graph.meta))


def _pieces(chain: list[Node], uses: dict, emit, max_size: int | None) -> list[Node]:
    """Split ``chain`` after each node whose result is read outside it, before each node whose
    tree would exceed ``max_size``, and after each node whose result a later piece reads: a
    fused node makes only its last node's value, so a value inlined in one piece and read by
    another would be undefined (the backward of ``atan2``: ``r = x*x + y*y`` read by both
    ``g*x/r`` and ``-g*y/r``, which escape)."""
    made = {id(n.out) for n in chain}
    inner: dict[int, int] = {}
    for n in chain:
        for v in n.values():
            if id(v) in made:
                inner[id(v)] = inner.get(id(v), 0) + 1
    cut = {k for k, n in enumerate(chain)
           if uses.get(id(n.out), 0) != inner.get(id(n.out), 0)} | {len(chain) - 1}
    at = {id(n.out): k for k, n in enumerate(chain)}
    if max_size is not None:
        _cut_large_trees(chain, at, cut, max_size)
    while True:  # each pass only adds cuts (and cuts only shrink trees), so this ends
        piece_of, p = [], 0
        for k in range(len(chain)):
            piece_of.append(p)
            p += k in cut
        more = {at[id(v)] for k, n in enumerate(chain) for v in n.values()
                if id(v) in at and piece_of[at[id(v)]] != piece_of[k]} - cut
        if not more:
            break
        cut |= more
    out, piece = [], []
    for k, n in enumerate(chain):
        piece.append(n)
        if k in cut:
            out.append(_one(piece, emit) if len(piece) > 1 else piece[0])
            piece = []
    return out


def _cut_large_trees(chain: list[Node], at: dict, cut: set, max_size: int) -> None:
    """Add to ``cut`` the node before each node whose tree (with the pieces cut so far) would
    have more than ``max_size`` ops and leaves; such a node starts a new piece, where its
    tree is itself and its operands as leaves."""
    size: list[int] = []
    start = 0  # the first node of the current piece
    for k, n in enumerate(chain):
        s = 1 + sum(size[at[id(a)]] if isinstance(a, Value) and at.get(id(a), -1) >= start
                    else 1 for a in n.args)
        if s > max_size and k > start:
            cut.add(k - 1)
            start, s = k, 1 + len(n.args)
        size.append(s)
        if k in cut:
            start = k + 1


def _one(piece: list[Node], emit) -> Node:
    trees: dict[int, tuple] = {}
    index: dict[int, int] = {}
    inputs: list[Value] = []

    def leaf(a):
        if not isinstance(a, Value):
            return ("const", a)
        if id(a) in trees:
            return trees[id(a)]
        if id(a) not in index:
            index[id(a)] = len(inputs)
            inputs.append(a)
        return ("in", index[id(a)])

    for n in piece:
        trees[id(n.out)] = (n.op, *[leaf(a) for a in n.args])
    tree = trees[id(piece[-1].out)]
    kernel = emit(tree, inputs, piece[-1].out.dtype)
    return Node("fused", kernel, tuple(inputs), {}, piece[-1].out,
                "; ".join(dict.fromkeys(n.line for n in piece if n.line)))
