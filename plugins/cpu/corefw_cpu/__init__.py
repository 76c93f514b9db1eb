"""corefw-cpu: the host-memory device ``cpu`` on NumPy, a plugin like any third party's.

It uses only the public plugin API: the backend toolkit builds the kernel table from numpy,
and :mod:`corefw_cpu.kernels` adds fast kernels for the composites that matter.
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1.1,<2"  # register_compilers
__version__ = "0.1.0"


@hookimpl
def register_backends(register):
    from .backend import NumpyBackend

    register(NumpyBackend())


@hookimpl
def register_compilers(register):
    from .fuse import cpu_fuse

    register("cpu_fuse", cpu_fuse)
