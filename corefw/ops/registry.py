"""The op registry, as the ops layer and plugins see it: :func:`declare` an op once with its
rules (see :mod:`corefw._registry`); :func:`defvjp` replaces the VJP of a declared op."""

from __future__ import annotations

from collections.abc import Callable

from .._registry import FN, OPS, OpDef, cross, declare, get_op, on_register, publish

__all__ = ["FN", "OPS", "OpDef", "cross", "declare", "defvjp", "get_op", "on_register",
           "publish", "register_op"]

#: The name corefw 0.1 used for :func:`declare`.
register_op = declare


def defvjp(name: str, vjp: Callable, *, saves=None) -> None:
    """Attach (or replace) the VJP of a declared op (HIPS autograd's ``defvjp``); ``saves``
    (see :func:`declare`) when the new rule reads other values than the old one."""
    op = get_op(name)
    op.vjp = vjp
    if saves is not None:
        op.set_saves(saves)
