"""The NumPy backend: the toolkit's kernels plus fast composites."""

from __future__ import annotations

import numpy as np

from corefw.backend import ArrayModuleBackend


def _erf():
    try:
        from scipy.special import erf
    except ImportError:  # the toolkit's exact (slower) math.erf fallback
        return None
    return erf


class NumpyBackend(ArrayModuleBackend):
    """Device type ``cpu``: host memory, NumPy arrays, zero-copy with NumPy and DLPack."""

    dlpack_device_type = 1  # kDLCPU

    def __init__(self) -> None:
        super().__init__(np, device_type="cpu", name="numpy", erf=_erf())
        from .kernels import fast_kernels

        self.kernels.update(fast_kernels())

    def from_host(self, array, index: int = 0):
        return np.asarray(array)

    def from_dlpack(self, ext):
        return np.from_dlpack(ext)
