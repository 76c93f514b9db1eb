"""What a process-group backend plugin implements, and the errors and reduce ops of
:mod:`corefw.distributed`.

A backend is registered by a plugin's ``register_process_groups`` hook under a name (``"mpi"``,
``"nccl"``). ``init_process_group(name)`` calls its ``create`` and from then on hands every
collective to the process group it returned. Collectives work in place on tensors (the core
has checked devices, shapes and ranks before) and return a :class:`Work`; ``src``/``dst``
ranks are ranks *within that group*.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from ..errors import CorefwError

__all__ = ["DistBackendError", "DistError", "ProcessGroupBackend", "ReduceOp", "Work",
           "PROVIDERS"]

#: Which distribution provides the backends corefw knows of (named when one is missing).
PROVIDERS = {"mpi": "corefw-mpi (python3 -m pip install -e plugins/mpi, which brings mpi4py "
                    "and mpich)",
             "nccl": "corefw-cuda with CuPy (python3 -m pip install -e 'plugins/cuda[cuda12]')"}


class DistError(CorefwError, RuntimeError):
    """A distributed call was used wrongly (no process group, bad rank, mismatched tensors)."""


class DistBackendError(DistError):
    """The communication failed: a rank raised or died, or a collective timed out."""


class ReduceOp(enum.Enum):
    """How ``all_reduce``, ``reduce`` and ``reduce_scatter`` combine values (PyTorch's names).
    ``AVG`` is the sum divided by the group size (floating-point tensors only)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class Work(Protocol):
    """The handle of a collective started with ``async_op=True``."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (raises :class:`DistBackendError` on failure or timeout)."""

    def is_completed(self) -> bool:
        """Whether it has finished (never blocks)."""


class ProcessGroup(Protocol):
    """One communicator of ``size`` ranks; this process is ``rank``. Every method starts the
    operation and returns a :class:`Work`; tensors are contiguous and already checked. The
    collectives also get ``async_op=`` (True: the caller computes before it waits, so the
    backend should make progress meanwhile; False: it waits at once)."""

    rank: int
    size: int
    #: optional: the device of the small buffers the core exchanges (object collectives,
    #: debug checks); "cpu" when absent, "cuda:N" for NCCL.
    buffer_device: str

    def allreduce(self, tensor: Any, op: ReduceOp, async_op: bool = False) -> Work: ...
    def broadcast(self, tensor: Any, src: int, async_op: bool = False) -> Work: ...
    def reduce(self, tensor: Any, dst: int, op: ReduceOp, async_op: bool = False) -> Work: ...
    # out: size x tensor, in rank order
    def allgather(self, out: Any, tensor: Any, async_op: bool = False) -> Work: ...
    def reduce_scatter(self, out: Any, tensor: Any, op: ReduceOp,
                       async_op: bool = False) -> Work: ...
    def gather(self, out: Any | None, tensor: Any, dst: int, async_op: bool = False) -> Work: ...
    def scatter(self, out: Any, tensor: Any | None, src: int, async_op: bool = False) -> Work: ...
    # equal splits along dim 0
    def alltoall(self, out: Any, tensor: Any, async_op: bool = False) -> Work: ...
    def send(self, tensor: Any, dst: int, tag: int) -> Work: ...
    def recv(self, tensor: Any, src: int | None, tag: int) -> Work: ...  # Work.source: sender
    def barrier(self, async_op: bool = False) -> Work: ...
    def split(self, ranks: list[int]) -> ProcessGroup | None: ...  # collective; None: not in it
    def abort(self, message: str | None) -> None: ...  # tell the others, stop this job
    def shutdown(self) -> None: ...


class ProcessGroupBackend(Protocol):
    """What ``register_process_groups`` registers."""

    def is_available(self) -> bool:
        """Whether it can run here (its library imports, its devices exist)."""

    def unavailable_reason(self) -> str | None:
        """Why not, when :meth:`is_available` is False."""

    def create(self, rank: int | None, world_size: int | None, timeout: float,
               init_method: str | None) -> ProcessGroup:
        """Join the job and return the world group (``rank``/``world_size`` None: from the
        launcher's environment)."""
