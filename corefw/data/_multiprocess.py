"""Loading batches in worker processes (``DataLoader(num_workers > 0)``), after PyTorch's
``_MultiProcessingDataLoaderIter``.

The main process sends ``(task index, sampler entry)`` to the workers round-robin, keeping
``prefetch_factor * num_workers`` tasks outstanding, and hands the batches out in task order,
so the batches and their order are those of ``num_workers=0``. Batches come back as NumPy
arrays (see :mod:`corefw.data._worker`) and become tensors here. While waiting it checks
every :data:`_POLL_S` seconds that the workers are alive, so a worker that dies raises
:class:`DataLoaderWorkerError` naming its exit code instead of hanging.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import pickle
import queue
import time
from typing import Any

from corefw.errors import CorefwError

from ._worker import (
    ExceptionWrapper,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    from_wire,
    worker_loop,
)

__all__ = ["DataLoaderWorkerError", "MultiProcessingDataLoaderIter"]

_POLL_S = 0.05  # liveness-check interval while waiting for a batch
_JOIN_S = 5.0  # how long shutdown waits for a worker before terminating it


class DataLoaderWorkerError(CorefwError, RuntimeError):
    """A DataLoader worker process died, or no batch arrived within ``timeout``."""


def default_context() -> str:
    """``fork`` where the platform has it (fast start, no pickling of the dataset), else
    ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _base_seed(loader: Any, epoch: int) -> int:
    """A seed for this epoch's workers that consumes no random numbers (so shuffling is the
    same for any ``num_workers``): derived from the loader generator's (or corefw's global)
    initial seed and the epoch count."""
    import corefw

    gen = loader.generator
    initial = gen.initial_seed() if gen is not None else corefw.initial_seed()
    digest = hashlib.sha256(f"{initial}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2


class MultiProcessingDataLoaderIter:
    """One pass (or, with ``persistent_workers``, every pass) over a DataLoader with
    worker processes."""

    def __init__(self, loader: Any) -> None:
        from .dataloader import _fetcher_factory

        self._loader = loader
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor or 2
        self._persistent = loader.persistent_workers
        self._timeout = loader.timeout
        self._is_iterable = loader._is_iterable
        self._epoch = loader._epochs_started
        ctx = loader.multiprocessing_context or default_context()
        ctx = multiprocessing.get_context(ctx) if isinstance(ctx, str) else ctx
        self._data_queue = ctx.Queue()
        self._done_event = ctx.Event()
        self._index_queues: list[Any] = []
        self._workers: list[Any] = []
        self._shutdown = False
        import corefw

        corefw.empty(0)  # load the plugins once here, so forked workers inherit them
        seed = _base_seed(loader, self._epoch)
        make_fetcher = _fetcher_factory(loader)
        try:
            for i in range(self._num_workers):
                index_queue = ctx.Queue()
                index_queue.cancel_join_thread()  # never block exit on undelivered indices
                w = ctx.Process(
                    target=worker_loop, daemon=True,
                    args=(loader.dataset, index_queue, self._data_queue, self._done_event,
                          make_fetcher, seed + i, loader.worker_init_fn, i,
                          self._num_workers))
                w.start()
                self._index_queues.append(index_queue)
                self._workers.append(w)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            self._shutdown_workers()
            from .dataset import DataError

            raise DataError(
                f"DataLoader: cannot start worker processes with the "
                f"{ctx.get_start_method()!r} start method: {exc}. Under 'spawn' the dataset, "
                "collate_fn and worker_init_fn are pickled, and corefw tensors refuse pickle: "
                "keep NumPy arrays in the dataset (convert in __getitem__) or use "
                "multiprocessing_context='fork'") from exc
        self._reset(first=True)

    # ------------------------------------------------------------------ iteration
    def _reset(self, first: bool = False) -> None:
        self._sampler_iter = iter(self._loader._index_sampler)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info: dict[int, tuple] = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        self._num_yielded = 0
        if not first:  # persistent workers: start a new pass over their datasets
            for q in self._index_queues:
                q.put(_ResumeIteration())
            waiting = self._num_workers
            while waiting > 0:
                idx, _ = self._get_data()
                if isinstance(idx, _ResumeIteration):
                    waiting -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def __iter__(self) -> MultiProcessingDataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def _try_put_index(self) -> None:
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next worker still active, if any
            worker_id = next(self._worker_cycle)
            if self._workers_status[worker_id]:
                break
        else:
            return
        self._index_queues[worker_id].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_id,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def __next__(self) -> Any:
        if self._shutdown:
            raise StopIteration
        while True:
            while self._rcvd_idx < self._send_idx:  # skip tasks of exhausted workers
                info = self._task_info[self._rcvd_idx]
                if len(info) == 2 or self._workers_status[info[0]]:
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                return self._process(self._task_info.pop(self._rcvd_idx)[1])
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:  # early: keep it until its turn
                self._task_info[idx] += (data,)
                continue
            del self._task_info[idx]
            return self._process(data)

    def _process(self, data: Any) -> Any:
        self._rcvd_idx += 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):  # the iterator goes on, as PyTorch's
            data.reraise()
        self._num_yielded += 1
        return from_wire(data)

    def _get_data(self) -> tuple[Any, Any]:
        """The next ``(idx, data)`` from any worker; raises if a worker died or on timeout."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            try:
                return self._data_queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            self._check_workers()
            if deadline is not None and time.monotonic() > deadline:
                self._shutdown_workers(force=True)
                raise DataLoaderWorkerError(
                    f"DataLoader timed out after {self._timeout} seconds waiting for a batch "
                    "from its workers; raise timeout= (0 waits forever) or make __getitem__ "
                    "faster")

    def _check_workers(self) -> None:
        # Workers leave their loop only when shut down, so any that is gone has died.
        dead = [(i, w) for i, w in enumerate(self._workers) if not w.is_alive()]
        if not dead:
            return
        desc = ", ".join(f"worker {i} (pid {w.pid}) with exit code {w.exitcode}"
                         for i, w in dead)
        self._shutdown_workers(force=True)
        raise DataLoaderWorkerError(
            f"DataLoader worker process exited unexpectedly: {desc} (a negative code is the "
            "signal that killed it, e.g. -9 when the system ran out of memory); run with "
            "num_workers=0 to see the error in the main process")

    # ------------------------------------------------------------------ shutdown
    def _shutdown_workers(self, force: bool = False) -> None:
        """Stop the workers: ask them to exit (``force``: terminate them at once, when one
        is stuck or dead)."""
        if self._shutdown:
            return
        self._shutdown = True
        self._done_event.set()
        for q in self._index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            if force and w.is_alive():
                w.terminate()
            w.join(timeout=_JOIN_S)
            if w.is_alive():
                w.terminate()
                w.join(timeout=_JOIN_S)
        for q in self._index_queues:
            q.close()
        self._data_queue.cancel_join_thread()
        self._data_queue.close()

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:
            pass
