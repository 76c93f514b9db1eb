"""Scoped VJP overrides and module provenance, for explainers (DeepLift, LRP, guided backprop).

``with override_vjp({"relu": rule}):`` replaces the named ops' derivative rules inside the block
only -- also when it exits by an exception. A rule is called like an op's VJP: ``rule(ctx,
grad)`` with ``ctx.inputs``, ``ctx.output`` and ``ctx.attrs``, and returns one gradient per
operand. ``with record_module_provenance():`` makes each node remember the module that was
running (``node.module``); off by default and free when off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from . import engine
from .node import EXTRAS

__all__ = ["current_module", "override_vjp", "record_module_provenance"]

_stack: list[dict] = []
_provenance = [0]
_local = threading.local()


class override_vjp:  # noqa: N801
    """Replace the VJP rules of the named ops inside a ``with`` block (nestable)."""

    def __init__(self, rules: dict[str, Callable]) -> None:
        from ..ops.registry import get_op

        for name in rules:
            get_op(name)  # a typo raises here, naming close matches
        self.rules = dict(rules)

    def __enter__(self):
        _stack.append(self.rules)
        _rebuild()
        return self

    def __exit__(self, *exc):
        _stack.remove(self.rules)
        _rebuild()
        return False


def _rebuild() -> None:
    engine.OVERRIDES.clear()
    for rules in _stack:
        engine.OVERRIDES.update(rules)


class record_module_provenance:  # noqa: N801
    """Inside the block, nodes record the innermost ``corefw.nn.Module`` being called."""

    def __enter__(self):
        _provenance[0] += 1
        _tell_modules()
        refresh_extras()
        return self

    def __exit__(self, *exc):
        _provenance[0] -= 1
        _tell_modules()
        refresh_extras()
        return False


def _tell_modules() -> None:
    """Switch ``Module.__call__``'s push/pop on or off (one bool check there when off)."""
    import sys

    mod = sys.modules.get("corefw.nn.module")
    if mod is not None:
        mod._set_provenance_enabled(_provenance[0] > 0)


def provenance_enabled() -> bool:
    return _provenance[0] > 0


def module_stack() -> list:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current_module():
    stack = module_stack()
    return stack[-1] if stack else None


def _extras(node) -> None:
    if engine.ANOMALY[0]:
        from .anomaly import record_stack

        record_stack(node)
    if _provenance[0]:
        if node.meta is None:
            node.meta = {}
        node.meta["module"] = current_module()


def refresh_extras() -> None:
    EXTRAS[0] = _extras if (engine.ANOMALY[0] or _provenance[0]) else None
