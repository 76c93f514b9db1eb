"""Datasets: the map-style and iterable protocols of ``torch.utils.data`` and their wrappers.

A map-style :class:`Dataset` answers ``dataset[i]`` and ``len(dataset)``; an
:class:`IterableDataset` is a stream (``iter(dataset)``). :class:`TensorDataset`,
:class:`Subset`, :class:`ConcatDataset` and :class:`ChainDataset` wrap them, and
:func:`random_split` cuts a dataset into disjoint random subsets.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import corefw
from corefw.errors import CorefwError, DTypeError, ShapeError

__all__ = [
    "ChainDataset",
    "ConcatDataset",
    "DataError",
    "DataUnsupportedError",
    "Dataset",
    "IterableDataset",
    "StackDataset",
    "Subset",
    "TensorDataset",
    "random_split",
]

T_co = TypeVar("T_co", covariant=True)


class DataError(CorefwError, ValueError):
    """A data-pipeline argument has a bad value (a batch size, sampler weights, split lengths)."""


class DataUnsupportedError(CorefwError, NotImplementedError):
    """A ``torch.utils.data`` feature corefw does not implement (``num_workers > 0``)."""


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses implement ``__getitem__(index)`` and ``__len__()``.

    ``a + b`` is ``ConcatDataset([a, b])``.
    """

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError(
            f"{type(self).__name__} must implement __getitem__ (a subclass of Dataset)")

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co], Iterable[T_co]):
    """A dataset that is a stream of samples: subclasses implement ``__iter__()``.

    ``DataLoader`` batches it in the order it yields; it cannot be shuffled or sampled.
    ``a + b`` is ``ChainDataset([a, b])``.
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(
            f"{type(self).__name__} must implement __iter__ (a subclass of IterableDataset)")

    def __add__(self, other: Dataset[T_co]) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple]):
    """Samples are the rows of tensors that share their first dimension.

    ``TensorDataset(x, y)[i]`` is ``(x[i], y[i])``; ``.tensors`` holds the tensors.

    Raises:
        ShapeError: the tensors' first dimensions differ, or a tensor is 0-d.
    """

    tensors: tuple

    def __init__(self, *tensors: corefw.Tensor) -> None:
        if not tensors:
            raise DataError("TensorDataset() needs at least one tensor, e.g. "
                            "TensorDataset(inputs, targets)")
        for i, t in enumerate(tensors):
            if not isinstance(t, corefw.Tensor):
                raise DTypeError(
                    f"TensorDataset: argument {i} is a {type(t).__name__}, not a corefw.Tensor; "
                    "convert it with corefw.as_tensor(...) first")
        shapes = [tuple(t.shape) for t in tensors]
        if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ShapeError(
                f"TensorDataset: size mismatch between tensors, shapes {shapes}; every tensor "
                "needs at least one dimension and the same size along dimension 0")
        self.tensors = tuple(tensors)

    def __getitem__(self, index: int) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class StackDataset(Dataset):
    """Samples of several equal-length datasets side by side: ``StackDataset(a, b)[i]`` is
    ``(a[i], b[i])``, ``StackDataset(x=a, y=b)[i]`` is ``{"x": a[i], "y": b[i]}``.

    Raises:
        DataError: both positional and keyword datasets, none, or different lengths.
    """

    def __init__(self, *args: Dataset, **kwargs: Dataset) -> None:
        if args and kwargs:
            raise DataError("StackDataset: supported either tuple- (via args) or dict- (via "
                            "kwargs) like input/output, but both types are given")
        datasets: Any = args or kwargs
        if not datasets:
            raise DataError("StackDataset: at least one dataset should be passed")
        lengths = [len(d) for d in (args or kwargs.values())]  # type: ignore[arg-type]
        if len(set(lengths)) != 1:
            raise DataError(f"StackDataset: size mismatch between datasets (lengths {lengths})")
        self._length = lengths[0]
        self.datasets = datasets

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset[T_co]):
    """The concatenation of map-style datasets: index ``len(a)`` is ``b[0]``.

    ``.cumulative_sizes[i]`` is the total length of the first ``i + 1`` datasets.
    """

    datasets: list
    cumulative_sizes: list

    @staticmethod
    def cumsum(sequence: Sequence[Dataset]) -> list[int]:
        """The running totals of the datasets' lengths."""
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise DataError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise DataError("ConcatDataset does not support IterableDataset "
                                f"(got {type(d).__name__}); use ChainDataset to chain streams")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise IndexError(f"ConcatDataset: index {idx} is out of range for length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for length {n}")
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][idx - start]


class ChainDataset(IterableDataset):
    """The concatenation of iterable datasets, chained lazily as one stream."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise DataError(f"ChainDataset only chains IterableDatasets, got "
                                f"{type(d).__name__}; use ConcatDataset for map-style datasets")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(d, idx)[i]`` is
    ``d[idx[i]]``."""

    dataset: Dataset
    indices: Sequence[int]

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: int | list[int]) -> T_co:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        """The samples at a batch of indices (what ``DataLoader`` asks for), as a list."""
        inner = [self.indices[i] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(inner)
        return [self.dataset[i] for i in inner]

    def __len__(self) -> int:
        return len(self.indices)


def _fractions_to_lengths(n: int, fractions: Sequence[float]) -> list[int]:
    """torch's rule: floor each share, then hand out the remainder one by one, in order."""
    lengths = [int(math.floor(n * frac)) for frac in fractions]
    for i in range(n - sum(lengths)):
        lengths[i % len(lengths)] += 1
    for i, length in enumerate(lengths):
        if length == 0:
            warnings.warn(f"random_split: the split at index {i} is empty "
                          f"({fractions[i]} of {n} samples)", stacklevel=3)
    return lengths


def random_split(dataset: Dataset[T_co], lengths: Sequence[int | float],
                 generator: corefw.Generator | None = None) -> list[Subset[T_co]]:
    """Split ``dataset`` into disjoint random :class:`Subset`\\ s of the given lengths.

    Args:
        dataset: a map-style dataset.
        lengths: the subsets' lengths, summing to ``len(dataset)``; or fractions summing to 1
            (each is floored, and the remainder is handed out one by one from the first split).
        generator: the random source of the permutation; ``None`` draws from corefw's global
            RNG (``corefw.manual_seed``).

    Raises:
        DataError: the lengths do not add up, or a length or fraction is negative.
    """
    lengths = list(lengths)
    if not lengths:
        raise DataError("random_split: lengths is empty; give e.g. [0.8, 0.2] or [800, 200]")
    for i, length in enumerate(lengths):
        if isinstance(length, bool) or not isinstance(length, (int, float)) or length < 0:
            raise DataError(f"random_split: length at index {i} is {length!r}; lengths must be "
                            "non-negative integers or fractions")
    n = len(dataset)  # type: ignore[arg-type]
    total = sum(lengths)
    if math.isclose(total, 1):  # torch also demands total <= 1, refusing 1.0000000000000002
        lengths = _fractions_to_lengths(n, lengths)
    elif any(not isinstance(length, int) for length in lengths):
        raise DataError(f"random_split: fractions {lengths} sum to {total}, not 1")
    if sum(lengths) != n:
        raise DataError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the "
                        f"dataset has {n} samples")
    indices = corefw.randperm(n, generator=generator).tolist()
    return [Subset(dataset, indices[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]
