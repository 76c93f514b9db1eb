"""Automatic dynamic batch size: two captures that differ only in the leading dimension of
some tensor arguments become one capture with that dimension symbolic.

When a new batch size misses the cache, the new capture is compared node by node with the
capture of the old batch size: same ops, same kernels, same constants, and every attribute
equal except integers that were the old batch size there and are the new one here. Those
become one extra graph input (a ``Value`` with no shape, kind ``"input"``) that the plan feeds
with the argument's current leading dimension, so later batch sizes run without a capture. A
difference that is not explained so (a float ``1 / batch``, a constant of batch length)
leaves the two captures separate: shapes are specialised, as with ``dynamic=False``.
"""

from __future__ import annotations

import copy

import numpy as np

from ._ir import Graph, Node, Value

__all__ = ["batch_change", "make_dynamic", "wild_key"]


def batch_change(old, new):
    """(old batch, new batch, positions in the argument key) when ``old`` and ``new`` guard
    keys differ only in the leading dimension of tensor arguments, else None."""
    (oa, og, os_), (na, ng, ns) = old, new
    if og != ng or os_ != ns or len(oa) != len(na):
        return None
    pos, sizes = [], set()
    for i, (o, n) in enumerate(zip(oa, na)):
        if o == n:
            continue
        if len(o) != 5 or len(n) != 5 or o[2:] != n[2:] or len(o[1]) != len(n[1]) or \
                not o[1] or o[1][1:] != n[1][1:]:
            return None
        sizes.add((o[1][0], n[1][0]))
        pos.append(i)
    if len(sizes) != 1:
        return None
    (b_old, b_new), = sizes
    return b_old, b_new, tuple(pos)


def wild_key(key, positions):
    """``key`` with the leading dimension of the arguments at ``positions`` erased."""
    akey = list(key[0])
    for i in positions:
        if i >= len(akey) or len(akey[i]) != 5 or not akey[i][1]:
            return None
        e = akey[i]
        akey[i] = (e[0], (-1,) + tuple(e[1][1:])) + e[2:]
    return (tuple(akey), key[1], key[2])


class _Mismatch(Exception):
    pass


def _match(a, b, b_old, b_new, vmap, sym):
    """``b`` (new trace's argument) with changed batch ints replaced by ``sym``."""
    if isinstance(a, Value) or isinstance(b, Value):
        if not (isinstance(a, Value) and isinstance(b, Value)) or a.kind != b.kind:
            raise _Mismatch
        if a.kind == "const":
            if not (np.shape(a.const) == np.shape(b.const) and
                    np.array_equal(a.const, b.const)):
                raise _Mismatch
        elif vmap.setdefault(a.id, b.id) != b.id:
            raise _Mismatch
        return b
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        if type(a) is not type(b) or len(a) != len(b):
            raise _Mismatch
        return type(b)(_match(x, y, b_old, b_new, vmap, sym) for x, y in zip(a, b))
    if type(a) is int and type(b) is int and a == b_old and b == b_new and a != b:
        return sym
    if type(a) is not type(b) or a != b:
        raise _Mismatch
    return b


def _dynamic_graph(old: Graph, new: Graph, b_old, b_new) -> tuple[Graph, Value | None]:
    if len(old.nodes) != len(new.nodes) or len(old.inputs) != len(new.inputs):
        raise _Mismatch
    sym = Value(-1, None, None, "input")
    vmap: dict = {}
    for a, b in zip(old.inputs, new.inputs):
        _match(a, b, b_old, b_new, vmap, sym)
    nodes = []
    for a, b in zip(old.nodes, new.nodes):
        if a.op != b.op or a.kernel is not b.kernel:
            raise _Mismatch
        args = _match(a.args, b.args, b_old, b_new, vmap, sym)
        kwargs = {k: _match(a.kwargs.get(k), v, b_old, b_new, vmap, sym)
                  for k, v in b.kwargs.items()}
        if set(a.kwargs) != set(b.kwargs):
            raise _Mismatch
        vmap.setdefault(a.out.id, b.out.id)
        nodes.append(Node(b.op, b.kernel, args, kwargs, b.out, b.line, b.mutates))
    for a, b in zip(old.outputs, new.outputs):
        _match(a, b, b_old, b_new, vmap, sym)
    used = any(v is sym for n in nodes for v in n.values())
    if not used:
        return new, None
    sym.id = max([v.id for v in new.inputs] + [n.out.id for n in nodes]) + 1
    return Graph(new.inputs + [sym], nodes, new.outputs, new.device, dict(new.meta)), sym


def make_dynamic(old_plan, new_plan, b_old, b_new, batch_tensor: int, compiler):
    """A copy of ``new_plan`` valid for any batch size, or None (see the module docstring)."""
    if len(old_plan.graphs) != len(new_plan.graphs) or old_plan.sources != new_plan.sources \
            or old_plan.bwd_sources != new_plan.bwd_sources or \
            old_plan.writes != new_plan.writes or \
            [o[0] for o in old_plan.outs] != [o[0] for o in new_plan.outs]:
        return None
    try:
        pairs = [_dynamic_graph(o, n, b_old, b_new)
                 for o, n in zip(old_plan.graphs, new_plan.graphs)]
    except _Mismatch:
        return None
    plan = copy.copy(new_plan)
    plan.graphs = [g for g, _ in pairs]
    plan.sources = list(new_plan.sources)
    plan.bwd_sources = list(new_plan.bwd_sources)
    if pairs[0][1] is not None:
        plan.sources.append(("dim0", batch_tensor))
        plan.fwd = compiler(pairs[0][0])
    if len(pairs) > 1 and pairs[1][1] is not None:
        plan.bwd_sources.append(("dim0", batch_tensor))
        plan.bwd = compiler(pairs[1][0])
    plan.dynamic = True
    plan.data_only = None  # its sources changed
    return plan
