"""Data-parallel training across processes and machines: PyTorch's ``torch.distributed``.

Process-group backends are plugins (``register_process_groups``): ``mpi`` in corefw-mpi (on
mpi4py; the ``mpich`` wheel brings ``mpiexec``) and ``nccl`` in corefw-cuda (on
``cupy.cuda.nccl``). Start ranks with ``corefw run --nproc N script.py`` (or
``python -m corefw.distributed.run``); each calls :func:`init_process_group`. Wrap the model in
:class:`corefw.nn.parallel.DistributedDataParallel`. docs/distributed.md is the guide.
"""

from __future__ import annotations

from ._backend import (DistBackendError, DistError, ProcessGroupBackend, ReduceOp, Work)
from ._c10d import (all_gather, all_gather_into_tensor, all_reduce, all_to_all,
                    all_to_all_single, barrier, broadcast, destroy_process_group, gather,
                    get_backend, get_rank, get_world_size, init_process_group, irecv,
                    is_available, isend, new_group, recv, reduce, reduce_scatter,
                    reduce_scatter_tensor, scatter, send)
from ._groups import GroupMember, ProcessGroup, is_initialized
from ._objects import all_gather_object, broadcast_object_list

__all__ = ["DistBackendError", "DistError", "GroupMember", "ProcessGroup", "ProcessGroupBackend",
           "ReduceOp", "Work", "all_gather", "all_gather_into_tensor", "all_gather_object",
           "all_reduce", "all_to_all", "all_to_all_single", "barrier", "broadcast",
           "broadcast_object_list", "destroy_process_group", "gather", "get_backend",
           "get_rank", "get_world_size", "init_process_group", "irecv", "is_available",
           "is_initialized", "isend", "new_group", "recv", "reduce", "reduce_scatter",
           "reduce_scatter_tensor", "scatter", "send"]
