"""Every eager kernel as one ``jax.jit`` function: one XLA compile per new (shapes, dtypes,
attributes) instead of one per ``jax.numpy`` primitive inside the kernel.

Eager JAX compiles an executable the first time a primitive meets a new shape; a kernel such
as ``scatter_add`` (an index grid, broadcasts, a scatter) or ``arange`` runs several of them.
:func:`eager_jit` traces the whole kernel once per signature instead. Arrays (also inside
indexing keys) and, for elementwise ops, Python scalar operands are traced arguments, so a new
scalar value reuses the executable (a Python scalar stays weakly typed, as in eager
``jax.numpy``); every other argument is static (shapes, dims, dtypes, keys' slices).

:data:`EAGER_OPTIONS` compiles these single-kernel executables without XLA CPU's MLIR fusion
emitters (the classic elemental emitter, still LLVM-optimised): about 40% less compile time for
a kernel that has nothing to fuse; kernels on small arrays also skip LLVM's optimisation
(:data:`SMALL_OPTIONS`). ``corefw.compile(fn, backend="jax")`` (compiler.py) keeps
XLA's defaults for whole graphs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["EAGER_OPTIONS", "SMALL_OPTIONS", "eager_jit"]

#: XLA options for eager kernels (see the module doc)
EAGER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
#: ... and for kernels whose operands are all small: no LLVM optimisation either (a quarter
#: less compile time; vectorised loops do not pay on a few thousand elements)
SMALL_OPTIONS = {**EAGER_OPTIONS, "xla_backend_optimization_level": 0}
#: operands up to this many elements are "small"
SMALL = 1 << 12


_SCALARS = (bool, int, float)


class _Eager(Exception):
    """This call cannot be traced (a boolean mask index: its result shape depends on values)."""


class _Tok:
    """A hashable token in a static structure: an argument placeholder (``"arg"``, index), a
    slice, a list (advanced indexing, kept apart from tuples) or a Python scalar. Equal only
    to a token of the same kind and type: ``1``, ``1.0`` and ``True`` (equal in Python) and
    ``0.0``/``-0.0`` must not share an executable, and a NaN attribute must hit the cache."""

    __slots__ = ("kind", "value", "_key")

    def __init__(self, kind: str, value, key=None) -> None:
        self.kind, self.value = kind, value
        self._key = (kind, value if key is None else key)

    def __eq__(self, other) -> bool:
        return type(other) is _Tok and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


def _encode(v, dyn: list):
    t = type(v)
    if t in _SCALARS or isinstance(v, np.generic):  # NumPy scalars are attributes too
        return _Tok("lit", v, (t.__name__, repr(v)))
    if isinstance(v, np.ndarray) or hasattr(v, "__jax_array__") or (
            t.__module__.startswith("jax") and hasattr(v, "dtype")):
        if np.dtype(v.dtype) == np.bool_ and np.ndim(v):
            raise _Eager
        dyn.append(v)
        return _Tok("arg", len(dyn) - 1)
    if t is slice:
        return _Tok("slice", (_encode(v.start, dyn), _encode(v.stop, dyn),
                              _encode(v.step, dyn)))
    if t is list:
        return _Tok("list", tuple(_encode(e, dyn) for e in v))
    if t is tuple:
        return tuple(_encode(e, dyn) for e in v)
    return v


def _decode(v, dyn):
    t = type(v)
    if t is tuple:
        return tuple(_decode(e, dyn) for e in v)
    if t is not _Tok:
        return v
    kind = v.kind
    if kind == "lit":
        return v.value
    if kind == "arg":
        return dyn[v.value]
    if kind == "slice":
        return slice(*(_decode(e, dyn) for e in v.value))
    return [_decode(e, dyn) for e in v.value]



def eager_jit(jax, fn: Callable, *, scalar_operands: bool = False) -> Callable:
    """``fn(*args, **attrs)`` compiled once per signature (module doc). ``scalar_operands``:
    positional Python scalars are traced (elementwise ops: ``mul(x, 2.0)`` and ``mul(x, 3.0)``
    share one executable); otherwise they are static, as attributes are. A call that cannot
    be traced (a boolean-mask key, an unhashable attribute) runs ``fn`` eagerly."""

    def run(dyn, spec):
        args, kwargs = _decode(spec, dyn)
        return fn(*args, **dict(kwargs))

    tracer = jax.core.Tracer
    compiled = jax.jit(run, static_argnums=1, compiler_options=EAGER_OPTIONS)
    small = jax.jit(run, static_argnums=1, compiler_options=SMALL_OPTIONS)

    def kernel(*args, **kwargs):
        dyn: list = []
        try:
            enc = []
            for a in args:
                if scalar_operands and type(a) in _SCALARS:
                    dyn.append(a)
                    enc.append(_Tok("arg", len(dyn) - 1))
                else:
                    enc.append(_encode(a, dyn))
            spec = (tuple(enc), tuple(sorted((k, _encode(v, dyn)) for k, v in kwargs.items())))
            hash(spec)
        except (_Eager, TypeError):
            return fn(*args, **kwargs)
        if any(isinstance(a, tracer) for a in dyn):
            return fn(*args, **kwargs)  # inside corefw.compile's jax.jit: part of its graph
        sizes = [a.size for a in dyn if hasattr(a, "shape")]
        if sizes and max(sizes) <= SMALL:  # (creation kernels have no array operand)
            return small(dyn, spec)
        return compiled(dyn, spec)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    kernel.__wrapped__ = fn
    return kernel
