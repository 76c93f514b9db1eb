"""Failure notices between the ranks of an MPI job, on a communicator of their own.

The protocol does not depend on timing. A rank that raises prints its traceback, sends its
error to every other rank (a *notice*) and waits until each has answered with an
*acknowledgement*. A rank learns of a notice while it waits in a collective (it polls for
them), raises ``DistBackendError`` naming the failed rank, and acknowledges once that error has
been printed (by the uncaught-error hook) or when the process exits. With every
acknowledgement in, the failed rank sends a *release* to every rank, and each rank, on the
release, exits with status 1. So every rank has printed why it stops before any rank ends.

Ranks end by exiting (flushed output, ``os._exit(1)``), not through ``MPI_Abort``: an abort
makes ``mpiexec`` tear the job down at once, and under load it lost what the aborting rank had
just printed, where a rank that exits has its output read to the end. ``mpiexec``, ``mpirun``
and ``srun --kill-on-bad-exit`` then stop whatever is left of the job.

Every wait is bounded by the process group's timeout: a rank that never answers (stuck outside
any collective, or computing for longer than the timeout) only delays the end until then. A
rank that dies ends the job through ``mpiexec`` in any case.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import numpy as np

NOTICE_TAG = 77   # a failed rank's error, as UTF-8 text
ACK_TAG = 78      # empty: "I have printed your notice"
RELEASE_TAG = 79  # empty: "every rank has printed my notice: exit"
_MAX_TEXT = 4000
_SLEEP_S = 0.005


class Alarm:
    """The notices of one MPI job: a duplicate of ``COMM_WORLD``, shared by every group."""

    def __init__(self, comm: Any, timeout: float) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm.Dup()
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = timeout
        self.failed: tuple[int, str] | None = None   # the first notice received
        self.owed: list[int] = []     # ranks whose notice this rank has not acknowledged
        self.sent = False              # this rank has sent its own notice
        self.lock = threading.Lock()
        self.keep: list[Any] = []     # requests (and buffers) of sends in flight

    def poll(self) -> tuple[int, str] | None:
        """A notice that arrived since the last poll, as (world rank, error text), or None.
        The sender is owed an acknowledgement (:meth:`acknowledge`)."""
        MPI = self.MPI
        with self.lock:
            status = MPI.Status()
            msg = self.comm.Improbe(source=MPI.ANY_SOURCE, tag=NOTICE_TAG, status=status)
            if msg is None:
                return None
            buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
            msg.Recv([buf, MPI.BYTE])
            who = status.Get_source()
            self.owed.append(who)
            notice = (who, buf.tobytes().decode(errors="replace"))
            if self.failed is None:
                self.failed = notice
            return notice

    def acknowledge(self) -> None:
        """Tell every rank whose notice was received that it has been reported here."""
        MPI = self.MPI
        sys.stderr.flush()  # what this rank printed reaches mpiexec before the job stops
        with self.lock:
            owed, self.owed = self.owed, []
            for who in owed:
                self.keep.append(self.comm.Isend([b"", MPI.BYTE], dest=who, tag=ACK_TAG))

    def notify_and_wait(self, message: str) -> None:
        """Send ``message`` to every other rank and wait until each acknowledges it (bounded by
        the timeout), acknowledging their notices meanwhile."""
        MPI = self.MPI
        self.acknowledge()
        if self.sent or self.size == 1:
            return
        self.sent = True
        data = np.frombuffer(message.encode()[:_MAX_TEXT], np.uint8).copy()
        peers = [r for r in range(self.size) if r != self.rank]
        with self.lock:
            self.keep += [self.comm.Isend([data, MPI.BYTE], dest=r, tag=NOTICE_TAG)
                          for r in peers]
            acks = [self.comm.Irecv([bytearray(1), MPI.BYTE], source=r, tag=ACK_TAG)
                    for r in peers]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with self.lock:
                if MPI.Request.Testall(acks):
                    break
            if self.poll() is not None:  # another rank failed too: ours is printed already
                self.acknowledge()
            time.sleep(_SLEEP_S)
        with self.lock:
            self.keep += [self.comm.Isend([b"", MPI.BYTE], dest=r, tag=RELEASE_TAG)
                          for r in peers]

    def wait_for_release(self) -> None:
        """After a peer's notice was reported: wait until that rank (or any failed rank)
        releases this one (bounded by the timeout), acknowledging other notices meanwhile."""
        MPI = self.MPI
        self.acknowledge()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.poll() is not None:
                self.acknowledge()
            with self.lock:
                if self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=RELEASE_TAG):
                    return
            time.sleep(_SLEEP_S)

    def stop(self, message: str | None, timed_out: bool) -> None:
        """End this rank with status 1 (never returns), after the protocol above.

        ``message``: this rank's error, told to the others; None when this rank stops because
        of a peer's notice (it waits for that peer's release) or on Ctrl-C (every rank got it).
        ``timed_out``: a peer did not answer in time, so waiting for answers is pointless."""
        try:
            if timed_out:
                self.acknowledge()
            elif message is not None:
                self.notify_and_wait(message)
            elif self.failed is not None:
                self.wait_for_release()
            else:
                self.acknowledge()
            self._flush_sends()
        except KeyboardInterrupt:  # Ctrl-C while waiting: stop now
            pass
        finally:
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(1)  # mpiexec stops the rest of the job (see the module's docstring)

    def _flush_sends(self) -> None:
        """Let the acknowledgements and releases leave before the process ends (bounded)."""
        deadline = time.monotonic() + min(self.timeout, 10.0)
        while time.monotonic() < deadline:
            with self.lock:
                if self.MPI.Request.Testall(self.keep):
                    return
            time.sleep(_SLEEP_S)

    def free(self) -> None:
        """Acknowledge what is owed (a caught notice) and free the communicator."""
        self.acknowledge()
        MPI = self.MPI
        if self.failed is None and not self.sent and not MPI.Is_finalized():
            if self.comm != MPI.COMM_NULL:
                self.comm.Free()
            self.comm = MPI.COMM_NULL
