"""corefw's exception hierarchy.

Every error corefw raises on bad input is a :class:`CorefwError` and also subclasses the builtin
a Python user would expect (``ValueError`` for a shape mismatch, ``TypeError`` for a bad dtype,
...), so both ``except corefw.CorefwError`` and ``except ValueError`` work. Messages name the op,
the shapes, dtypes or devices involved, and the fix.
"""

from __future__ import annotations

__all__ = [
    "AutogradError",
    "BackendUnavailableError",
    "CheckpointError",
    "CorefwError",
    "CorefwIndexError",
    "CorefwOverflowError",
    "CorefwZeroDivisionError",
    "DTypeError",
    "DeviceError",
    "KernelError",
    "KernelNotFoundError",
    "NoBackendError",
    "PluginError",
    "ShapeError",
    "StateDictError",
]


class CorefwError(Exception):
    """Base class of every error corefw raises on purpose."""


class ShapeError(CorefwError, ValueError):
    """Operand shapes do not fit the op (broadcasting, matmul, reshape, cat...)."""


class DTypeError(CorefwError, TypeError):
    """A dtype the op or the backend does not support."""


class DeviceError(CorefwError, RuntimeError):
    """Operands live on different devices, or a device name is malformed."""


class BackendUnavailableError(DeviceError):
    """The device's backend is registered but cannot run here (no driver, no library)."""


class NoBackendError(CorefwError, RuntimeError):
    """No backend is registered for the requested device type."""


class KernelNotFoundError(CorefwError, NotImplementedError):
    """A backend has no kernel and no decomposition for an op."""


class AutogradError(CorefwError, RuntimeError):
    """Misuse of autograd: freed graph, in-place change of a saved tensor, non-scalar output."""


class PluginError(CorefwError, RuntimeError):
    """A plugin failed to import or register, or was refused (API version, duplicate name)."""


class CheckpointError(CorefwError, ValueError):
    """A checkpoint file is truncated, corrupt or does not match what is loaded into."""


class StateDictError(CorefwError, RuntimeError):
    """``load_state_dict`` found missing or unexpected keys or mismatched shapes."""


class CorefwIndexError(CorefwError, IndexError):
    """An index out of range or of the wrong kind."""


class KernelError(CorefwError, RuntimeError):
    """A kernel failed for a reason corefw could not classify; the message names op and backend."""


class CorefwOverflowError(CorefwError, OverflowError):
    """A value does not fit the dtype or the size it is stored in (``tensor([300],
    dtype=int8)``, ``x[0] = 1000`` on int8, a size beyond int64)."""


class CorefwZeroDivisionError(CorefwError, ZeroDivisionError):
    """Integer division or remainder by zero (float division gives inf or nan instead)."""
