"""Data parallelism: :class:`DistributedDataParallel` (one process per rank, over
:mod:`corefw.distributed`) and :class:`DataParallel` (PyTorch's single-process API)."""

from __future__ import annotations

from .data_parallel import DataParallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
