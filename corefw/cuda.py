"""``corefw.cuda``: PyTorch's ``torch.cuda`` queries, answered by whichever backend plugin serves
device type ``"cuda"`` (corefw-cuda, or any other); the core imports none.

Without such a backend (or without a GPU) everything answers as PyTorch does on a CPU-only
machine: ``is_available()`` is False, ``device_count()`` 0, memory figures 0, seeding,
``synchronize`` and ``empty_cache`` do nothing; ``current_device``, ``set_device`` and
``get_device_name`` raise :class:`corefw.errors.BackendUnavailableError` saying why.

>>> import corefw.cuda
>>> device = "cuda" if corefw.cuda.is_available() else "cpu"
"""

from __future__ import annotations

from typing import Any

from ._device_api import DeviceTypeAPI

__all__ = [
    "current_device", "device_count", "empty_cache", "get_device_name", "is_available",
    "is_initialized", "manual_seed", "manual_seed_all", "max_memory_allocated",
    "memory_allocated", "memory_reserved", "memory_stats", "reset_peak_memory_stats",
    "set_device", "synchronize",
]

_api = DeviceTypeAPI("cuda")

is_available = _api.is_available
device_count = _api.device_count
current_device = _api.current_device
set_device = _api.set_device
get_device_name = _api.get_device_name
synchronize = _api.synchronize
manual_seed = _api.manual_seed
manual_seed_all = _api.manual_seed
memory_stats = _api.memory_stats
memory_allocated = _api.memory_allocated
max_memory_allocated = _api.max_memory_allocated
memory_reserved = _api.memory_reserved
empty_cache = _api.empty_cache
device = _api.device_index  # ``with corefw.cuda.device(1): ...``


def is_initialized() -> bool:
    """Whether the cuda backend is available (corefw initializes it on first use)."""
    return _api.is_available()


def reset_peak_memory_stats(device: Any = None) -> None:
    """Accepted for PyTorch compatibility; peaks are whatever the backend reports."""
