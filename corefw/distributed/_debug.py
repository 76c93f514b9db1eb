"""Checking that all ranks call the same collective with the same shapes and dtypes.

A mismatch otherwise shows up as a hang or as garbage: MPI reduces whatever bytes arrive. The
check all-gathers a 64-bit digest of "op, shapes, dtypes" (one small collective); only when the
digests differ are the descriptions exchanged, to name the ranks and what each passed. It runs
before every collective under ``COREFW_DISTRIBUTED_DEBUG=DETAIL`` (PyTorch's
``TORCH_DISTRIBUTED_DEBUG``) and always for DistributedDataParallel's first collective.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import corefw

from ._backend import DistError
from ._objects import all_gather_object

__all__ = ["check_same", "describe", "detail", "read_setting"]


_DETAIL = [False]


def read_setting() -> None:
    """Read ``COREFW_DISTRIBUTED_DEBUG`` (at ``init_process_group``, as PyTorch reads
    ``TORCH_DISTRIBUTED_DEBUG``: looking it up in every collective cost microseconds)."""
    _DETAIL[0] = os.environ.get("COREFW_DISTRIBUTED_DEBUG", "").upper() == "DETAIL"


def detail() -> bool:
    """Whether ``COREFW_DISTRIBUTED_DEBUG=DETAIL`` was set when the group was initialized."""
    return _DETAIL[0]


def describe(tensors: Sequence[Any], names: Sequence[str] | None = None) -> list[str]:
    """``["weight: float32 (3, 4)", ...]`` for tensors (named, or numbered)."""
    names = names or [f"tensor {i}" for i in range(len(tensors))]
    return [f"{n}: {t.dtype.name} {tuple(t.shape)}" for n, t in zip(names, tensors)]


def check_same(group: Any, fn: str, tensors: Sequence[Any],
               names: Sequence[str] | None = None) -> None:
    """Raise :class:`DistError` if the ranks of ``group`` pass different tensors to ``fn``."""
    lines = [fn] + describe(tensors, names)
    digest = hashlib.sha256("\n".join(lines).encode()).digest()[:8]
    dev = getattr(group.pg, "buffer_device", "cpu")  # nccl: a GPU
    mine = corefw.tensor([int.from_bytes(digest, "little", signed=True)], dtype=corefw.int64,
                         device=dev)
    every = corefw.empty((group.size(),), dtype=corefw.int64, device=dev)
    group.pg.allgather(every, mine).wait()
    values = every.cpu().tolist()
    if len(set(values)) == 1:
        return
    seen: list = [None] * group.size()
    all_gather_object(seen, lines, group=group)
    me = group.rank()
    diffs = []
    for r, theirs in enumerate(seen):
        if theirs == lines:
            continue
        first = next((i for i, (a, b) in enumerate(zip(lines, theirs)) if a != b),
                     min(len(lines), len(theirs)))
        mine_s = lines[first] if first < len(lines) else "(nothing)"
        theirs_s = theirs[first] if first < len(theirs) else "(nothing)"
        diffs.append(f"rank {group.ranks[r]} passes {theirs_s!r} where rank "
                     f"{group.ranks[me]} passes {mine_s!r}")
    raise DistError(f"{fn}: the ranks called it with different tensors: " + "; ".join(diffs)
                    + ". Every rank must pass the same shapes and dtypes in the same order")
