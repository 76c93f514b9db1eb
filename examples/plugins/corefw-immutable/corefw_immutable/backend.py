"""The ``immut`` backend: NumPy arrays that are never written after they are made.

Built with corefw's backend toolkit (:class:`corefw.backend.ArrayModuleBackend`), then every
kernel is wrapped so that its result is a fresh array (never a view of an operand) marked
read-only: any attempt by corefw to write into an array fails loudly instead of passing
unnoticed. The in-place primitives are pure here: ``copy_(dst, src)`` returns ``src``
broadcast and cast to ``dst``; ``index_put_`` returns the updated copy. Without "inplace" and
"views" in its capabilities, corefw rebinds those results to the tensor and its views.
"""

from __future__ import annotations

import numpy as np

from corefw.backend import ArrayModuleBackend

DTYPES = frozenset({"bool", "int32", "int64", "float32", "float64"})


def _frozen_array(out, operands=()):
    """``out`` as a new read-only array: copied if it is a view or one of ``operands``."""
    if not isinstance(out, np.ndarray):
        return out
    if out.base is not None or any(out is a for a in operands):
        out = out.copy()
    out.flags.writeable = False
    return out


def _frozen(fn):
    def kernel(*operands, **attrs):
        out = fn(*operands, **attrs)
        if isinstance(out, tuple):  # a fused update's new values
            return tuple(_frozen_array(o, operands) for o in out)
        return _frozen_array(out, operands)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


def _copy(dst, src):
    """What ``dst`` holds after ``dst[...] = src``: a new array."""
    return np.array(np.broadcast_to(src, dst.shape), dtype=dst.dtype)


def _index_put(x, values, key, accumulate):
    out = x.copy()
    if accumulate:
        np.add.at(out, key, values)
    else:
        out[key] = values
    return out


class ImmutableBackend(ArrayModuleBackend):
    """Device type ``immut``: one device, host memory, read-only arrays, no views."""

    capabilities = frozenset({"broadcast", "random"})  # no "inplace", no "views"
    dtypes = DTYPES

    def __init__(self) -> None:
        super().__init__(np, device_type="immut", name="numpy-immutable")
        self.kernels["copy_"] = _copy
        self.kernels["index_put_"] = _index_put
        self.kernels = {name: _frozen(fn) for name, fn in self.kernels.items()}

    def from_host(self, array, index: int = 0):
        return _frozen_array(np.array(array, copy=True))

    def to_host(self, array):
        return np.array(array, copy=True)  # the caller may write into its copy

    def __repr__(self) -> str:
        return "<ImmutableBackend device type 'immut'>"
