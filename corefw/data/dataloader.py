"""``DataLoader``: batches of a dataset, in sampler order, assembled by a collate function.

Follows ``torch.utils.data.DataLoader`` (same arguments, defaults, errors and batch structure)
with one difference: data is loaded in the calling process, so ``num_workers`` must be 0 (a
larger value raises :class:`DataUnsupportedError`). See docs/data.md, which also shows how to
resume a shuffled epoch bit-identically from a checkpoint.
"""

from __future__ import annotations

import collections.abc
import copy
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

import corefw
from corefw.errors import DTypeError, ShapeError

from .dataset import (
    DataError,
    Dataset,
    DataUnsupportedError,
    IterableDataset,
    Subset,
    TensorDataset,
)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

T_co = TypeVar("T_co", covariant=True)

_NP_STR_OR_OBJECT = re.compile("[SaUO]")  # numpy dtype.str kinds that cannot become tensors


def get_worker_info() -> None:
    """Always ``None``: corefw loads data in the main process (torch's answer there)."""
    return None


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
        num_workers: must be 0; corefw loads in the calling process.
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`).
        pin_memory: accepted for compatibility and ignored (batches are host memory already).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout, worker_init_fn, multiprocessing_context, prefetch_factor,
            persistent_workers: worker options, accepted with their defaults only.
        generator: the random source of ``shuffle``; save its ``get_state()`` at the start of
            an epoch to resume that epoch exactly (docs/data.md).

    Raises:
        DataError: contradictory options (as torch's ValueErrors), a negative ``num_workers``.
        DataUnsupportedError: ``num_workers > 0`` or other multi-process options.
    """

    def __init__(self, dataset: Dataset[T_co], batch_size: int | None = 1,
                 shuffle: bool | None = False, sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler[list] | Iterable[list] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None,
                 generator: corefw.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False) -> None:
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

    def __iter__(self) -> _DataLoaderIter:
        return _DataLoaderIter(self)

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
    if num_workers > 0:
        raise DataUnsupportedError(
            f"DataLoader: num_workers={num_workers} is not supported; corefw loads batches in "
            "the calling process, so pass num_workers=0 (keep decoded data in memory, e.g. a "
            "TensorDataset, so batches are cheap to assemble)")
    if timeout < 0:
        raise DataError(f"DataLoader: timeout option should be non-negative, got {timeout}")
    if prefetch_factor is not None or persistent_workers or multiprocessing_context is not None:
        raise DataError("DataLoader: prefetch_factor, persistent_workers and "
                        "multiprocessing_context need num_workers > 0, which corefw does not "
                        "support; leave them at their defaults")
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


class _DataLoaderIter:
    """One pass over a DataLoader (torch's ``_SingleProcessDataLoaderIter``)."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._dataset = loader.dataset
        self._auto_collation = loader._auto_collation
        self._collate_fn = loader.collate_fn
        self._drop_last = loader.drop_last
        self._index_iter = iter(loader._index_sampler)
        self._dataset_iter = iter(loader.dataset) if loader._is_iterable else None
        self._num_yielded = 0

    def __iter__(self) -> _DataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        index = next(self._index_iter)
        data = self._fetch_iterable(index) if self._dataset_iter is not None \
            else self._fetch_map(index)
        self._num_yielded += 1
        return data

    def _fetch_map(self, index: Any) -> Any:
        if self._auto_collation and self._collate_fn is default_collate:
            rows = _tensor_rows(self._dataset, index)
            if rows is not None:
                return rows
        if self._auto_collation:
            getitems = getattr(self._dataset, "__getitems__", None)
            if callable(getitems):
                samples = getitems(index)
            else:
                samples = [self._dataset[i] for i in index]
            return self._collate_fn(samples)
        return self._collate_fn(self._dataset[index])

    def _fetch_iterable(self, index: Any) -> Any:
        assert self._dataset_iter is not None
        if self._auto_collation:
            samples = list(itertools.islice(self._dataset_iter, len(index)))
            if not samples or (self._drop_last and len(samples) < len(index)):
                raise StopIteration
            return self._collate_fn(samples)
        return self._collate_fn(next(self._dataset_iter))
