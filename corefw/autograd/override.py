"""Scoped VJP overrides and module provenance, for explainers (DeepLift, LRP, guided backprop).

``with override_vjp({"relu": rule}):`` replaces the named ops' derivative rules inside the block
only -- also when it exits by an exception -- and only in the thread that entered it (an
explainer in one thread never changes the gradients another thread computes). A rule is called
like an op's VJP: ``rule(ctx, grad)`` with ``ctx.inputs``, ``ctx.output`` and ``ctx.attrs``,
and returns one gradient per operand; the engine still checks that the values the op saved
were not changed in place. Inside the block every recorded node keeps all its operands and
its output (not only what its own VJP declares), since rules may read any of them.
``with record_module_provenance():`` makes each node remember the module that was running
(``node.module``), in this thread; off by default and free when off.
"""

from __future__ import annotations

from collections.abc import Callable

from .._graph.grad_mode import STATE
from .._registry import get_op

__all__ = ["active_overrides", "current_module", "override_vjp", "record_module_provenance"]


class override_vjp:  # noqa: N801
    """Replace the VJP rules of the named ops inside a ``with`` block (nestable; the innermost
    block wins for an op named twice)."""

    def __init__(self, rules: dict[str, Callable]) -> None:
        for name in rules:
            get_op(name)  # a typo raises here, naming close matches
        self.rules = dict(rules)
        self._saved: list = []

    def __enter__(self):
        self._saved.append((STATE.override_stack, STATE.overrides))
        stack = STATE.override_stack + (self.rules,)
        merged: dict = {}
        for rules in stack:
            merged.update(rules)
        STATE.override_stack, STATE.overrides = stack, merged
        return self

    def __exit__(self, *exc):
        STATE.override_stack, STATE.overrides = self._saved.pop()
        return False


def active_overrides() -> dict[str, Callable]:
    """The VJP overrides in force in this thread (op name -> rule); empty outside blocks."""
    return dict(STATE.overrides)


class record_module_provenance:  # noqa: N801
    """Inside the block, nodes recorded in this thread remember the innermost
    ``corefw.nn.Module`` being called (``node.module``)."""

    def __enter__(self):
        STATE.provenance += 1
        return self

    def __exit__(self, *exc):
        STATE.provenance -= 1
        return False


def provenance_enabled() -> bool:
    return STATE.provenance > 0


def module_stack() -> list:
    stack = STATE.modules
    if stack is None:
        stack = STATE.modules = []
    return stack


def current_module():
    stack = STATE.modules
    return stack[-1] if stack else None
