"""The ``nccl`` process-group backend of :mod:`corefw.distributed`: NCCL through
``cupy.cuda.nccl``, one rank per GPU, collectives on CUDA tensors on a dedicated stream.

Ranks find each other through MPI (``corefw run`` / mpiexec / srun with corefw-mpi installed:
rank 0's NCCL id is broadcast as bytes) or, without MPI, through ``init_method="file:///path"``
on a file system all ranks share (rank 0 writes the id there). Rank r uses GPU
``LOCAL_RANK`` (else r modulo the GPU count). Each collective waits for the work queued on the
caller's current stream, runs on the group's NCCL stream and returns a work whose ``wait()``
blocks (with the group's timeout) until the GPU has finished it.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

from corefw.distributed import DistBackendError, DistError, ReduceOp

_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
           "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8",
           "int8": "NCCL_INT8", "bfloat16": "NCCL_BFLOAT16"}
_OPS = {ReduceOp.SUM: "NCCL_SUM", ReduceOp.AVG: "NCCL_SUM", ReduceOp.PRODUCT: "NCCL_PROD",
        ReduceOp.MIN: "NCCL_MIN", ReduceOp.MAX: "NCCL_MAX"}


def _nccl():
    return importlib.import_module("cupy.cuda.nccl")


class NcclBackend:
    """Registered as ``nccl`` by corefw-cuda."""

    name = "nccl"

    def is_available(self) -> bool:
        """Whether CuPy has NCCL and a GPU is present."""
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """Why not, if not."""
        from . import get_backend

        backend = get_backend()
        if not backend.is_available():
            return backend.unavailable_reason()
        try:
            if not getattr(_nccl(), "available", True):
                return "CuPy was installed without NCCL (pip install nvidia-nccl-cu12)"
        except ImportError as exc:
            return f"cupy.cuda.nccl cannot be imported: {exc}"
        return None

    def create(self, rank, world_size, timeout, init_method):
        """Join the NCCL communicator of the job."""
        return NcclProcessGroup.join(rank, world_size, timeout, init_method)


def _unique_id(rank: int | None, world_size: int | None, init_method: str | None):
    """(rank, world_size, NCCL id) agreed by every rank."""
    nccl = _nccl()
    if init_method and init_method.startswith("file://"):
        if rank is None or world_size is None:
            raise DistError("init_process_group('nccl', init_method='file://...'): pass rank "
                            "and world_size (or set RANK and WORLD_SIZE)")
        path = Path(init_method[len("file://"):])
        if rank == 0:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(bytes(b % 256 for b in nccl.get_unique_id()))
            os.replace(tmp, path)
        deadline = time.monotonic() + 300
        while not path.exists():
            if time.monotonic() > deadline:
                raise DistBackendError(f"init_process_group('nccl'): rank 0 wrote no NCCL id "
                                       f"to {path} within 300 s")
            time.sleep(0.05)
        raw = path.read_bytes()
        return rank, world_size, tuple(b - 256 if b > 127 else b for b in raw)
    if init_method not in (None, "", "env://"):
        raise DistError(f"init_process_group('nccl'): init_method={init_method!r} is not "
                        f"supported; use None (MPI rendezvous) or 'file:///shared/path'")
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistError("init_process_group('nccl'): the ranks find each other through MPI "
                        "(install corefw-mpi) or init_method='file:///shared/path'") from exc
    import numpy as np

    comm = MPI.COMM_WORLD
    uid = np.zeros(128, np.int8)
    if comm.Get_rank() == 0:
        uid[:] = nccl.get_unique_id()
    comm.Bcast(uid, root=0)
    return comm.Get_rank(), comm.Get_size(), tuple(int(v) for v in uid)


class NcclWork:
    """A collective on the group's stream; ``wait()`` blocks until the GPU finished it."""

    def __init__(self, pg: NcclProcessGroup, name: str, after=None) -> None:
        import cupy as cp

        self.pg, self.name, self.after = pg, name, after
        self.event = cp.cuda.Event(disable_timing=True)
        self.event.record(pg.stream)

    def is_completed(self) -> bool:
        """Whether the GPU has finished it."""
        return self.event.done

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done; DistBackendError after the timeout (the communicator is then
        aborted)."""
        limit = self.pg.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not self.event.done:
            if time.monotonic() > deadline:
                self.pg.comm.abort()
                raise DistBackendError(f"{self.name} on rank {self.pg.rank} timed out after "
                                       f"{limit:g} s: a rank is stuck or has exited")
            time.sleep(0.0002)
        if self.after is not None:
            after, self.after = self.after, None
            after()
        return True


class NcclProcessGroup:
    """One NCCL communicator over ``size`` GPUs."""

    def __init__(self, comm: Any, rank: int, size: int, device: int, timeout: float,
                 ranks: list[int]) -> None:
        import cupy as cp

        self.comm, self.rank, self.size = comm, rank, size
        self.device, self.timeout, self.ranks = device, timeout, ranks
        self.buffer_device = f"cuda:{device}"  # where the core puts its own small buffers
        with cp.cuda.Device(device):
            self.stream = cp.cuda.Stream(non_blocking=True)

    @classmethod
    def join(cls, rank, world_size, timeout, init_method) -> NcclProcessGroup:
        import cupy as cp

        rank, world_size, uid = _unique_id(rank, world_size, init_method)
        local = int(os.environ.get("LOCAL_RANK", rank))
        device = local % cp.cuda.runtime.getDeviceCount()
        with cp.cuda.Device(device):
            comm = _nccl().NcclCommunicator(world_size, uid, rank)
        return cls(comm, rank, world_size, device, timeout, list(range(world_size)))

    # -- helpers ------------------------------------------------------------------------------
    def _arr(self, t: Any):
        import cupy as cp

        if t.device.type != "cuda":
            raise DistError(f"nccl: collectives need CUDA tensors, got one on {t.device}; "
                            f"move it with .to('cuda:{self.device}') or use the mpi backend")
        return cp.from_dlpack(t)

    def _start(self, name: str, body, after=None) -> NcclWork:
        import cupy as cp

        with cp.cuda.Device(self.device):
            ready = cp.cuda.Event(disable_timing=True)
            ready.record(cp.cuda.get_current_stream())
            self.stream.wait_event(ready)
            body(self.stream.ptr)
            return NcclWork(self, name, after)

    @staticmethod
    def _dtype(a) -> int:
        name = _DTYPES.get(a.dtype.name)
        if name is None:
            raise DistError(f"nccl: dtype {a.dtype.name} is not supported by NCCL")
        return getattr(_nccl(), name)

    @staticmethod
    def _op(op: ReduceOp) -> int:
        return getattr(_nccl(), _OPS[op])

    def _avg(self, a, op):
        if op is ReduceOp.AVG:
            return lambda: a.__itruediv__(self.size)
        return None

    # -- collectives --------------------------------------------------------------------------
    def allreduce(self, tensor, op, async_op=False):
        a = self._arr(tensor)
        return self._start("all_reduce", lambda s: self.comm.allReduce(
            a.data.ptr, a.data.ptr, a.size, self._dtype(a), self._op(op), s), self._avg(a, op))

    def broadcast(self, tensor, src, async_op=False):
        a = self._arr(tensor)
        return self._start("broadcast", lambda s: self.comm.broadcast(
            a.data.ptr, a.data.ptr, a.size, self._dtype(a), src, s))

    def reduce(self, tensor, dst, op, async_op=False):
        a = self._arr(tensor)
        return self._start("reduce", lambda s: self.comm.reduce(
            a.data.ptr, a.data.ptr, a.size, self._dtype(a), self._op(op), dst, s),
            self._avg(a, op) if self.rank == dst else None)

    def allgather(self, out, tensor, async_op=False):
        o, a = self._arr(out), self._arr(tensor)
        return self._start("all_gather", lambda s: self.comm.allGather(
            a.data.ptr, o.data.ptr, a.size, self._dtype(a), s))

    def reduce_scatter(self, out, tensor, op, async_op=False):
        o, a = self._arr(out), self._arr(tensor)
        return self._start("reduce_scatter", lambda s: self.comm.reduceScatter(
            a.data.ptr, o.data.ptr, o.size, self._dtype(a), self._op(op), s), self._avg(o, op))

    def _exchange(self, name: str, sends: list, recvs: list) -> NcclWork:
        """Grouped point-to-point: ``sends``/``recvs`` are (array, peer) pairs."""
        nccl = _nccl()

        def body(s):
            nccl.groupStart()
            for a, peer in sends:
                self.comm.send(a.data.ptr, a.size, self._dtype(a), peer, s)
            for a, peer in recvs:
                self.comm.recv(a.data.ptr, a.size, self._dtype(a), peer, s)
            nccl.groupEnd()
        return self._start(name, body)

    def gather(self, out, tensor, dst, async_op=False):
        a = self._arr(tensor)
        if self.rank != dst:
            return self._exchange("gather", [(a, dst)], [])
        o = self._arr(out)
        chunks = [(o.reshape(self.size, -1)[r], r) for r in range(self.size) if r != dst]
        o.reshape(self.size, -1)[dst][...] = a.reshape(-1)
        return self._exchange("gather", [], chunks)

    def scatter(self, out, tensor, src, async_op=False):
        o = self._arr(out)
        if self.rank != src:
            return self._exchange("scatter", [], [(o, src)])
        a = self._arr(tensor).reshape(self.size, -1)
        o.reshape(-1)[...] = a[src]
        return self._exchange("scatter", [(a[r], r) for r in range(self.size) if r != src], [])

    def alltoall(self, out, tensor, async_op=False):
        o = self._arr(out).reshape(self.size, -1)
        a = self._arr(tensor).reshape(self.size, -1)
        return self._exchange("all_to_all", [(a[r], r) for r in range(self.size)],
                              [(o[r], r) for r in range(self.size)])

    def send(self, tensor, dst, tag):
        return self._exchange("send", [(self._arr(tensor), dst)], [])

    def recv(self, tensor, src, tag):
        if src is None:
            raise DistError("nccl: recv needs src (NCCL cannot receive from any rank)")
        work = self._exchange("recv", [], [(self._arr(tensor), src)])
        work.source = src
        return work

    def barrier(self, async_op=False):
        import cupy as cp

        with cp.cuda.Device(self.device):
            flag = cp.zeros(1, cp.float32)
        return self._start("barrier", lambda s: self.comm.allReduce(
            flag.data.ptr, flag.data.ptr, 1, self._dtype(flag), self._op(ReduceOp.SUM), s))

    def split(self, ranks):
        raise DistError("nccl: new_group is not supported yet; use the mpi backend for "
                        "sub-groups")

    def abort(self, message):
        self.comm.abort()
        try:
            from mpi4py import MPI

            MPI.COMM_WORLD.Abort(1)
        except ImportError:
            os._exit(1)

    def shutdown(self):
        self.comm.destroy()
