"""``split`` / ``chunk`` / ``unbind`` as one graph node with several outputs (PyTorch's
``SplitBackward`` / ``UnbindBackward``).

Each piece is a basic-slice view of the input, as before; what changes is the graph. Sliced
one by one, every piece's VJP scattered its gradient into zeros of the whole input, so a loop
that takes ``x[t]`` at each of T steps (a recurrent layer) paid O(T) per step and O(T^2) in
all. Here the pieces are the outputs of one node, whose VJP runs once with all their gradients
and joins them with a single ``cat`` (``stack`` for ``unbind``), filling zeros only for pieces
that got none. The VJP is written with ops, so it differentiates again (create_graph).

The node saves nothing but a shape-only stand-in of the input, so the graph does not keep the
input's storage alive.
"""

from __future__ import annotations

from .._call import apply, stand_in
from .._graph.engine import MultiNode
from .._graph.grad_mode import STATE
from .._graph.node import EXTRAS, OutputRef, record_module
from .._registry import FN, OPS, anonymous
from ._views import track

__all__ = ["split_views"]


def _split_vjp(ctx, grads):
    """Join the pieces' gradients along the split dim; zeros for pieces without one."""
    attrs = ctx.attrs
    d, squeeze = attrs["dim"], attrs["squeeze"]
    x = ctx.inputs[0]  # shape-only: its shape and dtype are all the rule reads
    like = next(g for g in grads if g is not None)
    parts = []
    for g, size in zip(grads, attrs["sizes"]):
        if g is None:
            shape = list(x.shape)
            if squeeze:
                del shape[d]
            else:
                shape[d] = size
            g = FN.zeros(tuple(shape), dtype=x.dtype, device=like.device)
        parts.append(g)
    return (FN.stack(parts, d) if squeeze else FN.cat(parts, d)),


_SPLIT = anonymous("split", vjp=_split_vjp, owner="corefw.ops")
_UNBIND = anonymous("unbind", vjp=_split_vjp, owner="corefw.ops")


def split_views(x, d: int, sizes, squeeze: bool = False) -> tuple:
    """The pieces of ``x`` along dim ``d`` (a normalised index): consecutive ``sizes`` slices,
    or with ``squeeze`` (``unbind``; every size 1) each index with the dim removed. Views of
    ``x``; while recording, the outputs of one node."""
    lead = (slice(None),) * d
    keys, start = [], 0
    for s in sizes:
        keys.append(lead + ((start,) if squeeze else (slice(start, start + s),)))
        start += s
    slice_op = OPS["slice"]
    if not (x._req and STATE.enabled) or not keys:
        return tuple(track(apply(slice_op, (x,), {"key": k}), x, "slice", {"key": k})
                     for k in keys)
    STATE.enabled = False
    try:
        outs = [apply(slice_op, (x,), {"key": k}) for k in keys]
    finally:
        STATE.enabled = True
    node = MultiNode.__new__(MultiNode)
    node.op = _UNBIND if squeeze else _SPLIT
    node.inputs = (stand_in(x),)
    node.next = (x._node or x,)
    node.attrs = {"dim": d, "sizes": tuple(sizes), "squeeze": squeeze}
    node.out = None
    node.dev = x._dev
    node.versions = None  # nothing saved: no version to check
    node.out_vc = None
    node.hooks = None
    node.retain = None
    node.meta = None
    node.freed = False
    node.n_out = len(keys)
    if EXTRAS[0] is not None:  # anomaly mode: where the node was made
        EXTRAS[0](node)
    if STATE.provenance:
        record_module(node)
    for i, (t, k) in enumerate(zip(outs, keys)):
        t._node = OutputRef(node, i)
        t._req = True
        track(t, x, "slice", {"key": k})  # after _req: a recorded view registers with its root
    return tuple(outs)
