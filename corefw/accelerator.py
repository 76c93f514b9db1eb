"""``corefw.accelerator``: PyTorch's vendor-neutral device API (``torch.accelerator``).

The accelerator is the first installed backend plugin, other than the host's (``"cpu"``)
and shape-only ones (capability ``abstract``, like ``meta``), that can run here; the core
names none. Without one, ``is_available()`` is False,
``device_count()`` 0 and ``current_accelerator()`` the first installed non-host backend's type
(``None`` if there is none, or with ``check_available=True``).

>>> import corefw
>>> import corefw.accelerator
>>> acc = corefw.accelerator.current_accelerator(check_available=True)
>>> device = acc if acc is not None else corefw.device("cpu")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._device_api import DeviceTypeAPI, accelerator_type

__all__ = [
    "current_accelerator", "current_device_idx", "current_device_index", "device_count",
    "device_index", "empty_cache", "is_available", "max_memory_allocated", "memory_allocated",
    "memory_reserved", "memory_stats", "set_device_idx", "set_device_index", "synchronize",
]


def _api(check_available: bool = True) -> DeviceTypeAPI | None:
    dev_type = accelerator_type(check_available)
    return DeviceTypeAPI(dev_type) if dev_type is not None else None


def is_available() -> bool:
    """Whether an accelerator backend can run here."""
    return _api() is not None


def current_accelerator(check_available: bool = False) -> Any:
    """The accelerator as a ``corefw.device`` of its type (no index), or None."""
    import corefw

    dev_type = accelerator_type(check_available)
    return corefw.device(dev_type) if dev_type is not None else None


def device_count() -> int:
    """Number of accelerator devices (0 without one)."""
    api = _api()
    return api.device_count() if api is not None else 0


def _need(what: str) -> DeviceTypeAPI:
    api = _api(check_available=False)
    if api is None:
        from .errors import BackendUnavailableError

        raise BackendUnavailableError(
            f"corefw.accelerator.{what}: no accelerator backend is installed; `corefw plugins` "
            "lists the installed backends")
    return api


def current_device_index() -> int:
    """Index of the current accelerator device."""
    return _need("current_device_index").current_device()


def set_device_index(device: Any) -> None:
    """Make accelerator device ``device`` (an index or a device) the current one."""
    _need("set_device_index").set_device(device)


current_device_idx = current_device_index
set_device_idx = set_device_index


@contextmanager
def device_index(device: Any) -> Iterator[None]:
    """Context manager: ``device`` is the current accelerator device inside."""
    with _need("device_index").device_index(device):
        yield


def synchronize(device: Any = None) -> None:
    """Wait for the queued work on an accelerator device (no-op without one)."""
    api = _api()
    if api is not None:
        api.synchronize(device)


def memory_stats(device: Any = None) -> dict[str, int]:
    """The accelerator backend's allocator statistics (``{}`` without one)."""
    api = _api()
    return api.memory_stats(device) if api is not None else {}


def memory_allocated(device: Any = None) -> int:
    """Bytes held by live tensors on an accelerator device (0 without one)."""
    api = _api()
    return api.memory_allocated(device) if api is not None else 0


def max_memory_allocated(device: Any = None) -> int:
    """Peak bytes held by tensors where the backend tracks one, else the current figure."""
    api = _api()
    return api.max_memory_allocated(device) if api is not None else 0


def memory_reserved(device: Any = None) -> int:
    """Bytes held by the accelerator's allocator (0 without one)."""
    api = _api()
    return api.memory_reserved(device) if api is not None else 0


def empty_cache() -> None:
    """Return the accelerator allocator's unused cached memory (no-op without one)."""
    api = _api()
    if api is not None:
        api.empty_cache()
