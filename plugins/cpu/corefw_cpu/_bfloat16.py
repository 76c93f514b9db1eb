"""bfloat16 on NumPy: ml_dtypes' arrays, computed in float32 and rounded back.

NumPy has no bfloat16; ml_dtypes adds one whose ufunc loops are there but accumulate in
bfloat16 (the sum of 10,000 ones is 256), promote Python floats to float32 (``x + 1.5``),
and whose matmul returns float32 and einsum refuses. PyTorch's CPU kernels compute bfloat16
in float32 and round the result back; so do these: once bfloat16 is first used (the core's
:func:`corefw.backend.on_bfloat16`), every kernel is wrapped so that bfloat16 operands enter it
as float32 and its float32 results leave as bfloat16. Until then the kernel table is the
plain one, so programs that never touch bfloat16 pay nothing.

Left native (they must alias or write their operand, and NumPy moves bfloat16 exactly): the
in-place kernels (names ending in ``_``), the view ops, ``cast`` and the random kernels. The
fused optimizer steps (``*_step_``) run on float32 copies written back once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_F32 = np.dtype(np.float32)


#: kernels that make bfloat16 themselves (the random ones draw in float64 and round once, and
#: keep ``uniform`` below ``high`` in bfloat16's own steps)
_NATIVE = frozenset({"cast", "uniform", "normal", "randint", "randperm"})


def _native_ok(name: str) -> bool:
    from corefw.ops import OPS

    op = OPS.get(name)
    return name.endswith("_") or name in _NATIVE or (op is not None and (op.view or op.inplace))


#: elementwise arithmetic whose ml_dtypes loops already compute each element in float32 and
#: round once (the same numbers as upcasting, at half the cost): run natively, and round a
#: float32 result (a Python float operand promotes to it there) back to bfloat16
_NATIVE_ROUNDED = frozenset({"add", "sub", "mul", "div", "neg", "abs", "maximum", "minimum"})


def upcast(fn: Callable, bf16: np.dtype, native: bool = False) -> Callable:
    """``fn`` computing bfloat16 operands (arrays, lists of arrays, a ``dtype`` attribute)
    in float32, its float32 results rounded back to bfloat16 when no operand was float32.

    The check is a loop of identity tests (NumPy's dtype objects are singletons), so other
    dtypes pass through at about 0.1 µs per call."""
    ndarray = np.ndarray

    def arg(a):
        if type(a) is ndarray:
            return a.astype(_F32) if a.dtype is bf16 else a
        if type(a) in (list, tuple) and a and type(a[0]) is ndarray:
            return type(a)(x.astype(_F32) if x.dtype is bf16 else x for x in a)
        return _F32 if a is bf16 or (isinstance(a, np.dtype) and a == bf16) else a

    def has_f32(a) -> bool:
        if type(a) is ndarray:
            return a.dtype == _F32
        return type(a) in (list, tuple) and any(type(x) is ndarray and x.dtype == _F32
                                                for x in a)

    def back(r):
        if type(r) is ndarray:
            return r.astype(bf16) if r.dtype == _F32 else r
        if type(r) is tuple:
            return tuple(back(x) for x in r)
        if isinstance(r, np.generic) and r.dtype == _F32:
            return np.asarray(r).astype(bf16)
        return r

    def wide(args, attrs):
        if native:
            out = fn(*args, **attrs)
        else:
            out = fn(*(arg(a) for a in args), **{k: arg(v) for k, v in attrs.items()})
        wanted = attrs.get("dtype")
        if any(has_f32(a) for a in args) or (wanted is not None and np.dtype(wanted) == _F32):
            return out  # a float32 operand or dtype=float32: the result is float32
        return back(out)

    def kernel(*args, **attrs):
        for a in args:
            t = a.__class__
            if t is ndarray:
                if a.dtype is bf16:
                    return wide(args, attrs)
            elif (t is list or t is tuple) and any(x.__class__ is ndarray and x.dtype is bf16
                                                   for x in a):
                return wide(args, attrs)
        if attrs and attrs.get("dtype") is bf16:
            return wide(args, attrs)
        return fn(*args, **attrs)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    kernel.__wrapped__ = fn
    return kernel


def upcast_inplace(fn: Callable, bf16: np.dtype) -> Callable:
    """An in-place kernel (a fused optimizer step) on float32 copies of its bfloat16 arrays,
    each written back once: one rounding per step, as PyTorch's float32 ``opmath``."""

    def kernel(*args, **attrs):
        if not any(type(a) is np.ndarray and a.dtype == bf16 for a in args):
            return fn(*args, **attrs)
        wide = [a.astype(_F32) if type(a) is np.ndarray and a.dtype == bf16 else a
                for a in args]
        out = fn(*wide, **attrs)
        for a, w in zip(args, wide):
            if w is not a and a.flags.writeable:
                a[...] = w
        return args[0] if out is wide[0] else out

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    kernel.__wrapped__ = fn
    return kernel


def install(backend) -> Callable[[np.dtype], None]:
    """The listener that wraps ``backend``'s kernels (and re-resolves the device tables)."""

    def on_load(bf16: np.dtype) -> None:
        kernels = backend.kernels
        for name, fn in list(kernels.items()):
            if name.endswith("_step_"):
                kernels[name] = upcast_inplace(fn, bf16)
            elif not _native_ok(name):
                kernels[name] = upcast(fn, bf16, native=name in _NATIVE_ROUNDED)
        from corefw import dispatch

        dev_type = backend.device_type
        if dispatch.BACKENDS.get(dev_type) is backend:  # re-resolve its devices' tables
            owner = getattr(dispatch, "_OWNERS", {}).get(dev_type, "corefw-cpu")
            dispatch.register_backend(backend, owner=owner, override=True)

    return on_load
