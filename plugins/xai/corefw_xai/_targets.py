"""Targets: which scalar of the model's output is explained, per example.

A single target is ``None`` (the output is already one number per example), an ``int`` (a
column of a (batch, classes) output), a tuple of ints (an index into the non-batch dims), one
of those per example (a list or a 1-d int tensor), or a callable ``fn(output) -> (rows,)``
tensor (segmentation masks, detection scores). Several targets are given as
``targets=[t1, t2, ...]``; the attributions then gain a leading target axis.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import corefw
from corefw import Tensor
from corefw.errors import ShapeError

__all__ = ["TargetSet"]


class _One:
    """One target spec, resolved for a batch of ``batch`` examples."""

    def __init__(self, target, batch: int) -> None:
        self.given = target
        self.fn: Callable | None = None
        self.index: np.ndarray | None = None  # per example: tuple rows (batch, k) of ints
        self.scalar: tuple | None = None
        if target is None:
            self.scalar = ()
        elif callable(target) and not isinstance(target, Tensor):
            self.fn = target
        elif isinstance(target, (int, np.integer)):
            self.scalar = (int(target),)
        elif isinstance(target, tuple) and all(isinstance(t, (int, np.integer))
                                               for t in target):
            self.scalar = tuple(int(t) for t in target)
        else:
            arr = target.detach().cpu().numpy() if isinstance(target, Tensor) else \
                np.asarray(target, dtype=object if _ragged(target) else None)
            if arr.ndim == 0:
                self.scalar = (int(arr),)
                return
            if arr.dtype.kind not in "iu" and not (arr.dtype == object):
                raise TypeError(f"target: expected ints, got {arr.dtype} values {target!r}")
            if arr.shape[0] != batch:
                raise ShapeError(f"target: a per-example target needs one entry per example; "
                                 f"got {arr.shape[0]} for a batch of {batch} (for several "
                                 f"targets in one call use targets=[...])")
            if arr.dtype.kind in "iu":  # an int array: no per-example Python loop
                self.index = arr.astype(np.int64).reshape(batch, -1)
                return
            rows = [tuple(int(v) for v in (r if np.ndim(r) else (r,))) for r in arr]
            if len({len(r) for r in rows}) != 1:
                raise ShapeError("target: per-example tuples must all have the same length")
            self.index = np.asarray(rows, dtype=np.int64).reshape(batch, -1)

    def select(self, out: Tensor, rows: np.ndarray) -> Tensor:
        n = out.shape[0]
        if self.fn is not None:
            v = self.fn(out)
            if not isinstance(v, Tensor):
                raise TypeError(f"target callable returned {type(v).__name__}; it must "
                                f"return a corefw.Tensor of shape ({n},)")
            if tuple(v.shape) == (n, 1):
                v = v.reshape(n)
            if tuple(v.shape) != (n,):
                raise ShapeError(f"target callable returned shape {tuple(v.shape)}; it must "
                                 f"return one number per row, shape ({n},)")
            return v
        extra = tuple(out.shape[1:])
        if self.scalar is not None:
            idx = self.scalar
            if not idx:
                if extra in ((), (1,)):
                    return out.reshape(n)
                raise ShapeError(f"target=None needs a model output of shape (batch,) or "
                                 f"(batch, 1), got {tuple(out.shape)}; pass target=<class "
                                 f"index>")
            self._check(idx, extra, out)
            flat = int(np.ravel_multi_index(idx, extra))
            return out.reshape(n, -1)[:, flat]
        index = self.index[rows]
        for r in (index[0], index[-1]):
            self._check(tuple(r), extra, out)
        flat = np.ravel_multi_index(tuple(index.T), extra).astype(np.int64)
        g = corefw.tensor(flat.reshape(-1, 1), device=out.device)
        return out.reshape(n, -1).gather(1, g).reshape(n)

    @staticmethod
    def _check(idx, extra, out):
        if len(idx) != len(extra) or any(not 0 <= i < s for i, s in zip(idx, extra)):
            raise ShapeError(f"target {idx if len(idx) > 1 else idx[0]} is out of range for "
                             f"a model output of shape {tuple(out.shape)}")


def _ragged(target) -> bool:
    try:
        return any(isinstance(t, (tuple, list)) for t in target)
    except TypeError:
        return False


class TargetSet:
    """The targets of one call: ``len()`` of them; ``multi`` when given as ``targets=``."""

    def __init__(self, target, batch: int, targets=None) -> None:
        if targets is not None:
            if target is not None:
                raise ValueError("give either target= (one target) or targets=[...] "
                                 "(several), not both")
            if isinstance(targets, (str, bytes)) or not hasattr(targets, "__len__") or \
                    len(targets) == 0:
                raise ValueError("targets= must be a non-empty list of targets")
            self.items = [_One(t, batch) for t in targets]
            self.multi = True
            self.given = list(targets)
        else:
            self.items = [_One(target, batch)]
            self.multi = False
            self.given = target
        self.batch = batch

    def __len__(self) -> int:
        return len(self.items)

    def select(self, k: int, out: Tensor, rows: np.ndarray) -> Tensor:
        """Target k's value for every row of ``out`` (row i belongs to example rows[i])."""
        return self.items[k].select(out, rows)

    def select_all(self, out: Tensor, rows: np.ndarray) -> Tensor:
        """Every target's value: shape (n_targets, rows)."""
        return corefw.stack([it.select(out, rows) for it in self.items], 0)
