"""corefw-mpi: the ``mpi`` process-group backend of :mod:`corefw.distributed`, on mpi4py.

Importing this module is cheap: mpi4py (and MPI itself) is imported by
``init_process_group("mpi")``, not when plugins load.
"""

from __future__ import annotations

import importlib.util

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


class MPIBackend:
    """Creates :class:`corefw_mpi.group.MPIProcessGroup` over ``MPI.COMM_WORLD``."""

    name = "mpi"

    def is_available(self) -> bool:
        """Whether mpi4py is installed."""
        return importlib.util.find_spec("mpi4py") is not None

    def unavailable_reason(self) -> str | None:
        """Why not, if not."""
        return None if self.is_available() else "mpi4py is not installed (pip install mpi4py " \
            "mpich)"

    def create(self, rank, world_size, timeout, init_method):
        """Join ``MPI.COMM_WORLD`` (started by mpiexec, srun or mpirun, or a single process)."""
        from .group import create

        return create(rank, world_size, timeout, init_method)


@hookimpl
def register_process_groups(register):
    register("mpi", MPIBackend())
