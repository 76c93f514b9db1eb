"""The index-bounds check: an out-of-range index raises IndexError on the device under test.

Some array libraries clamp or wrap out-of-range indices (JAX clamps gathers and drops
out-of-range scatters; ``mode="clip"`` / ``"wrap"`` in NumPy's ``take``). A backend built on
one of them trains silently wrong, so the kit asks for an error from every indexing path:
advanced indexing (``index``), ``gather``, ``scatter_add``, ``index_put`` (``x[idx] = v``),
``index_select``, ``embedding``, and negative indices below ``-size``. Either the kernel
raises (NumPy does) or the backend checks the bounds before calling the library.
"""

from __future__ import annotations

import corefw

from .cases import NotApplicable
from .checks import _raises
from .runner import Context

__all__ = ["errors_index"]


def errors_index(ctx: Context) -> None:
    """Out-of-range indices raise IndexError on every indexing op (no clamping, no wrap)."""
    if "float32" not in ctx.dtypes or "int64" not in ctx.dtypes:
        raise NotApplicable("needs float32 and int64")
    dev = ctx.device
    x = corefw.arange(5, dtype=corefw.float32, device=dev)
    m = corefw.arange(12, dtype=corefw.float32, device=dev).reshape(3, 4)

    def idx(*values):
        return corefw.tensor(list(values), dtype=corefw.int64, device=dev)

    kinds = (IndexError,)
    _raises(kinds, lambda: x[idx(1, 7)], "x[tensor([1, 7])] of a (5,) tensor", "7")
    _raises(kinds, lambda: x[idx(-9)], "x[tensor([-9])] of a (5,) tensor", "-9")
    _raises(kinds, lambda: m[:, idx(0, 4)], "m[:, tensor([0, 4])] of a (3, 4) tensor", "4")
    _raises(kinds, lambda: corefw.gather(m, 1, idx(0, 9).reshape(1, 2)),
            "gather(dim=1) with index 9 of a (3, 4) tensor", "9")
    _raises(kinds, lambda: corefw.zeros(5, device=dev).scatter_add(
        0, idx(2, 9), corefw.ones(2, device=dev)), "scatter_add with index 9 into (5,)", "9")
    _raises(kinds, lambda: corefw.index_select(m, 0, idx(3)),
            "index_select(dim=0) with index 3 of a (3, 4) tensor", "3")
    _raises(kinds, lambda: corefw.nn.functional.embedding(idx(5), corefw.ones(
        5, 2, device=dev)), "embedding of index 5 in a 5-row table", "5")

    def put():
        y = corefw.zeros(5, device=dev)
        y[idx(1, 8)] = 1.0

    # an assignment may report the bad index as a shape problem; it must not go through
    _raises((IndexError, ValueError), put, "x[tensor([1, 8])] = 1.0 on a (5,) tensor", "8")
    y = corefw.zeros(5, device=dev)
    try:
        y[idx(1, 8)] = 1.0
    except (IndexError, ValueError):
        pass
    assert y.sum().item() == 0.0, "a refused assignment changed the tensor"
