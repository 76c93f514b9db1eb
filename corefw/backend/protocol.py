"""The device contract: what a backend object must provide.

A backend serves one device type (``"cpu"``, ``"cuda"``, ``"mydev"``) and any number of device
indices. The core talks to it only through this protocol; kernels are plain callables from
native arrays (and attributes) to a new native array. See docs/plugins.md for a walk-through and
:mod:`corefw.backend.toolkit` for a ready implementation over any NumPy-like array module.

Optional: ``is_contiguous(array) -> bool`` on a backend with "views" (whether ``array`` is dense,
row-major and writable; without it ``Tensor.contiguous()`` always copies there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "CAPABILITIES", "REQUIRED_MEMBERS", "missing_members"]

#: Capabilities a backend may declare in ``Backend.capabilities`` (docs/plugins.md, "What the
#: capabilities mean", is the contract).
CAPABILITIES = frozenset({
    "broadcast",  # binary kernels accept operands of different (broadcastable) shapes
    "views",      # movement kernels (reshape, permute, slice, expand...) may return views
                  # that share memory with their operand; without it the core treats every
                  # kernel result as a fresh array
    "inplace",    # arrays are mutable: copy_ and index_put_ write into their first operand;
                  # without it the core functionalizes in-place ops (pure op + rebinding)
    "random",     # implements the random primitives
    "float16",    # informational; dtypes are listed in Backend.dtypes
    "abstract",   # no storage: kernels compute shapes and dtypes only (the core's meta device)
})


@runtime_checkable
class Backend(Protocol):
    """A device backend. Register one through the ``register_backends`` hook.

    Optional members (not part of the checked protocol): ``set_num_threads(n)`` and
    ``get_num_threads()``, the host thread pools the backend's kernels use; they serve
    :func:`corefw.set_num_threads` / :func:`corefw.get_num_threads`. ``default_compiler``
    (plugin API 1.2): the name of a registered compiler that ``corefw.compile`` uses for graphs
    on this device when the user names none (``backend="default"``); None or absent: the
    core's ``replay``.
    """

    #: Device type it serves, e.g. ``"cpu"``; a device is addressed as ``"type:index"``.
    device_type: str
    #: Human-readable name of the implementation, e.g. ``"numpy"``.
    name: str
    #: dtype names it supports (``"float32"``, ``"int64"``, ``"bool"`` ...).
    dtypes: frozenset[str]
    #: Subset of :data:`CAPABILITIES`.
    capabilities: frozenset[str]
    #: op name -> kernel. Missing ops use the op's decomposition, then the fallback policy.
    kernels: Mapping[str, Callable[..., Any]]

    def is_available(self) -> bool:
        """Whether the device can be used here (library importable, hardware present)."""

    def unavailable_reason(self) -> str | None:
        """Why :meth:`is_available` is False (e.g. ``"cupy is not installed"``), else None."""

    def device_count(self) -> int:
        """Number of devices of this type."""

    def device_context(self, index: int) -> AbstractContextManager | None:
        """A context that makes device ``index`` current, or None if no switch is needed."""

    def from_host(self, array: np.ndarray, index: int) -> Any:
        """Copy a host NumPy array to device ``index`` (may share memory on a host device)."""

    def to_host(self, array: Any) -> np.ndarray:
        """A host NumPy array with the contents of ``array`` (may share memory)."""

    def manual_seed(self, seed: int) -> None:
        """Seed every device's default random stream."""

    def get_rng_state(self) -> np.ndarray:
        """The random state as a uint8 array, restorable with :meth:`set_rng_state`."""

    def set_rng_state(self, state: np.ndarray) -> None:
        """Restore a state returned by :meth:`get_rng_state`."""

    def synchronize(self, index: int | None = None) -> None:
        """Wait for all queued work on a device (no-op on synchronous devices)."""

    def memory_stats(self, index: int = 0) -> dict[str, int]:
        """Allocator statistics (``bytes_in_use`` ... where known)."""


#: Every member :class:`Backend` requires, checked when a backend is registered.
REQUIRED_MEMBERS: tuple[str, ...] = (
    "device_type", "name", "dtypes", "capabilities", "kernels", "is_available",
    "unavailable_reason", "device_count", "device_context", "from_host", "to_host",
    "manual_seed", "get_rng_state", "set_rng_state", "synchronize", "memory_stats")


def missing_members(backend: Any) -> list[str]:
    """The members of :class:`Backend` that ``backend`` lacks (empty if it has them all).

    Looks at the instance's ``__dict__`` and its class only, so a lazy backend's first-use
    loading is not triggered; members a class serves through ``__getattr__`` are taken on
    trust (they are checked on first use instead).
    """
    cls = type(backend)
    if any("__getattr__" in vars(k) for k in cls.__mro__ if k is not object):
        return []
    own = getattr(backend, "__dict__", {})
    missing = []
    for member in REQUIRED_MEMBERS:
        if member in own or hasattr(cls, member):
            continue
        missing.append(member)
    return missing
