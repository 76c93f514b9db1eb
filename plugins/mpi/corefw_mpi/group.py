"""An MPI communicator as a corefw process group.

Every collective is an MPI non-blocking call, started in call order. One the caller waits for
at once starts in the caller's thread (no thread switch); one started with ``async_op=True``
(DDP's gradient buckets), or behind such ones, goes to a worker thread (as in PyTorch's
ProcessGroupMPI) which starts it and waits for it inside MPI, so it progresses while the
caller computes: mpi4py releases the GIL inside MPI. The caller waits on the work with a
deadline and, while waiting, polls for failure notices (:mod:`corefw_mpi.alarm`); so a rank
that raises makes the others raise a DistBackendError naming it at once, and a rank that hangs
or vanishes makes them raise when the group's timeout runs out. Point-to-point messages use
MPI's own non-blocking calls on a communicator of their own.

Host tensors are used in place (``Tensor.numpy()``: the cpu backend's own array, cheaper per
call than an ``np.from_dlpack`` view); a tensor on another device is copied to the host and
back.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from typing import Any

import numpy as np

import corefw
from corefw.distributed import DistBackendError, DistError, ReduceOp

from .alarm import Alarm

_SUM, _AVG = ReduceOp.SUM, ReduceOp.AVG  # ReduceOp.SUM is a Python-level lookup (0.26 us)
_POLL_S = 0.02      # how often a waiting rank looks for failure notices and its deadline
_POLLS_BEFORE_YIELD = 64  # a wait yields the core once per this many tests of its request


def create(rank, world_size, timeout, init_method):
    """The world group of this MPI job."""
    if init_method not in (None, "", "env://"):
        raise DistError(f"init_process_group('mpi'): init_method={init_method!r} is not used "
                        f"by MPI (mpiexec, srun or mpirun start and connect the ranks); pass "
                        f"None or 'env://'")
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    for what, want, have in (("rank", rank, world.Get_rank()),
                             ("world_size", world_size, world.Get_size())):
        if want is not None and want != have:
            raise DistError(f"init_process_group('mpi'): {what}={want}, but MPI says this "
                            f"process is {what} {have} (start the ranks with `corefw run "
                            f"--nproc N`, mpiexec, srun or mpirun, and leave {what} unset)")
    if MPI.Query_thread() < MPI.THREAD_MULTIPLE:
        raise DistError("init_process_group('mpi'): this MPI build does not provide "
                        "MPI_THREAD_MULTIPLE, which the mpi backend needs")
    return MPIProcessGroup(world, timeout, list(range(world.Get_size())))


def _then(arrays: list, post, backs: list) -> None:
    """After a collective: ``post(*arrays)`` (AVG's division), then the copies back."""
    if post is not None:
        post(*arrays)
    for back in backs:
        back()


class _Completed:
    """The work handle of a synchronous collective that has already completed."""

    __slots__ = ()
    source = None

    def wait(self, timeout: float | None = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


_COMPLETED = _Completed()


class MPIWork:
    """A collective queued on the worker thread, or an MPI request started in the caller's
    thread (an inline collective, a point-to-point message)."""

    __slots__ = ("pg", "name", "event", "error", "source", "request", "status", "keep",
                 "finish", "done")

    def __init__(self, pg: MPIProcessGroup, name: str, request: Any = None) -> None:
        self.pg, self.name, self.request = pg, name, request
        # an Event only for work the worker thread completes (a request is tested instead)
        self.event = threading.Event() if request is None else None
        self.error: BaseException | None = None
        self.source: int | None = None
        self.status = self.keep = None
        self.finish = None   # copy back, run by wait()
        self.done = False

    def is_completed(self) -> bool:
        """Whether it has finished."""
        if self.request is not None:
            return self.poll()
        return self.event.is_set()

    def poll(self) -> bool:
        """A request: test it; True once it is complete."""
        if not self.done and self.request.Test(self.status):
            if self.status is not None:
                self.source = self.status.Get_source()
            self.done = True
        return self.done

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for it; DistBackendError on a peer's failure or after the timeout."""
        self.pg.wait(self, timeout)
        if self.finish is not None:
            finish, self.finish = self.finish, None
            finish()
        return True


class MPIProcessGroup:
    """One MPI communicator (the world, or a sub-group from :meth:`split`)."""

    def __init__(self, comm: Any, timeout: float, world_ranks: list[int],
                 alarm: Alarm | None = None) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm.Dup()       # collectives
        self.p2p = comm.Dup()        # send/recv
        # failure notices: one channel for the whole job (a sub-group's wait hears them too)
        self.alarm = Alarm(comm, timeout) if alarm is None else alarm
        self.owns_alarm = alarm is None
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.world_ranks = world_ranks
        self.timeout = timeout
        self.broken: str | None = None
        self.timed_out = False
        self.ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                    ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}
        self._sum = MPI.SUM
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = 0             # collectives queued on the worker, not finished yet
        self.count_lock = threading.Lock()
        self.thread = threading.Thread(target=self._worker, name="corefw-mpi", daemon=True)
        self.thread.start()
        atexit.register(self.shutdown)

    # -- machinery ----------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            work, fn = item
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                work.error = exc
            finally:
                with self.count_lock:
                    self.pending -= 1
                work.event.set()

    def _usable(self, name: str) -> None:
        if self.broken:
            raise DistBackendError(f"{name}: the process group is broken ({self.broken}); "
                                   f"restart the job")
        if not self.thread.is_alive():
            raise DistError(f"{name}: the process group was destroyed")

    def _submit(self, name: str, fn, finish=None) -> MPIWork:
        self._usable(name)
        work = MPIWork(self, name)
        work.finish = finish
        with self.count_lock:
            self.pending += 1
        self.queue.put((work, fn))
        return work

    def wait(self, work: MPIWork, timeout: float | None) -> None:
        """Wait for ``work``, watching for failure notices and the deadline."""
        limit = self.timeout if timeout is None else timeout
        if work.request is not None:
            self._spin(work.poll, work.name, limit)
            return
        deadline = time.monotonic() + limit
        while not work.event.wait(_POLL_S):
            self._check_alarm(work.name)
            if time.monotonic() > deadline:
                self._timed_out(work.name, limit)
        if work.error is not None:
            err = work.error
            raise DistBackendError(f"{work.name} failed on rank {self.world_ranks[self.rank]}: "
                                   f"{type(err).__name__}: {err}") from err

    def _spin(self, test, name: str, limit: float) -> None:
        """Wait for an MPI request started in this thread; ``test()``: whether it is complete.

        Test it in a loop as MPICH's own MPI_Wait does (a non-blocking collective progresses
        only inside MPI calls, so a sleep would stall the transfer), yielding the core once
        per _POLLS_BEFORE_YIELD tests (as MPICH's CH3 did, MPIR_CVAR_POLLS_BEFORE_YIELD; CH4's
        MPI_Wait yields on every idle poll): when both ranks share a busy core, a rank that
        never yields keeps its peer off it for a whole time slice. Not ``MPI_Waitany`` on the
        request and a standing receive of failure notices: at idle that is no faster than
        this loop, and MPICH's Waitany polls without ever yielding the core, so with two
        ranks on one core it ran at 0.14x raw mpi4py at 1 MB (docs/performance.md)."""
        if test():
            return
        start = time.monotonic()
        deadline, check = start + limit, start + _POLL_S
        polls = 0
        while not test():
            polls += 1
            if polls == _POLLS_BEFORE_YIELD:
                polls = 0
                os.sched_yield()
                now = time.monotonic()
                if now >= check:
                    self._check_alarm(name)
                    if now > deadline:
                        self._timed_out(name, limit)
                    check = now + _POLL_S

    def _timed_out(self, name: str, limit: float) -> None:
        self.broken = f"{name} timed out"
        self.timed_out = True
        raise DistBackendError(
            f"{name} on rank {self.world_ranks[self.rank]} timed out after {limit:g} s "
            f"waiting for the other ranks of {self.size}: a rank is stuck, has exited, or the "
            f"ranks called different collectives (run with COREFW_DISTRIBUTED_DEBUG=DETAIL to "
            f"check); see docs/distributed.md, 'Debugging a hang'")

    def _check_alarm(self, name: str) -> None:
        notice = self.alarm.poll()
        if notice is not None:
            self._peer_failed(name, notice)

    def _peer_failed(self, name: str, notice: tuple[int, str]) -> None:
        who, text = notice
        self.broken = f"rank {who} failed"
        err = DistBackendError(f"{name} on rank {self.world_ranks[self.rank]}: rank {who} "
                               f"failed: {text}")
        err.from_peer = True  # the uncaught-error hook reports it, then acknowledges
        raise err

    def abort(self, message: str | None) -> None:
        """Stop the MPI job (never returns). ``message``: this rank's error, which every other
        rank reports before the job stops (see :mod:`corefw_mpi.alarm`); None after a peer's
        failure notice (wait for that peer to stop the job) or on Ctrl-C."""
        self.alarm.stop(message, timed_out=self.timed_out)

    def shutdown(self) -> None:
        """Stop the worker thread (after the queued collectives) and free the communicators."""
        if self.thread.is_alive():
            self.queue.put(None)
            if not self.broken:
                self.thread.join()
        if self.MPI.Is_finalized():
            return
        if self.owns_alarm:
            self.alarm.free()  # acknowledges a caught failure notice
        if not self.broken:
            for comm in (self.comm, self.p2p):
                if comm != self.MPI.COMM_NULL:
                    comm.Free()
            self.comm = self.p2p = self.MPI.COMM_NULL

    # -- buffers ------------------------------------------------------------------------------
    @staticmethod
    def _host(t: Any):
        """A C-contiguous host array for tensor ``t`` and a function that writes it back."""
        if t.device.type == "cpu":
            arr = t.numpy()  # the tensor's own array (shared on the cpu backend)
            if arr.flags.c_contiguous:
                return arr, None
            tmp = np.ascontiguousarray(arr)
            return tmp, lambda: arr.__setitem__(Ellipsis, tmp)
        tmp = np.ascontiguousarray(t.cpu().numpy())
        return tmp, lambda: t.copy_(corefw.tensor(tmp).to(t.device))

    def _mpi_op(self, op: ReduceOp):
        return self.ops[op]

    def _run(self, name: str, tensors, start, post=None, async_op: bool = False) -> MPIWork:
        """Run a collective over host arrays of ``tensors``. ``start(*arrays)`` is an MPI
        non-blocking call returning a request (always non-blocking: MPI does not match blocking
        and non-blocking collectives across ranks). It starts right here when nothing is queued
        on the worker and the caller waits at once (no thread switch); otherwise it is queued
        on the worker thread, which starts it in order and waits for it, so that it progresses
        while the caller computes. ``post(*arrays)`` runs once it is done (AVG's division),
        then the copies back."""
        pairs = [self._host(t) if t is not None else (None, None) for t in tensors]
        arrays = [a for a, _ in pairs]
        backs = [b for _, b in pairs if b is not None]
        if not async_op and self.pending == 0 and not self.broken:
            work = MPIWork(self, name, start(*arrays))
            work.keep = arrays  # the buffers must live until the request completes
            if post is not None or backs:
                work.finish = lambda: _then(arrays, post, backs)
            return work

        def fn() -> None:
            start(*arrays).Wait()
            if post is not None:
                post(*arrays)
        return self._submit(name, fn, (lambda: _then(arrays, None, backs)) if backs else None)

    def _avg(self, op: ReduceOp, index: int = 0):
        """The division of ReduceOp.AVG, on array ``index``."""
        if op is not ReduceOp.AVG:
            return None
        return lambda *arrays: np.divide(arrays[index], self.size, out=arrays[index],
                                         casting="unsafe")

    # -- collectives --------------------------------------------------------------------------
    def allreduce(self, tensor, op, async_op=False):
        mop = self._sum if op is _SUM else self.ops[op]  # (an Enum's hash is a Python call)
        if not async_op and not self.pending and not self.broken and \
                tensor.device.type == "cpu":
            # The common case (a gradient bucket, a metric), started and waited for right here
            # with no work object: each line of this path is paid twice per call (before the
            # transfer and after it), and with the caches just emptied by the transfer, so at
            # 1-4 MB it is what separates corefw from raw mpi4py (docs/performance.md).
            # numpy() is the cpu tensor's own array (its backend's to_host shares memory);
            # np.from_dlpack cost 15 us more per call in context.
            arr = tensor.numpy()
            if arr.flags.c_contiguous:
                self._spin(self.comm.Iallreduce(self.MPI.IN_PLACE, arr, mop).Test,
                           "all_reduce", self.timeout)
                if op is _AVG:
                    np.divide(arr, self.size, out=arr, casting="unsafe")
                return _COMPLETED
        inplace, c = self.MPI.IN_PLACE, self.comm
        return self._run("all_reduce", [tensor], lambda a: c.Iallreduce(inplace, a, mop),
                         self._avg(op), async_op)

    def broadcast(self, tensor, src, async_op=False):
        c = self.comm
        return self._run("broadcast", [tensor], lambda a: c.Ibcast(a, root=src), None, async_op)

    def reduce(self, tensor, dst, op, async_op=False):
        mop, c, me = self._mpi_op(op), self.comm, self.rank == dst
        send = self.MPI.IN_PLACE if me else None
        return self._run("reduce", [tensor],
                         lambda a: c.Ireduce(send, a, mop, root=dst) if me else
                         c.Ireduce(a, None, mop, root=dst),
                         self._avg(op) if me else None, async_op)

    def allgather(self, out, tensor, async_op=False):
        c = self.comm
        return self._run("all_gather", [out, tensor], lambda o, a: c.Iallgather(a, o), None,
                         async_op)

    def reduce_scatter(self, out, tensor, op, async_op=False):
        mop, c = self._mpi_op(op), self.comm
        return self._run("reduce_scatter", [out, tensor],
                         lambda o, a: c.Ireduce_scatter_block(a, o, mop), self._avg(op),
                         async_op)

    def gather(self, out, tensor, dst, async_op=False):
        c, me = self.comm, self.rank == dst
        return self._run("gather", [out, tensor],
                         lambda o, a: c.Igather(a, o if me else None, root=dst), None, async_op)

    def scatter(self, out, tensor, src, async_op=False):
        c, me = self.comm, self.rank == src
        return self._run("scatter", [out, tensor],
                         lambda o, a: c.Iscatter(a if me else None, o, root=src), None,
                         async_op)

    def alltoall(self, out, tensor, async_op=False):
        c = self.comm
        return self._run("all_to_all", [out, tensor], lambda o, a: c.Ialltoall(a, o), None,
                         async_op)

    def barrier(self, async_op=False):
        return self._run("barrier", [], self.comm.Ibarrier, None, async_op)

    def split(self, ranks):
        MPI = self.MPI
        color = 0 if self.rank in ranks else MPI.UNDEFINED
        holder: dict = {}
        work = self._submit("new_group", lambda: holder.update(c=self.comm.Split(color,
                                                                                  self.rank)))
        work.wait()
        if holder["c"] == MPI.COMM_NULL:
            return None
        return MPIProcessGroup(holder["c"], self.timeout, [self.world_ranks[r] for r in ranks],
                               self.alarm)

    # -- point to point -----------------------------------------------------------------------
    def send(self, tensor, dst, tag):
        arr, _ = self._host(tensor)
        work = MPIWork(self, "send", self.p2p.Isend(arr, dest=dst, tag=tag))
        work.keep = arr  # the buffer must live until the send completes
        return work

    def recv(self, tensor, src, tag):
        MPI = self.MPI
        arr, back = self._host(tensor)
        work = MPIWork(self, "recv", self.p2p.Irecv(arr, source=MPI.ANY_SOURCE if src is None
                                                    else src, tag=tag))
        work.status, work.keep, work.finish = MPI.Status(), arr, back
        return work
