"""The NumPy backend: the toolkit's kernels plus fast composites."""

from __future__ import annotations

import numpy as np

from corefw.backend import ArrayModuleBackend, on_bfloat16


def _erf(x):
    """scipy's erf, imported on first use (it costs ~140 ms; most programs never need it)."""
    global _erf_impl
    if _erf_impl is None:
        try:
            from scipy.special import erf
        except ImportError:  # exact but slower: math.erf element by element
            import math

            vec = np.vectorize(math.erf, otypes=[np.float64])
            erf = lambda v: vec(v).astype(v.dtype)  # noqa: E731
        _erf_impl = erf
    return _erf_impl(x)


_erf_impl = None


class NumpyBackend(ArrayModuleBackend):
    """Device type ``cpu``: host memory, NumPy arrays, zero-copy with NumPy and DLPack."""

    dlpack_device_type = 1  # kDLCPU
    #: bfloat16 through ml_dtypes, computed in float32 (corefw_cpu/_bfloat16.py)
    dtypes = ArrayModuleBackend.dtypes | {"bfloat16"}
    #: corefw.compile's default here (plugin API 1.2; ignored by 1.1): measured faster than
    #: replay on every benchmarked graph (docs/performance.md, "corefw.compile")
    default_compiler = "cpu_fuse"

    def __init__(self) -> None:
        super().__init__(np, device_type="cpu", name="numpy", erf=_erf)
        from .kernels import fast_kernels

        self.kernels.update(fast_kernels())
        from ._ieee import silence

        silence(self.kernels)  # log(0) is -inf without NumPy's RuntimeWarning, as in PyTorch
        from .threads import apply_default

        apply_default()
        from ._bfloat16 import install

        on_bfloat16(install(self))

    def set_num_threads(self, n: int) -> None:
        """Limit BLAS (and numexpr) threads (``corefw.set_num_threads``)."""
        from .threads import set_num_threads

        set_num_threads(n)

    def get_num_threads(self) -> int:
        """Threads BLAS may use (``corefw.get_num_threads``)."""
        from .threads import get_num_threads

        return get_num_threads()

    def from_host(self, array, index: int = 0):
        return np.asarray(array)

    def from_dlpack(self, ext):
        return np.from_dlpack(ext)
