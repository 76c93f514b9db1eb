"""``DistributedSampler``: each rank reads its own share of a dataset (PyTorch's)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import corefw

from .dataset import DataError
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler[int]):
    """Indices of ``dataset`` for rank ``rank`` of ``num_replicas`` (default: from the
    initialized process group).

    Every epoch the indices are (optionally) shuffled with ``seed + epoch`` -- the same
    permutation on every rank; call :meth:`set_epoch` at the start of each epoch. Then rank r
    takes every ``num_replicas``-th index from position r. When the dataset does not divide
    evenly, ``drop_last=False`` pads with indices from the start (so every rank gets the same
    number; a few samples count twice) and ``drop_last=True`` drops the tail.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_initialized():
                raise DataError("DistributedSampler: pass num_replicas and rank, or call "
                                "corefw.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise DataError(f"DistributedSampler: invalid rank {rank}, rank should be in the "
                            f"interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            gen = corefw.Generator()
            gen.manual_seed(self.seed + self.epoch)
            indices = corefw.randperm(n, generator=gen).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad > 0:
                indices += (indices * math.ceil(pad / max(len(indices), 1)))[:pad]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next shuffle (same value on every rank)."""
        self.epoch = epoch
