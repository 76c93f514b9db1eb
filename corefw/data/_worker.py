"""What runs inside a DataLoader worker process, and what crosses the process boundary.

corefw tensors refuse pickle by design, so batches travel as NumPy arrays: a worker replaces
every tensor in its batch (through dicts, lists, tuples and named tuples) by a
:class:`_WireTensor` holding ``tensor.numpy()``, and the parent turns them back into tensors
(:func:`from_wire`). Anything else in a batch must be picklable. A worker's exception travels
as an :class:`ExceptionWrapper` (type and formatted traceback text) and is re-raised in the
parent.
"""

from __future__ import annotations

import collections.abc
import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

import corefw

__all__ = ["ExceptionWrapper", "WorkerInfo", "from_wire", "get_worker_info", "to_wire"]

_POLL_S = 0.1  # how often an idle worker checks that its parent is still alive


@dataclass(frozen=True)
class WorkerInfo:
    """Describes the worker process this code runs in (see :func:`get_worker_info`).

    Attributes:
        id: the worker's index, ``0 .. num_workers - 1``.
        num_workers: how many workers the DataLoader has.
        seed: this worker's random seed (``base_seed + id``; corefw's, ``random``'s and
            NumPy's global generators are seeded from it before ``worker_init_fn`` runs).
        dataset: this worker's copy of the dataset.
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, its :class:`WorkerInfo`; in the main process ``None``.

    An :class:`~corefw.data.IterableDataset` uses it to give each worker a different shard
    (``info.id``, ``info.num_workers``); ``worker_init_fn`` can use it to configure
    ``info.dataset``.
    """
    return _worker_info


class _WireTensor:
    """A tensor in transit: its data as a NumPy array (which pickles)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __getstate__(self) -> np.ndarray:
        return self.array

    def __setstate__(self, state: np.ndarray) -> None:
        self.array = state


def _map(data: Any, fn: Any) -> Any:
    """Apply ``fn`` to the leaves of ``data``, keeping dicts, lists, tuples, named tuples."""
    leaf = fn(data)
    if leaf is not data:
        return leaf
    if isinstance(data, collections.abc.Mapping):
        converted = {k: _map(v, fn) for k, v in data.items()}
        try:
            return type(data)(converted)  # type: ignore[call-arg]
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # named tuple
        return type(data)(*(_map(d, fn) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_map(d, fn) for d in data)
    return data


def _tensor_to_wire(x: Any) -> Any:
    if isinstance(x, corefw.Tensor):
        return _WireTensor(x.detach().cpu().numpy())
    return x


def _wire_to_tensor(x: Any) -> Any:
    if isinstance(x, _WireTensor):
        return corefw.from_numpy(x.array)
    return x


def to_wire(data: Any) -> Any:
    """``data`` with every corefw tensor replaced by a picklable :class:`_WireTensor`."""
    return _map(data, _tensor_to_wire)


def from_wire(data: Any) -> Any:
    """Inverse of :func:`to_wire`: tensors (on the host device) from their arrays."""
    return _map(data, _wire_to_tensor)


class ExceptionWrapper:
    """An exception raised in a worker, with its traceback as text (exceptions' tracebacks
    do not pickle)."""

    def __init__(self, exc_info: tuple | None = None, where: str = "in background") -> None:
        exc_info = exc_info or sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        """Raise an exception of the same type, whose message holds the worker's traceback
        (a RuntimeError when the type cannot be built from one message, as in PyTorch)."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:  # KeyError would repr() the message: keep it readable
            msg = KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


class KeyErrorMessage(str):
    """A str whose repr is itself, so a KeyError's message prints its newlines."""

    def __repr__(self) -> str:
        return str(self)


class _IterableDatasetStopIteration:
    """A worker's note that its copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at a new epoch; echoed back once they are ready."""


def worker_loop(dataset: Any, index_queue: Any, data_queue: Any, done_event: Any,
                make_fetcher: Any, seed: int, init_fn: Any, worker_id: int,
                num_workers: int) -> None:
    """The body of a worker process: fetch the batches whose indices arrive on
    ``index_queue`` and put ``(task index, batch or ExceptionWrapper)`` on ``data_queue``.

    A ``None`` task ends the loop; so does the parent process going away.
    """
    global _worker_info
    parent = os.getppid()
    try:
        _seed_all(seed)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_error = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(dataset)
        except Exception:
            init_error = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        while True:
            try:
                task = index_queue.get(timeout=_POLL_S)
            except queue.Empty:
                # Shut down (the None task may never come when the iterator is garbage-
                # collected with its queues), or orphaned: the main process died.
                if done_event.is_set() or os.getppid() != parent:
                    break
                continue
            if task is None:
                break
            if isinstance(task, _ResumeIteration):
                data_queue.put((task, None))
                iteration_end = False
                if init_error is None:
                    fetcher = make_fetcher(dataset)
                continue
            if done_event.is_set() or iteration_end:
                continue
            idx, index = task
            if init_error is not None:  # every task answers with the setup's error
                data = init_error
            else:
                data = _fetch(fetcher, index, worker_id)
                if isinstance(data, _IterableDatasetStopIteration):
                    iteration_end = True
            data_queue.put((idx, data))
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()


def _fetch(fetcher: Any, index: Any, worker_id: int) -> Any:
    try:
        return to_wire(fetcher.fetch(index))
    except StopIteration:
        if fetcher.is_iterable:
            return _IterableDatasetStopIteration(worker_id)
        return ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
    except Exception:
        return ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")


def _seed_all(seed: int) -> None:
    """Seed corefw's, ``random``'s and NumPy's global generators in a worker (PyTorch seeds
    the same three)."""
    corefw.manual_seed(seed)
    random.seed(seed)
    np.random.seed(np.random.SeedSequence([seed]).generate_state(4))
