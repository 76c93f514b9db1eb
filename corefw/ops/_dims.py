"""Normalising ``dim`` arguments (shared by every op module; imports nothing above errors)."""

from __future__ import annotations

import builtins

from ..errors import CorefwIndexError


def normalize_dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative ints (None -> every dim)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        rank = builtins.max(ndim, 1)
        if not -rank <= d < rank:
            raise CorefwIndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} "
                                   f"dimension(s) (expected -{rank}..{rank - 1})")
        out.append(d % rank if ndim else 0)
    return tuple(sorted(set(out))) if ndim else ()
