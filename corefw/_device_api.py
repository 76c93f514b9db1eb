"""Per-device-type queries behind :mod:`corefw.cuda` and :mod:`corefw.accelerator`.

Everything is answered by the backend object registered for a device type (through
``corefw.dispatch.backends()``, which loads the plugins); the core names no backend. Where no
backend serves the type, or it is unavailable here, the queries answer as PyTorch does on a
machine without that device: ``is_available()`` is False, counts and memory figures are 0,
seeding, synchronizing and cache-emptying do nothing; only the calls that need a device
(``set_device``, ``current_device``, ``get_device_name``) raise
:class:`~corefw.errors.BackendUnavailableError`, saying why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import BackendUnavailableError

__all__ = ["DeviceTypeAPI", "HOST_TYPE"]

#: The conventional name of the host-memory device (see corefw._device); never an accelerator.
HOST_TYPE = "cpu"

_current_index: dict[str, int] = {}  # device type -> index chosen by set_device


def registered_backends() -> dict[str, Any]:
    """Backends by device type, in registration order (loads the plugins once)."""
    from . import dispatch

    return dispatch.backends()


def _available(backend: Any) -> bool:
    try:
        return bool(backend.is_available())
    except Exception:  # a plugin's probe must not break a query
        return False


class DeviceTypeAPI:
    """The device queries for one device type (``DeviceTypeAPI("cuda")``)."""

    def __init__(self, device_type: str) -> None:
        self.device_type = device_type

    def backend(self) -> Any | None:
        """The registered backend of this type, or None."""
        return registered_backends().get(self.device_type)

    def _usable(self) -> Any | None:
        backend = self.backend()
        return backend if backend is not None and _available(backend) else None

    def _require(self, what: str) -> Any:
        backend = self.backend()
        if backend is None:
            raise BackendUnavailableError(
                f"{what}: no backend serves device type {self.device_type!r}; install one (its "
                "plugin registers it) and check `corefw plugins`")
        if not _available(backend):
            raise BackendUnavailableError(
                f"{what}: device type {self.device_type!r} is unavailable here: "
                f"{backend.unavailable_reason()}")
        return backend

    def _index(self, device: Any, what: str) -> int:
        """The device index meant by ``device`` (None: the current one), checked."""
        from ._device import device as device_cls

        if device is None:
            index = _current_index.get(self.device_type, 0)
        elif isinstance(device, int):
            index = device
        else:
            dev = device_cls(device)
            if dev.type != self.device_type:
                raise ValueError(f"{what}: expected a {self.device_type!r} device, got {dev}")
            index = dev.index if dev.index is not None else 0
        return index

    # ---------------------------------------------------------------- availability
    def is_available(self) -> bool:
        """Whether a backend serves this device type and can run here."""
        return self._usable() is not None

    def device_count(self) -> int:
        """Number of devices of this type (0 when unavailable)."""
        backend = self._usable()
        return int(backend.device_count()) if backend is not None else 0

    def current_device(self) -> int:
        """Index of the current device (set by :meth:`set_device`, initially 0)."""
        self._require(f"corefw.{self.device_type}.current_device")
        return _current_index.get(self.device_type, 0)

    def set_device(self, device: Any) -> None:
        """Make device ``device`` (an index or ``"type:index"``) the current one.

        corefw places tensors where their ``device=`` says (``"cuda"`` is index 0); the
        current index is what :meth:`current_device` reports and the default of the other
        queries here. A negative index is ignored, as in PyTorch.
        """
        what = f"corefw.{self.device_type}.set_device"
        index = self._index(device, what)
        if index < 0:
            return
        backend = self._require(what)
        count = int(backend.device_count())
        if index >= count:
            raise BackendUnavailableError(
                f"{what}: device index {index} does not exist; {backend.name} has {count} "
                f"{self.device_type} device(s)")
        _current_index[self.device_type] = index

    @contextlib.contextmanager
    def device_index(self, device: Any) -> Iterator[None]:
        """Context manager: :meth:`set_device` inside, the previous index restored after."""
        previous = _current_index.get(self.device_type, 0)
        self.set_device(device)
        try:
            yield
        finally:
            _current_index[self.device_type] = previous

    def get_device_name(self, device: Any = None) -> str:
        """The backend's name for the device (the GPU's model where the backend knows it)."""
        what = f"corefw.{self.device_type}.get_device_name"
        backend = self._require(what)
        namer = getattr(backend, "device_name", None)
        return str(namer(self._index(device, what))) if callable(namer) else str(backend.name)

    # ---------------------------------------------------------------- work and seeds
    def synchronize(self, device: Any = None) -> None:
        """Wait for the queued work on a device (no-op when unavailable or synchronous)."""
        backend = self._usable()
        if backend is not None:
            backend.synchronize(self._index(device, f"corefw.{self.device_type}.synchronize"))

    def manual_seed(self, seed: int) -> None:
        """Seed the random streams of this device type (ignored when unavailable).

        The backend contract seeds every device of the type at once, so this is also
        ``manual_seed_all``.
        """
        backend = self._usable()
        if backend is None:
            return
        import corefw

        # First use of the type applies a pending global seed: do that now, then ours.
        corefw.empty(0, device=corefw.device(self.device_type, 0))
        backend.manual_seed(int(seed))

    # ---------------------------------------------------------------- memory
    def memory_stats(self, device: Any = None) -> dict[str, int]:
        """The backend's allocator statistics (``{}`` when unavailable)."""
        backend = self._usable()
        if backend is None:
            return {}
        return dict(backend.memory_stats(self._index(device, "memory_stats")))

    def memory_allocated(self, device: Any = None) -> int:
        """Bytes held by live tensors (``bytes_in_use``; 0 when unknown or unavailable)."""
        return int(self.memory_stats(device).get("bytes_in_use", 0))

    def max_memory_allocated(self, device: Any = None) -> int:
        """Peak of :meth:`memory_allocated` where the backend tracks one
        (``peak_bytes_in_use``), else the current figure."""
        stats = self.memory_stats(device)
        return int(stats.get("peak_bytes_in_use", stats.get("bytes_in_use", 0)))

    def memory_reserved(self, device: Any = None) -> int:
        """Bytes held by the allocator (``bytes_reserved``; 0 when unknown)."""
        return int(self.memory_stats(device).get("bytes_reserved", 0))

    def empty_cache(self) -> None:
        """Return cached, unused memory to the device (where the backend caches)."""
        backend = self._usable()
        fn = getattr(backend, "empty_cache", None) if backend is not None else None
        if callable(fn):
            fn()


def _holds_data(backend: Any) -> bool:
    """False for a backend with the ``abstract`` capability (shapes only, like ``meta``)."""
    return "abstract" not in getattr(backend, "capabilities", ())


def accelerator_type(check_available: bool = False) -> str | None:
    """The accelerator's device type: the first registered backend, other than the host's
    and those that hold no data (``abstract``), that is available; without one, and unless
    ``check_available``, the first such backend registered (as PyTorch names its build's
    accelerator on a machine without the device)."""
    others = [(t, b) for t, b in registered_backends().items()
              if t != HOST_TYPE and _holds_data(b)]
    for dev_type, backend in others:
        if _available(backend):
            return dev_type
    if others and not check_available:
        return others[0][0]
    return None
