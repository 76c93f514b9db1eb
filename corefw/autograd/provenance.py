"""The module stack that ``Module.__call__`` maintains while provenance recording is on."""

from __future__ import annotations

from .override import current_module, module_stack, provenance_enabled

__all__ = ["current_module", "pop_module", "provenance_enabled", "push_module"]


def push_module(module) -> None:
    module_stack().append(module)


def pop_module() -> None:
    stack = module_stack()
    if stack:
        stack.pop()
