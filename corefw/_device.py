"""Devices: ``corefw.device("cuda:1")`` names a device; a backend serves each device type.

Devices are interned, so ``a.device is b.device`` is the cheap same-device test on the hot path.
The core knows no device type by name: ``"cpu"`` is only the conventional name of host memory
and the initial default device, which :func:`set_default_device` changes.
"""

from __future__ import annotations

from .errors import DeviceError

__all__ = ["device", "get_default_device", "set_default_device"]

_interned: dict = {}


class device:  # noqa: N801 - PyTorch's spelling
    """A device, e.g. ``device("cpu")``, ``device("cuda", 1)`` or ``device("cuda:1")``."""

    __slots__ = ("type", "index", "backend", "table", "ctx", "__weakref__")

    def __new__(cls, spec, index: int | None = None):
        if isinstance(spec, device):
            if index is None:
                return spec
            spec = spec.type
        key = (spec, index)
        hit = _interned.get(key)
        if hit is not None:
            return hit
        dev_type, dev_index = _parse(spec, index)
        canonical = _interned.get((dev_type, dev_index))
        if canonical is None:
            canonical = object.__new__(cls)
            canonical.type = dev_type
            canonical.index = dev_index
            canonical.backend = None
            canonical.table = None
            canonical.ctx = None
            _interned[(dev_type, dev_index)] = canonical
        _interned[key] = canonical
        return canonical

    def __repr__(self) -> str:
        return f"device(type={self.type!r}, index={self.index})" if self.index else \
            f"device(type={self.type!r})"

    def __str__(self) -> str:
        return self.type if not self.index else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        return self is other

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


def _parse(spec, index):
    if not isinstance(spec, str):
        raise DeviceError(f"device must be a str like 'cpu' or 'cuda:1' or a corefw.device, "
                          f"got {spec!r}")
    dev_type, sep, idx = spec.partition(":")
    if sep:
        if index is not None:
            raise DeviceError(f"device {spec!r} already has an index; do not pass index too")
        if not idx.isdigit():
            raise DeviceError(f"malformed device {spec!r}: expected 'type' or 'type:N' "
                              f"with N a non-negative integer")
        index = int(idx)
    if not dev_type.isidentifier():
        raise DeviceError(f"malformed device {spec!r}: the type must be a name like 'cpu'")
    if index is None:
        index = 0
    if not isinstance(index, int) or index < 0:
        raise DeviceError(f"device index must be a non-negative int, got {index!r}")
    return dev_type, index


_default = ["cpu"]


def set_default_device(dev) -> None:
    """Set the device new tensors are created on (initially ``"cpu"``)."""
    _default[0] = str(device(dev))


def get_default_device() -> device:
    """The device new tensors are created on."""
    return device(_default[0])
