"""``corefw.backends``: PyTorch's ``torch.backends`` switches, kept so that programs which set
them run unchanged.

They are inert: corefw's kernels come from backend plugins (see ``corefw plugins``, and
:mod:`corefw.backend` for the toolkit that builds them), which have no cuDNN autotuner, TF32
or MPS switch to flip. Each flag keeps the value it is given, so code that reads it back sees
what it wrote. Not to be confused with :mod:`corefw.backend`, the backend toolkit.

>>> import corefw.backends
>>> corefw.backends.cudnn.benchmark = True      # accepted; no effect
>>> corefw.backends.mps.is_available()
False
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from typing import Any

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum"]


def _false() -> bool:
    return False


def _submodule(name: str, doc: str, **attrs: Any) -> types.ModuleType:
    """A real submodule (``import corefw.backends.cudnn as cudnn`` works) holding inert
    switches, with a ``flags(**values)`` context manager that sets some inside a block."""
    mod = types.ModuleType(f"{__name__}.{name}", doc)
    mod.__dict__.update(attrs)

    @contextmanager
    def flags(**values: Any):
        old = {k: getattr(mod, k) for k in values}
        mod.__dict__.update(values)
        try:
            yield
        finally:
            mod.__dict__.update(old)

    mod.flags = flags
    sys.modules[mod.__name__] = mod
    return mod


def _cudnn_available() -> bool:
    """Always False: no corefw backend exposes cuDNN through these switches."""
    return False


cudnn = _submodule(
    "cudnn", "cuDNN switches (inert).", enabled=True, benchmark=False, deterministic=False,
    allow_tf32=True, benchmark_limit=10, is_available=_cudnn_available, version=lambda: None,
)

cuda = _submodule(
    "cuda", "CUDA math switches (inert).",
    matmul=types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                                 allow_bf16_reduced_precision_reduction=True),
    is_built=lambda: _has_backend("cuda"),
    flash_sdp_enabled=lambda: False, mem_efficient_sdp_enabled=lambda: False,
    math_sdp_enabled=lambda: True, cudnn_sdp_enabled=lambda: False,
    enable_flash_sdp=lambda enabled: None, enable_mem_efficient_sdp=lambda enabled: None,
    enable_math_sdp=lambda enabled: None, enable_cudnn_sdp=lambda enabled: None,
    preferred_linalg_library=lambda backend=None: "default",
)

mps = _submodule("mps", "Apple MPS: never available.", is_available=_false, is_built=_false)
mkl = _submodule("mkl", "MKL: not used by corefw.", is_available=_false)
mkldnn = _submodule("mkldnn", "oneDNN: not used.", enabled=False, is_available=_false)
openmp = _submodule("openmp", "OpenMP: not used.", is_available=_false)
opt_einsum = _submodule("opt_einsum", "opt_einsum: not used.", enabled=False, strategy=None,
                        is_available=_false)
cpu = _submodule("cpu", "CPU capability.", get_cpu_capability=lambda: "DEFAULT")


def _has_backend(device_type: str) -> bool:
    """Whether a backend plugin for ``device_type`` is installed (available here or not)."""
    from .. import dispatch

    return device_type in dispatch.backends()
