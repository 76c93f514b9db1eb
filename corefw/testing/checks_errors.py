"""Conformance checks of error behaviour on values: indices out of range, integer division by
zero, integers that do not fit their dtype.

A backend must not clamp or wrap an out-of-range index (JAX clamps, numpy wraps ``-1``) nor
return 0 for an integer division by zero: corefw raises, naming the op, the dim and the index.
The checks call the public API on the device under test, so they cover the core's checks and
the backend's own kernels (advanced indexing reaches the kernel directly).
"""

from __future__ import annotations

from collections.abc import Callable

import corefw
from corefw import errors

from .cases import NotApplicable
from .checks import _dt, _raises
from .runner import Context

__all__ = ["ERROR_CHECKS"]


def errors_index(ctx: Context) -> None:
    """gather, scatter_add, index_select and advanced indexing refuse out-of-range indices."""
    if "float32" not in ctx.dtypes or "int64" not in ctx.dtypes:
        raise NotApplicable("needs float32 and int64")
    dev = ctx.device
    x = corefw.arange(6.0, device=dev).reshape(2, 3)
    kinds = (errors.CorefwIndexError,)
    for bad in (-1, 3, 7):
        idx = corefw.tensor([[0, bad]], device=dev)
        _raises(kinds, lambda i=idx: corefw.gather(x, 1, i), f"gather with index {bad}",
                "gather", "dimension 1", str(bad))
        _raises(kinds, lambda i=idx: corefw.scatter_add(x, 1, i, corefw.ones(1, 2, device=dev)),
                f"scatter_add with index {bad}", "scatter_add", "dimension 1", str(bad))
        _raises(kinds, lambda b=bad: corefw.index_select(x, 1, corefw.tensor([b], device=dev)),
                f"index_select with index {bad}", "index_select", str(bad))
    for bad in (2, -3, 100):  # advanced indexing: negative indices count from the end
        key = corefw.tensor([0, bad], device=dev)
        _raises((IndexError,), lambda k=key: x[k], f"x[tensor([0, {bad}])] of a (2, 3) tensor",
                str(bad))

        def put(k=key):
            y = x.clone()
            y[k] = 1.0

        _raises((IndexError,), put, f"x[tensor([0, {bad}])] = 1.0 of a (2, 3) tensor")
    got = x[corefw.tensor([-1, -2], device=dev)].numpy()  # the valid negative indices
    assert got.tolist() == [[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]], f"x[[-1, -2]] gave {got}"


def errors_integer(ctx: Context) -> None:
    """Integer division and remainder by zero raise ZeroDivisionError; integers that do not fit
    their dtype raise OverflowError instead of wrapping."""
    ints = [d for d in ("int8", "int16", "int32", "int64", "uint8") if d in ctx.dtypes]
    if not ints:
        raise NotApplicable("no integer dtype")
    dev = ctx.device
    for name in ints:
        a = corefw.tensor([7, 5], dtype=_dt(name), device=dev)
        z = corefw.tensor([1, 0], dtype=_dt(name), device=dev)
        kinds = (errors.CorefwZeroDivisionError,)
        _raises(kinds, lambda a=a, z=z: a // z, f"{name} // a tensor holding 0", "floor_divide")
        _raises(kinds, lambda a=a, z=z: a % z, f"{name} % a tensor holding 0", "remainder")
        _raises(kinds, lambda a=a: corefw.remainder(a, 0), f"remainder({name}, 0)")
        _raises(kinds, lambda a=a, z=z: corefw.div(a, z, rounding_mode="trunc"),
                f"div({name}, 0, rounding_mode='trunc')")
        ok = (a // corefw.tensor([2, 5], dtype=_dt(name), device=dev)).numpy().tolist()
        assert ok == [3, 1], f"{name} floor division gave {ok}"
    if "int8" in ctx.dtypes:
        y = corefw.zeros(2, dtype=corefw.int8, device=dev)

        def store():
            y[0] = 1000

        _raises((errors.CorefwOverflowError,), store, "x[0] = 1000 on int8", "1000")
        _raises((errors.CorefwOverflowError,),
                lambda: corefw.tensor([300], dtype=corefw.int8, device=dev),
                "tensor([300], dtype=int8)", "300")
        assert y.numpy().tolist() == [0, 0], "a refused store changed the tensor"
    if "int64" in ctx.dtypes:
        _raises((errors.CorefwOverflowError,), lambda: corefw.tensor([2**63], device=dev),
                "tensor([2**63])")
        _raises((errors.CorefwOverflowError,),
                lambda: corefw.tensor([float("nan")], dtype=corefw.int64, device=dev),
                "tensor([nan], dtype=int64)", "nan")


#: Name -> check, appended to :data:`corefw.testing.checks.CHECKS`.
ERROR_CHECKS: dict[str, Callable[[Context], None]] = {
    "errors-index": errors_index, "errors-integer": errors_integer,
}
