"""The op registry: an op is a name; its rules attach to it here.

An :class:`Op` carries what the core needs to run and differentiate it on any device:

* ``vjp(ctx, grad) -> tuple`` -- its derivative, written with corefw ops so it runs on every
  backend and can itself be differentiated. ``ctx.inputs`` are the operands (Tensors or Python
  scalars), ``ctx.output`` the result, ``ctx.attrs`` the keyword attributes. It returns one
  gradient (or None) per operand.
* ``decomposition(*operands, **attrs) -> Tensor`` -- the op written with other ops, used on a
  backend that has no kernel for it. A composite without a ``vjp`` is differentiated through
  its decomposition.

Kernels live in backends (``Backend.kernels``); the dispatcher resolves ``(op, device type)``
into plain dicts whenever an op or a backend is registered, never per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import PluginError
from .primitives import INPLACE_OPS, PRIMITIVES, VIEW_OPS

__all__ = ["OPS", "Op", "get_op", "register_op"]


class Op:
    """One operation: name, derivative rule, decomposition."""

    __slots__ = ("name", "primitive", "vjp", "decomposition", "save_output", "view", "inplace",
                 "differentiable", "uses_inputs", "needs_input", "doc", "owner")

    def __init__(self, name: str, *, vjp: Callable | None = None,
                 decomposition: Callable | None = None, save_output: bool = False,
                 differentiable: bool = True, uses_inputs: bool = True, doc: str = "",
                 owner: str = "corefw") -> None:
        self.name = name
        self.uses_inputs = uses_inputs
        #: optional ``needs_input(node, i) -> bool``: whether the VJP reads operand i's values
        #: (only those are checked against in-place changes)
        self.needs_input = None
        self.primitive = name in PRIMITIVES
        self.vjp = vjp
        self.decomposition = decomposition
        self.save_output = save_output
        self.view = name in VIEW_OPS
        self.inplace = name in INPLACE_OPS
        self.differentiable = differentiable
        self.doc = doc
        self.owner = owner

    def __repr__(self) -> str:
        kind = "primitive" if self.primitive else "composite"
        return f"<corefw op {self.name!r} ({kind}, from {self.owner})>"


OPS: dict[str, Op] = {}
_listeners: list[Callable[[Op], Any]] = []


def register_op(name: str, *, vjp: Callable | None = None,
                decomposition: Callable | None = None, save_output: bool = False,
                differentiable: bool = True, uses_inputs: bool = True, doc: str = "",
                owner: str = "corefw", override: bool = False) -> Op:
    """Register an op; returns the :class:`Op`. Ops from plugins come through here too.

    ``uses_inputs=False`` tells the engine the VJP reads only operand shapes and dtypes, so an
    in-place change of an operand after the call is allowed (``add``, ``reshape`` ...).
    A composite (not in :data:`~corefw.ops.primitives.PRIMITIVES`) needs a decomposition unless
    every backend that should run it provides a kernel. Registering an existing name raises
    :class:`~corefw.errors.PluginError` naming both owners unless ``override=True``.
    """
    if name in OPS and not override:
        raise PluginError(
            f"op {name!r} is already registered by {OPS[name].owner!r}; {owner!r} cannot "
            f"register it again (pass override=True to replace it on purpose)")
    op = Op(name, vjp=vjp, decomposition=decomposition, save_output=save_output,
            differentiable=differentiable, uses_inputs=uses_inputs, doc=doc, owner=owner)
    OPS[name] = op
    for listener in _listeners:
        listener(op)
    return op


def defvjp(name: str, vjp: Callable, *, save_output: bool | None = None) -> None:
    """Attach (or replace) the VJP of a registered op (HIPS autograd's ``defvjp``)."""
    op = get_op(name)
    op.vjp = vjp
    if save_output is not None:
        op.save_output = save_output


def get_op(name: str) -> Op:
    """The registered op called ``name``; a KeyError-derived error lists close names."""
    try:
        return OPS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, OPS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PluginError(f"no op named {name!r} is registered{hint}") from None


def on_register(listener: Callable[[Op], Any]) -> None:
    """Call ``listener(op)`` for every op registered from now on (the dispatcher uses it)."""
    _listeners.append(listener)
