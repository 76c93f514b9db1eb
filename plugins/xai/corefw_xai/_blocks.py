"""Evaluating ``S`` samples (steps, noise draws, baselines) for each of ``B`` examples in
bounded chunks, and reducing over the samples.

Rows are laid out sample-major inside a chunk (``row = s * ne + e``), so a chunk reduces over
its samples with one reshape and one sum, and the chunking never changes which random sample
belongs to which row: every random number is drawn up front.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

import corefw
from corefw import Tensor

__all__ = ["Moments", "blocks", "block_rows"]


def blocks(batch: int, samples: int, rows: int) -> Iterator[tuple[int, int, int, int]]:
    """``(e0, e1, s0, s1)``: examples e0..e1 times samples s0..s1, at most ``rows`` rows."""
    rows = max(1, int(rows))
    eb = min(batch, rows)
    sp = max(1, rows // eb)
    for e0 in range(0, batch, eb):
        e1 = min(batch, e0 + eb)
        for s0 in range(0, samples, sp):
            yield e0, e1, s0, min(samples, s0 + sp)


def block_rows(e0: int, e1: int, s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
    """(example index, sample index) of each row of a block, sample-major."""
    ne, ns = e1 - e0, s1 - s0
    return np.tile(np.arange(e0, e1), ns), np.repeat(np.arange(s0, s1), ne)


def fold(t: Tensor, ns: int, ne: int) -> Tensor:
    """(K, ns*ne, ...) -> (K, ns, ne, ...)."""
    return t.reshape((t.shape[0], ns, ne) + tuple(t.shape[2:]))


class Moments:
    """Per-example running sums over samples of ``a`` (shifted by the first chunk's mean for
    accuracy), giving mean, variance, E[a^2] and their standard errors."""

    def __init__(self, order: int = 2) -> None:
        self.order = order
        self.parts: dict[int, list] = {}
        self.count: dict[int, int] = {}
        self.shift: dict[int, Tensor] = {}

    def add(self, e0: int, folded: Tensor) -> None:
        """Add samples ``folded`` of shape (K, ns, ne, ...) for examples starting at e0."""
        ns = folded.shape[1]
        if e0 not in self.shift:
            self.shift[e0] = folded.mean(1)
            self.parts[e0] = [None] * self.order
            self.count[e0] = 0
        d = folded - self.shift[e0].unsqueeze(1)
        p = d
        for k in range(self.order):
            s = p.sum(1)
            acc = self.parts[e0][k]
            self.parts[e0][k] = s if acc is None else acc + s
            if k + 1 < self.order:
                p = p * d
        self.count[e0] += ns

    def _cat(self, fn: Callable) -> Tensor:
        return corefw.cat([fn(e0) for e0 in sorted(self.shift)], 1)

    def raw(self, e0: int, k: int) -> Tensor:
        return self.parts[e0][k - 1] / self.count[e0]

    def mean(self) -> Tensor:
        return self._cat(lambda e: self.shift[e] + self.raw(e, 1))

    def var(self) -> Tensor:
        """Population variance (divides by n)."""
        return self._cat(lambda e: self.raw(e, 2) - self.raw(e, 1) * self.raw(e, 1))

    def n(self) -> int:
        return min(self.count.values())

    def stderr_mean(self) -> Tensor:
        n = self.n()
        return (self.var() * (n / max(n - 1, 1)) / n).clamp(min=0.0).sqrt()

    def stderr_var(self) -> Tensor:
        """Standard error of the population variance, sqrt((mu4 - sigma^4) / n)."""
        def one(e):
            m = [None] + [self.raw(e, k) for k in range(1, 5)]
            mu4 = m[4] - 4 * m[1] * m[3] + 6 * m[1] * m[1] * m[2] - 3 * m[1] ** 4
            var = m[2] - m[1] * m[1]
            return mu4 - var * var
        n = self.n()
        return (self._cat(one).clamp(min=0.0) / max(n - 1, 1)).sqrt()
