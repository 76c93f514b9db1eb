"""``DataLoader``: batches of a dataset, in sampler order, assembled by a collate function.

Follows ``torch.utils.data.DataLoader`` (same arguments, defaults, errors and batch structure).
``num_workers=0`` loads in the calling process; ``num_workers > 0`` in worker processes
(:mod:`corefw.data._multiprocess`), whose batches cross back as NumPy arrays because corefw
tensors do not pickle. See docs/data.md, which also shows how to resume a shuffled epoch
bit-identically from a checkpoint.
"""

from __future__ import annotations

import collections.abc
import copy
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

import corefw
from corefw.errors import DTypeError, ShapeError

from ._worker import WorkerInfo, get_worker_info
from .dataset import (
    DataError,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "WorkerInfo", "default_collate", "default_convert", "get_worker_info"]

T_co = TypeVar("T_co", covariant=True)

_NP_STR_OR_OBJECT = re.compile("[SaUO]")  # numpy dtype.str kinds that cannot become tensors


def _convert_mapping(data: collections.abc.Mapping, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to the values, keeping the mapping's type where it can be rebuilt."""
    converted = {key: fn(key) for key in data}
    try:
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        return type(data)(converted)  # type: ignore[call-arg]
    except TypeError:
        return converted


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars into tensors, recursively through dicts, tuples, lists.

    The collate function when automatic batching is off (``batch_size=None``). As in torch,
    tuples become lists (except named tuples); strings and other objects pass unchanged.
    """
    if isinstance(data, corefw.Tensor):
        return data
    if isinstance(data, np.ndarray):
        if _NP_STR_OR_OBJECT.search(data.dtype.str) is not None:
            return data
        return corefw.as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return corefw.as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _convert_mapping(data, lambda key: default_convert(data[key]))
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        if isinstance(data, collections.abc.MutableSequence):
            try:
                clone = copy.copy(data)
                clone[:] = converted
                return clone
            except TypeError:
                pass
        return converted
    return data


def _shapes_agree(batch: Sequence[Any], what: str) -> None:
    first = tuple(batch[0].shape)
    for i, item in enumerate(batch):
        if tuple(item.shape) != first:
            raise ShapeError(
                f"default_collate: stack expects each {what} to be equal size, but got "
                f"{list(first)} at entry 0 and {list(item.shape)} at entry {i}; pad the samples "
                "or pass a collate_fn that handles ragged data")


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    * tensors are stacked along a new dimension 0 (they must have equal shapes);
    * NumPy arrays and scalars become tensors and are stacked;
    * Python floats become a float64 tensor, ints an int64 tensor (bools a bool tensor);
    * strings and bytes are kept as a list;
    * dicts are collated per key, named tuples per field, and tuples and lists position by
      position (a tuple sample gives a *list* of batches, as in torch).

    Raises:
        ShapeError: tensors or arrays of different shapes, or sequences of different lengths.
        DTypeError: an element type it cannot batch (pass your own ``collate_fn``).
        DataError: an empty batch.
    """
    if len(batch) == 0:
        raise DataError("default_collate: the batch is empty")
    elem = batch[0]
    if isinstance(elem, corefw.Tensor):
        _shapes_agree(batch, "tensor")
        return corefw.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _NP_STR_OR_OBJECT.search(elem.dtype.str) is not None:
            raise DTypeError(f"default_collate: cannot batch NumPy arrays of dtype {elem.dtype}; "
                             "convert them or pass a collate_fn")
        _shapes_agree(batch, "array")
        return corefw.as_tensor(np.stack(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return corefw.as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return corefw.tensor(list(batch), dtype=corefw.float64)
    if isinstance(elem, int):
        return corefw.tensor(list(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _convert_mapping(elem, lambda key: default_collate([d[key] for d in batch]))
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = [len(sample) for sample in batch]
        if len(set(sizes)) != 1:
            raise ShapeError(f"default_collate: each element in list of batch should be of equal "
                             f"size, got lengths {sizes}")
        transposed = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed  # a list, as torch (backwards compatibility there)
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                clone[:] = transposed
                return clone
            return type(elem)(transposed)  # type: ignore[call-arg]
        except TypeError:
            return transposed
    raise DTypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, "
                     f"dicts or lists; found {type(elem).__name__}. Pass a collate_fn for it.")


class _InfiniteConstantSampler(Sampler[None]):
    """The index sampler of an IterableDataset: ``None`` forever (torch's design)."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)


class DataLoader(Generic[T_co]):
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style :class:`Dataset` (``__getitem__``/``__len__``) or an
            :class:`IterableDataset`.
        batch_size: samples per batch; ``None`` turns automatic batching off (each sample goes
            through ``collate_fn``, by default :func:`default_convert`, on its own).
        shuffle: reshuffle the indices at every epoch (a :class:`RandomSampler` that uses
            ``generator``). Exclusive with ``sampler``.
        sampler: the order of indices (any iterable of indices).
        batch_sampler: yields whole lists of indices; exclusive with ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers: how many worker processes load batches; 0 loads in the calling
            process. Workers start with the ``fork`` method where the platform has it (else
            ``spawn``); batches come back in sampler order, so they are the same as with 0.
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`).
            With workers it runs in the worker; its tensors cross back as NumPy arrays, and
            anything else in the batch must pickle.
        pin_memory: accepted and ignored (there is no page-locked host memory to use).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from the workers before raising
            :class:`DataLoaderWorkerError` (0: wait as long as the workers are alive).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after its
            seeding and before it loads anything.
        multiprocessing_context: a start-method name (``"fork"``, ``"spawn"``,
            ``"forkserver"``) or a ``multiprocessing`` context. Under ``spawn`` the dataset
            is pickled: it must hold NumPy arrays, not corefw tensors.
        generator: the random source of ``shuffle``; save its ``get_state()`` at the start of
            an epoch to resume that epoch exactly (docs/data.md).
        prefetch_factor: batches requested ahead per worker (default 2 with workers).
        persistent_workers: keep the workers (and their dataset copies) between epochs.
        pin_memory_device, in_order: accepted for PyTorch compatibility; batches are always
            returned in order.

    Raises:
        DataError: contradictory options (as torch's ValueErrors), a negative ``num_workers``,
            worker options with ``num_workers=0``.
    """

    def __init__(self, dataset: Dataset[T_co], batch_size: int | None = 1,
                 shuffle: bool | None = False, sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler[list] | Iterable[list] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None,
                 generator: corefw.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        _check_worker_options(num_workers, timeout, worker_init_fn, multiprocessing_context,
                              prefetch_factor, persistent_workers)
        shuffle = bool(shuffle)
        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle:
                raise DataError("DataLoader with IterableDataset: expected unspecified shuffle "
                                "option, but got shuffle=True (shuffle inside the dataset)")
            if sampler is not None or batch_sampler is not None:
                raise DataError("DataLoader with IterableDataset: expected unspecified sampler "
                                "and batch_sampler options; an IterableDataset sets its order")
        if sampler is not None and shuffle:
            raise DataError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise DataError("DataLoader: batch_sampler option is mutually exclusive with "
                                "batch_size, shuffle, sampler, and drop_last")
            batch_size = None
        elif batch_size is None and drop_last:
            raise DataError("DataLoader: batch_size=None option disables auto-batching and is "
                            "mutually exclusive with drop_last")
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.multiprocessing_context = multiprocessing_context
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order
        self._iterator: Any = None
        self._epochs_started = 0
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Iterable:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> Iterator[Any]:
        """A pass over the data (with ``persistent_workers``, the same workers each time)."""
        self._epochs_started += 1
        if self.num_workers == 0:
            return _DataLoaderIter(self)
        from ._multiprocess import MultiProcessingDataLoaderIter

        if not self.persistent_workers:
            return MultiProcessingDataLoaderIter(self)
        if self._iterator is None or self._iterator._shutdown:
            self._iterator = MultiProcessingDataLoaderIter(self)
        else:
            self._iterator._reset()
        return self._iterator

    def __len__(self) -> int:
        """Batches per epoch (for an IterableDataset, from ``len(dataset)`` if it has one)."""
        if self._is_iterable:
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                if self.drop_last:
                    return length // self.batch_size
                return -(-length // self.batch_size)
            return length
        return len(self._index_sampler)  # type: ignore[arg-type]


def _check_worker_options(num_workers: int, timeout: float, worker_init_fn: Any,
                          multiprocessing_context: Any, prefetch_factor: int | None,
                          persistent_workers: bool) -> None:
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise DataError(f"DataLoader: num_workers should be a non-negative integer, got "
                        f"{num_workers!r}; use num_workers=0")
    if timeout < 0:
        raise DataError(f"DataLoader: timeout option should be non-negative, got {timeout}")
    if num_workers == 0:
        if prefetch_factor is not None:
            raise DataError("DataLoader: prefetch_factor option could only be specified in "
                            "multiprocessing; let num_workers > 0 to enable multiprocessing, "
                            "otherwise set prefetch_factor to None")
        if persistent_workers:
            raise DataError("DataLoader: persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            raise DataError("DataLoader: multiprocessing_context can only be used with "
                            "multi-process loading (num_workers > 0), but got num_workers=0")
    elif prefetch_factor is not None and prefetch_factor < 1:
        raise DataError(f"DataLoader: prefetch_factor option should be a positive integer, "
                        f"got {prefetch_factor}")
    del worker_init_fn  # never called without workers, as in torch


def _tensor_rows(dataset: Any, index: list[int]) -> list | None:
    """Fast path: ``default_collate`` of a TensorDataset's samples (possibly through plain
    Subsets) is the tensors indexed by the batch's indices; one gather per tensor instead of a
    ``__getitem__`` per sample and a stack. The same values, dtypes and shapes. ``None`` when
    the dataset is anything else."""
    while type(dataset) is Subset:
        index = [dataset.indices[i] for i in index]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset or not index:
        return None
    rows = corefw.tensor([int(i) for i in index], dtype=corefw.int64)
    return [t[rows] for t in dataset.tensors]


class _Fetcher:
    """Turns one entry of the index sampler into a batch (in the main process or a worker)."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool, is_iterable: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.is_iterable = is_iterable
        self.dataset_iter = iter(dataset) if is_iterable else None

    def fetch(self, index: Any) -> Any:
        """The batch for ``index``; StopIteration when an iterable dataset is exhausted."""
        if self.dataset_iter is not None:
            return self._fetch_iterable(index)
        return self._fetch_map(index)

    def _fetch_map(self, index: Any) -> Any:
        if self.auto_collation and self.collate_fn is default_collate:
            rows = _tensor_rows(self.dataset, index)
            if rows is not None:
                return rows
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            if callable(getitems):
                samples = getitems(index)
            else:
                samples = [self.dataset[i] for i in index]
            return self.collate_fn(samples)
        return self.collate_fn(self.dataset[index])

    def _fetch_iterable(self, index: Any) -> Any:
        assert self.dataset_iter is not None
        if self.auto_collation:
            samples = list(itertools.islice(self.dataset_iter, len(index)))
            if not samples or (self.drop_last and len(samples) < len(index)):
                raise StopIteration
            return self.collate_fn(samples)
        return self.collate_fn(next(self.dataset_iter))


def _fetcher_factory(loader: DataLoader) -> Callable[[Any], _Fetcher]:
    """``make(dataset) -> _Fetcher`` with the loader's options (picklable for workers)."""
    return functools.partial(_Fetcher, auto_collation=loader._auto_collation,
                             collate_fn=loader.collate_fn, drop_last=loader.drop_last,
                             is_iterable=loader._is_iterable)


class _DataLoaderIter:
    """One pass over a DataLoader in the calling process (torch's
    ``_SingleProcessDataLoaderIter``)."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._index_iter = iter(loader._index_sampler)
        self._fetcher = _fetcher_factory(loader)(loader.dataset)
        self._num_yielded = 0

    def __iter__(self) -> _DataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        data = self._fetcher.fetch(next(self._index_iter))
        self._num_yielded += 1
        return data
