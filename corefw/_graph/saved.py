"""Saved-tensor hooks: the graph side of :func:`corefw.autograd.graph.saved_tensors_hooks`.

While a thread has hooks (``STATE.saved_hooks``), recording an op passes every tensor the op
saves for backward -- its declared ``saves`` operands and, where declared, its output -- through
the pack hook, and the node keeps only what the hook returned; its slot for a packed operand
holds a storage-free carrier (shape, dtype, requires_grad). The backward engine calls the unpack
hook of the hooks the node was recorded under right before the node's VJP runs, and drops the
unpacked tensors again after it. Shape-only stand-ins of operands an op does not save are not
saved tensors: the hooks never see them.

As in PyTorch, a packed tensor's version is not checked at backward: the hook decides what is
kept (a copy packed by ``save_on_cpu`` is unaffected by later in-place changes to the original).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .._device import device
from .._registry import anonymous
from .._rules import spec
from .._tensor import Tensor
from ..errors import AutogradError
from .grad_mode import STATE
from .node import Node

__all__ = ["pack_node", "pack_saved", "run_unpacked", "unpack_saved", "unpacked_inputs"]

_new = object.__new__
_META = device("meta")
#: node.meta key: a _Packed
_KEY = "packed"
_NOTHING = object()  # no packed output


class _Packed(NamedTuple):
    """What a node recorded under saved-tensor hooks keeps in ``node.meta["packed"]``. Its
    ``inputs`` lets ``Node.saved_tensors`` unpack without importing this module (which
    imports ``node``)."""

    unpack_hook: Callable
    items: tuple  # ((operand index, packed), ...)
    out: Any  # the packed output, or _NOTHING
    out_shape: tuple | None

    def inputs(self, node) -> tuple:
        """``node.inputs`` with the packed operands unpacked."""
        return unpacked_inputs(node)


def shape_only(x) -> Tensor:
    """A storage-free stand-in for ``x`` on the meta device (shape, dtype, requires_grad): what
    a node keeps of an operand its VJP does not read, or of one packed by a hook."""
    d = x._data
    t = _new(Tensor)
    t._data = spec(d.shape, d.dtype)
    t._dev = _META
    t._node = None
    t._req = x._req
    t._vc = None
    return t


def _pack(pack_hook, x, op_name):
    """``pack_hook(x)`` with grad mode off; the hook must not change ``x`` in place."""
    before = x._vc[0] if x._vc is not None else 0
    prev = STATE.enabled
    STATE.enabled = False
    try:
        packed = pack_hook(x)
    finally:
        STATE.enabled = prev
    if (x._vc[0] if x._vc is not None else 0) != before:
        raise AutogradError(f"a saved tensor pack hook modified its input (saved by "
                            f"{op_name}, shape {tuple(x._data.shape)}) in place; pack hooks "
                            f"must leave the tensor as it is (pack a .clone() instead)")
    return packed


def pack_node(node, mask, t) -> None:
    """Pack what ``node`` saves with this thread's pack hook. ``mask`` marks the saved operands
    (None: all of them); ``t`` is the op's result (its data is ``node.out`` when saved)."""
    pack_hook, unpack_hook = STATE.saved_hooks
    name = node.op.name
    inputs = list(node.inputs)
    items = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and (mask is None or mask[i]):
            items.append((i, _pack(pack_hook, x, name)))
            inputs[i] = shape_only(x)
    out = _NOTHING
    out_shape = None
    if node.out is not None:  # the hook gets the result itself, as in PyTorch
        out_shape = tuple(node.out.shape)
        out = _pack(pack_hook, t, name)
        node.out = None
        node.out_vc = None  # what the hook kept is what backward reads (see the module doc)
    node.inputs = tuple(inputs)
    if node.meta is None:
        node.meta = {}
    node.meta[_KEY] = _Packed(unpack_hook, tuple(items), out, out_shape)


def _unpack(unpack_hook, packed, shape, what) -> Tensor:
    u = unpack_hook(packed)
    if not isinstance(u, Tensor):
        raise AutogradError(f"the saved tensor unpack hook returned {type(u).__name__} for "
                            f"{what}; it must return a corefw Tensor (of shape "
                            f"{shape})")
    if tuple(u._data.shape) != shape:
        raise AutogradError(f"the saved tensor unpack hook returned shape "
                            f"{tuple(u._data.shape)} for {what}, which was saved with shape "
                            f"{shape}; unpack must give back the packed tensor")
    return u


#: the node of an unpacked leaf under create_graph: gradients flow through it to the leaf
_UNPACKED = anonymous("unpacked_saved_tensor", vjp=lambda node, g: (g,),
                      owner="autograd.graph.saved_tensors_hooks")


def unpacked_inputs(node, with_output: bool = False):
    """``node.inputs`` with every packed operand unpacked (and ``node.out`` set from the
    packed output with ``with_output``). While grad mode is on (backward with
    ``create_graph=True``) an unpacked operand is attached to the graph where the saved one
    was, as PyTorch does, so higher-order gradients flow."""
    unpack_hook, items, out, out_shape = node.meta[_KEY]
    inputs = list(node.inputs)
    for i, packed in items:
        like = inputs[i]
        u = _unpack(unpack_hook, packed, tuple(like.shape), f"operand {i} of {node.name()}")
        r = _new(Tensor)
        r._data = u._data
        r._dev = u._dev
        r._node = None
        r._req = like._req  # VJPs ask an operand whether it wants a gradient
        r._vc = None
        edge = node.next[i]
        if STATE.enabled and edge is not None:
            if isinstance(edge, Tensor):  # a leaf: a one-edge node keeps it the leaf's input
                r._node = Node(_UNPACKED, (None,), (edge,), None, None, u._dev, None)
            else:
                r._node = edge
        inputs[i] = r
    if out is not _NOTHING and with_output:
        node.out = _unpack(unpack_hook, out, out_shape, f"the output of {node.name()}")._data
    return tuple(inputs)


def run_unpacked(node, rule, g, retain_graph: bool):
    """Run the VJP ``rule`` on ``node`` with its saved tensors unpacked; afterwards the node
    holds only the packed values again (``retain_graph``) or none (the engine frees it)."""
    carriers = node.inputs
    node.inputs = unpacked_inputs(node, True)
    try:
        return rule(node, g)
    finally:
        if retain_graph:
            node.inputs = carriers
            node.out = None
        else:
            del node.meta[_KEY]


def pack_saved(tensors, name: str):
    """What a custom Function's ``ctx.save_for_backward`` stored, packed with this thread's
    hooks: ``(unpack_hook, ((packed or None, shape), ...))`` (None entries stay None)."""
    pack_hook, unpack_hook = STATE.saved_hooks
    return unpack_hook, tuple((None, None) if t is None else
                              (_pack(pack_hook, t, name), tuple(t._data.shape))
                              for t in tensors)


def unpack_saved(packed) -> tuple:
    """The tensors :func:`pack_saved` packed, through the unpack hook."""
    unpack_hook, items = packed
    return tuple(None if shape is None else
                 _unpack(unpack_hook, p, shape, "a tensor saved with save_for_backward")
                 for p, shape in items)
