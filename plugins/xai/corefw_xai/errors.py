"""Errors of corefw-xai: typed, and subclasses of corefw's (and of the builtins they extend)."""

from __future__ import annotations

from corefw.errors import CorefwError

__all__ = ["CompletenessWarning", "UnknownMethodError", "XaiError"]


class XaiError(CorefwError, RuntimeError):
    """An explainer could not run as asked (the message names the method and the fix)."""


class UnknownMethodError(CorefwError, ValueError):
    """No explainer is registered under the given name."""


class CompletenessWarning(UserWarning):
    """A completeness tolerance was not reached within the allowed number of steps."""
