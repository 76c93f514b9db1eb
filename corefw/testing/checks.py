"""Backend checks beyond single ops: transfers, seeded reproducibility, error behaviour.

Each check is ``check(ctx)``: it returns normally when the backend behaves, raises
AssertionError saying what went wrong, or raises :class:`~corefw.testing.cases.NotApplicable`
when it cannot apply (for example mixed-device errors with a single device type installed).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import corefw
from corefw import errors

from .cases import ALL_DTYPES, NotApplicable, values
from .runner import Context

__all__ = ["CHECKS"]


def _dt(name: str):
    return corefw.bool_ if name == "bool" else getattr(corefw, name)


def _raises(kinds: tuple[type, ...], fn: Callable, what: str, *must_name: str) -> None:
    try:
        fn()
    except kinds as exc:
        msg = str(exc)
        for word in must_name:
            assert word in msg, f"{what}: the error message does not name {word!r}: {msg}"
        return
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{what}: raised {type(exc).__name__} ({exc}), expected "
                             f"{' or '.join(k.__name__ for k in kinds)}") from exc
    raise AssertionError(f"{what}: no error was raised")


def transfer(ctx: Context) -> None:
    """Host <-> device copies are exact in every declared dtype and shape; ``.to`` to cpu and
    back; a tensor already on the device is returned as is."""
    rng = np.random.default_rng(7)
    cpu = ctx.other_device if ctx.device_type != "cpu" else ctx.device
    for dtype in sorted(ctx.dtypes, key=ALL_DTYPES.index):
        for shape in ((3, 4), (), (0, 3), (2, 3, 4), (257, 259)):
            host = values(rng, shape, dtype)
            t = corefw.tensor(host, dtype=_dt(dtype), device=ctx.device)
            assert t.device == ctx.device, f"tensor(..., device={ctx.device}) is on {t.device}"
            back = np.asarray(t.numpy())
            assert back.dtype == host.dtype and back.shape == host.shape and np.array_equal(
                back, host), f"host -> {ctx.device} -> host changed a {dtype} {shape} array"
            if cpu is not None and cpu.type == "cpu" and dtype in cpu.backend.dtypes:
                on_cpu = t.to("cpu")
                assert on_cpu.device.type == "cpu", f".to('cpu') gave {on_cpu.device}"
                assert np.array_equal(on_cpu.numpy(), host), f".to('cpu') changed {dtype}"
                again = on_cpu.to(ctx.device)
                assert again.device == ctx.device and again.dtype.name == dtype
                assert np.array_equal(again.numpy(), host), f"cpu -> {ctx.device} changed"
        x = corefw.tensor(values(rng, (4, 5), dtype), dtype=_dt(dtype), device=ctx.device)
        assert x.to(ctx.device) is x, ".to(its own device) must return the tensor itself"
        if cpu is not None and cpu.type == "cpu" and dtype in cpu.backend.dtypes:
            src = corefw.tensor(values(rng, (5, 4), dtype), dtype=_dt(dtype),
                                device="cpu").transpose(0, 1)
            moved = src.to(ctx.device)
            assert np.array_equal(moved.numpy(), src.numpy()), (
                f"a non-contiguous cpu tensor of {dtype} changed on its way to {ctx.device}")


def seeding(ctx: Context) -> None:
    """``manual_seed`` makes every random primitive reproducible; ``get_rng_state`` /
    ``set_rng_state`` restore a stream; a seeded ``Generator`` gives the cpu's values."""
    if "random" not in ctx.capabilities:
        raise NotApplicable(f"{ctx.device_type} does not declare the 'random' capability")
    dev = ctx.device

    def draw():
        return [corefw.rand(64, device=dev).numpy().copy(),
                corefw.randn(3, 5, device=dev).numpy().copy(),
                corefw.randint(0, 100, (40,), device=dev).numpy().copy(),
                corefw.randperm(30, device=dev).numpy().copy()]

    corefw.manual_seed(1234)
    first = draw()
    corefw.manual_seed(1234)
    second = draw()
    for name, a, b in zip(("rand", "randn", "randint", "randperm"), first, second):
        assert np.array_equal(a, b), f"{name} on {dev} differs after the same manual_seed"
    corefw.manual_seed(1235)
    assert not np.array_equal(draw()[0], first[0]), "rand ignores the seed"
    state = corefw.get_rng_state()
    assert ctx.device_type in state, f"get_rng_state() has no entry for {ctx.device_type}"
    a = corefw.rand(16, device=dev).numpy().copy()
    corefw.set_rng_state(state)
    b = corefw.rand(16, device=dev).numpy().copy()
    assert np.array_equal(a, b), "set_rng_state did not restore the device's stream"
    g1 = corefw.Generator().manual_seed(99)
    g2 = corefw.Generator().manual_seed(99)
    here = corefw.rand(10, generator=g1, device=dev).numpy()
    host = np.asarray(corefw.rand(10, generator=g2).numpy())
    assert np.array_equal(here, host), "a seeded Generator gives other values on this device"


def errors_device(ctx: Context) -> None:
    """Operands on two devices raise DeviceError naming both; a 0-d tensor may mix."""
    other = ctx.other_device
    if other is None:
        raise NotApplicable("needs a second device type (install another backend)")
    a = corefw.ones(2, 3, device=ctx.device)
    b = corefw.ones(2, 3, device=other)
    kinds = (errors.DeviceError,)
    names = (str(ctx.device), str(other))
    _raises(kinds, lambda: a + b, "add across devices", *names)
    _raises(kinds, lambda: a * b, "mul across devices", *names)
    _raises(kinds, lambda: a @ b.transpose(0, 1), "matmul across devices", *names)
    _raises(kinds, lambda: corefw.where(a > 0, a, b), "where across devices")
    _raises(kinds, lambda: corefw.cat([a, b]), "cat across devices")
    scalar = corefw.tensor(2.0, device=other)
    out = a * scalar
    assert out.device == ctx.device and np.allclose(out.numpy(), 2.0), (
        "a 0-d tensor on another device must mix as a scalar")


def errors_dtype(ctx: Context) -> None:
    """Undeclared dtypes raise DTypeError naming the dtype; bitwise ops refuse floats."""
    for dtype in ALL_DTYPES:
        if dtype in ctx.dtypes:
            continue
        _raises((errors.DTypeError,), lambda d=dtype: corefw.zeros(2, dtype=_dt(d),
                                                                   device=ctx.device),
                f"zeros({dtype}) on {ctx.device_type}", dtype)
        x = corefw.ones(2, device=ctx.device)
        _raises((errors.DTypeError,), lambda d=dtype, x=x: x.to(_dt(d)),
                f".to({dtype}) on {ctx.device_type}", dtype)
    if "float32" in ctx.dtypes:
        f = corefw.ones(3, device=ctx.device)
        _raises((TypeError,), lambda: f & f, "bitwise_and of float32 tensors")


def errors_shape(ctx: Context) -> None:
    """Shape mismatches raise ShapeError (a ValueError) naming the shapes."""
    a = corefw.ones(2, 3, device=ctx.device)
    b = corefw.ones(4, 5, device=ctx.device)
    _raises((errors.ShapeError,), lambda: a + b, "add of (2, 3) and (4, 5)", "(2, 3)",
            "(4, 5)")
    _raises((errors.ShapeError,), lambda: a @ b, "matmul of (2, 3) and (4, 5)")
    _raises((ValueError, errors.ShapeError), lambda: a.reshape(4, 2), "reshape (2, 3) to (4, 2)")


#: Name -> check, in report order.
CHECKS: dict[str, Callable[[Context], None]] = {
    "transfer": transfer, "seeding": seeding, "errors-device": errors_device,
    "errors-dtype": errors_dtype, "errors-shape": errors_shape,
}

# Value-error checks live in their own module (it imports _raises and _dt from here).
from .checks_errors import ERROR_CHECKS  # noqa: E402

CHECKS.update(ERROR_CHECKS)
