"""Samplers: the order in which ``DataLoader`` visits a map-style dataset's indices.

As in ``torch.utils.data``: a sampler is an iterable of indices (a :class:`BatchSampler`, of
lists of indices). The random samplers take an optional :class:`corefw.Generator`; with one,
the order is a function of its state (``Generator().manual_seed(s)`` gives the same order every
run, and ``get_state()``/``set_state()`` rewind it). Without one, :class:`RandomSampler` seeds
a fresh generator from corefw's global RNG at each ``iter()``, so ``corefw.manual_seed(s)``
makes it reproducible too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

import corefw

from .dataset import DataError

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]

T_co = TypeVar("T_co", covariant=True)

_CHUNK = 32  # indices drawn per call when sampling with replacement (as torch)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _generator_from_global_rng() -> corefw.Generator:
    """A fresh generator seeded by one draw from corefw's global RNG (torch's recipe)."""
    seed = int(corefw.randint(0, 2**62, (1,)).item())
    return corefw.Generator().manual_seed(seed)


class Sampler(Generic[T_co]):
    """Base class of samplers: subclasses implement ``__iter__`` (and usually ``__len__``)."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1``, in order."""

    data_source: Sized

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random indices of ``data_source``.

    Without replacement it yields random permutations of ``range(len(data_source))``
    (``num_samples`` beyond one permutation continues with a fresh one); with replacement,
    ``num_samples`` independent uniform draws.

    Args:
        data_source: a sized dataset.
        replacement: draw with replacement.
        num_samples: how many indices per epoch (default ``len(data_source)``).
        generator: the random source; ``None`` seeds a new generator from corefw's global RNG
            at each ``iter()``.

    Raises:
        DataError: ``replacement`` is not a bool, or ``num_samples`` is not a positive int.
    """

    data_source: Sized
    replacement: bool

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None,
                 generator: corefw.Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise DataError(f"RandomSampler: replacement should be a bool, got {replacement!r}")
        if not _is_positive_int(self.num_samples):
            raise DataError("RandomSampler: num_samples should be a positive integer, got "
                            f"num_samples={self.num_samples!r} (an empty dataset has none)")

    @property
    def num_samples(self) -> int:
        """Indices per epoch: ``num_samples`` if given, else ``len(data_source)``."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if n == 0:
            raise DataError("RandomSampler: cannot sample from an empty data_source")
        gen = self.generator if self.generator is not None else _generator_from_global_rng()
        total = self.num_samples
        if self.replacement:
            for _ in range(total // _CHUNK):
                yield from corefw.randint(0, n, (_CHUNK,), generator=gen).tolist()
            if total % _CHUNK:
                yield from corefw.randint(0, n, (total % _CHUNK,), generator=gen).tolist()
        else:
            for _ in range(total // n):
                yield from corefw.randperm(n, generator=gen).tolist()
            if total % n:
                yield from corefw.randperm(n, generator=gen).tolist()[:total % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order (a fresh permutation at each ``iter()``)."""

    indices: Sequence[int]

    def __init__(self, indices: Sequence[int], generator: corefw.Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in corefw.randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """Indices ``0 .. len(weights) - 1`` drawn with probability proportional to ``weights``.

    Args:
        weights: a 1-D sequence or tensor of non-negative, finite weights, not all zero (they
            need not sum to 1). An index of weight 0 is never drawn.
        num_samples: how many indices per epoch.
        replacement: draw with replacement; without, ``num_samples`` may not exceed the number
            of non-zero weights.
        generator: the random source; ``None`` draws from corefw's global RNG.

    Raises:
        DataError: bad weights (not 1-D, empty, negative, not finite, all zero), a bad
            ``num_samples``, or a non-bool ``replacement``.
    """

    weights: corefw.Tensor
    num_samples: int
    replacement: bool

    def __init__(self, weights: Sequence[float] | corefw.Tensor, num_samples: int,
                 replacement: bool = True, generator: corefw.Generator | None = None) -> None:
        if not _is_positive_int(num_samples):
            raise DataError("WeightedRandomSampler: num_samples should be a positive integer, "
                            f"got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise DataError("WeightedRandomSampler: replacement should be a bool, got "
                            f"{replacement!r}")
        w = _weights_as_numpy(weights)
        if not replacement and num_samples > np.count_nonzero(w):
            raise DataError(
                f"WeightedRandomSampler: cannot draw num_samples={num_samples} without "
                f"replacement from {np.count_nonzero(w)} non-zero weights; lower num_samples or "
                "pass replacement=True")
        self.weights = corefw.from_numpy(w)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        drawn = corefw.multinomial(self.weights, self.num_samples, self.replacement,
                                   generator=self.generator)
        yield from drawn.tolist()

    def __len__(self) -> int:
        return self.num_samples


def _weights_as_numpy(weights: Sequence[float] | corefw.Tensor) -> np.ndarray:
    """Validated float64 copy of sampler weights."""
    try:
        if isinstance(weights, corefw.Tensor):
            w = np.array(weights.detach().cpu().numpy(), dtype=np.float64)
        else:
            w = np.array(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError("WeightedRandomSampler: weights should be a 1-D sequence of numbers, "
                        f"could not read {type(weights).__name__}: {exc}") from None
    if w.ndim != 1 or w.size == 0:
        raise DataError("WeightedRandomSampler: weights should be a non-empty 1-D sequence, "
                        f"got shape {w.shape}")
    if not np.isfinite(w).all():
        bad = np.flatnonzero(~np.isfinite(w))[:5].tolist()
        raise DataError(f"WeightedRandomSampler: weights must be finite; not at indices {bad}")
    if (w < 0).any():
        bad = np.flatnonzero(w < 0)[:5].tolist()
        raise DataError(f"WeightedRandomSampler: weights must be non-negative; negative at "
                        f"indices {bad} (e.g. {w[bad[0]]})")
    if not (w > 0).any():
        raise DataError(f"WeightedRandomSampler: all {w.size} weights are zero; at least one "
                        "index needs a positive weight")
    return w


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size``.

    The last batch is shorter when ``len(sampler)`` is not a multiple of ``batch_size``, unless
    ``drop_last`` drops it.

    Raises:
        DataError: ``batch_size`` is not a positive int, or ``drop_last`` is not a bool.
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not _is_positive_int(batch_size):
            raise DataError("BatchSampler: batch_size should be a positive integer, got "
                            f"batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise DataError(f"BatchSampler: drop_last should be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size
