"""How a kernel call becomes a cacheable signature, and the XLA options for small programs.

:func:`_encode` splits a kernel's arguments into the dynamic operands (arrays, also inside
indexing keys, and for elementwise ops Python scalar operands: traced, so a new scalar value
reuses the executable and stays weakly typed, as in eager ``jax.numpy``) and a hashable static
structure (shapes, dims, dtypes, keys' slices; scalars keyed by type and ``repr``). The lazy
engine (_lazy.py) records calls by that structure and compiles graphs of them.

:data:`SMALL_OPTIONS` compiles without XLA CPU's MLIR fusion emitters (about 40% less compile
time for programs with little to fuse), without LLVM's optimisation (a quarter less again) and
in one codegen module: what a program that runs once or twice should cost.
``corefw.compile(fn, backend="jax")`` (compiler.py) keeps XLA's defaults for whole graphs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EAGER_OPTIONS", "SMALL_OPTIONS"]

#: XLA options for a kernel compiled on its own (the native conv/pool kernels called outside
#: a graph): nothing to fuse; one codegen module, not split for parallel compilation (threads
#: cost more than they save on small programs)
EAGER_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_cpu_parallel_codegen_split_count": 1}
#: ... and no LLVM optimisation either (see the module doc)
SMALL_OPTIONS = {**EAGER_OPTIONS, "xla_backend_optimization_level": 0}


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


def _encode(v, dyn: list, masks: bool = True):
    """``v`` with its arrays moved to ``dyn`` (placeholders left); ``masks``: a boolean array
    raises :class:`_Eager` (an indexing key's mask gives a value-dependent shape)."""
    t = type(v)
    if t in _SCALARS or isinstance(v, np.generic):  # NumPy scalars are attributes too
        return _Tok("lit", v, (t.__name__, repr(v)))
    if isinstance(v, np.ndarray) or hasattr(v, "__jax_array__") or (
            t.__module__.startswith("jax") and hasattr(v, "dtype")):
        if masks and np.dtype(v.dtype) == np.bool_ and np.ndim(v):
            raise _Eager
        dyn.append(v)
        return _Tok("arg", len(dyn) - 1)
    if t is slice:
        return _Tok("slice", (_encode(v.start, dyn, masks), _encode(v.stop, dyn, masks),
                              _encode(v.step, dyn, masks)))
    if t is list:
        return _Tok("list", tuple(_encode(e, dyn, masks) for e in v))
    if t is tuple:
        return tuple(_encode(e, dyn, masks) for e in v)
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
