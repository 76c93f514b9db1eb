"""corefw's one op test table (the conformance kit's and the test suite's): for every op, and
for the public functions built on it, how to make inputs, how to call it on a device and its
float64 reference.

An :class:`OpCase` is one row of a table (Chainer's ``FunctionTestCase``, tinygrad's
``helper_test_op``): ``make`` builds host inputs for a variant and dtype, ``fn`` calls the op
through corefw on device tensors, and ``ref`` computes the expected result with plain float64
NumPy written from the op's definition (:mod:`corefw.testing.reference`), never from corefw or
the backend toolkit. Backward is checked against central differences of ``ref``.

Third parties add cases for the ops they register with :func:`register_case`, in a module named
in the ``corefw.conformance`` entry-point group (the kit imports it); a registered op without a
case shows as "untested" in the kit's matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ALL_DTYPES", "CASES", "FLOAT", "INT", "NotApplicable", "OpCase", "Sample",
           "VARIANTS", "cases_for", "register_case", "values"]

#: Column order of the matrix (every dtype corefw knows).
ALL_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
              "float32", "float64")
#: bfloat16 rows run on backends that declare it (corefw-cpu, through ml_dtypes)
FLOAT = ("float16", "bfloat16", "float32", "float64")
INT = ("uint8", "int8", "int16", "int32", "int64")
_KINDS = {"f": FLOAT, "i": INT, "b": ("bool",)}

#: Edge-shape variants. ``noncontig`` and ``strided`` are applied by the runner: for
#: ``noncontig`` every input of 2 or more dims is made as the transpose of a contiguous tensor,
#: for ``strided`` every input of 1 or more dims as every other element of a buffer twice as
#: wide (a slice view).
VARIANTS = ("basic", "0-d", "empty", "broadcast", "scalar", "noncontig", "strided", "large")


class NotApplicable(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``OpCase.make`` when a variant does not apply to a dtype or backend."""


@dataclass
class Sample:
    """Inputs for one call: host arrays (already in their dtypes) and keyword attributes."""

    arrays: tuple
    attrs: dict = field(default_factory=dict)
    #: indices of the arrays to differentiate; None means the case's default
    grad: tuple[int, ...] | None = None
    #: the result's dtype when it depends on more than the input dtype (casts)
    out_dtype: str | None = None


@dataclass
class Env:
    """What ``make`` may ask about the backend under test."""

    device: Any
    dtypes: frozenset
    capabilities: frozenset
    other_device: Any = None


@dataclass
class OpCase:
    """How to test one op.

    ``make(rng, variant, dtype, env) -> Sample``; ``fn(*tensors, **attrs) -> Tensor`` runs the op
    on device tensors (it must reach the op's kernel: the kit counts the calls);
    ``ref(*arrays, **attrs) -> ndarray`` is the float64 reference (inputs of float dtypes are
    given as float64); or ``check(out, sample, dtype)`` validates a result that has no single
    expected value (random ops) and raises AssertionError.
    """

    op: str
    make: Callable[..., Sample]
    fn: Callable[..., Any]
    ref: Callable[..., Any] | None = None
    check: Callable[..., None] | None = None
    #: dtypes it runs in: kind letters (f float, i integer, b bool) or a tuple of dtype names
    kinds: str | tuple[str, ...] = "f"
    variants: tuple[str, ...] = ("basic",)
    grad: tuple[int, ...] = (0,)
    #: expected result dtype: a name, a function of the input dtype name, or None (the same)
    out_dtype: str | Callable[[str], str] | None = None
    #: tolerance multiplier (ops that accumulate, such as reductions over many elements)
    tol: float = 1.0
    #: capabilities the backend must declare (e.g. "random")
    needs: frozenset = frozenset()
    #: variants without a backward check (beyond "large", which never has one)
    forward_only: tuple[str, ...] = ()
    #: a creation op: ``fn`` also receives ``device=`` and ``dtype=``
    creation: bool = False
    #: ``vjp_ref(*arrays, v=cotangent, **attrs) -> {input index: gradient}`` for ops whose
    #: gradient is a rule rather than the derivative of ``ref`` (embedding's padding_idx)
    vjp_ref: Callable[..., dict] | None = None
    doc: str = ""
    #: what the case calls, when it is more than the op itself (``"var"``, ``"F.conv2d"``):
    #: several public functions reach one kernel, and each gets its rows (default: ``op``)
    name: str = ""
    #: also check the second derivative (float64 ``gradgradcheck`` of ``fn``; the test suite
    #: runs it, the kit does not): True for the ``basic``/``scalar``/``broadcast`` variants, or
    #: a tuple of variants
    gradgrad: bool | tuple[str, ...] = False

    def gradgrad_variants(self) -> tuple[str, ...]:
        """The variants whose second derivative is checked."""
        if not self.gradgrad:
            return ()
        wanted = self.gradgrad if isinstance(self.gradgrad, tuple) else (
            "basic", "scalar", "broadcast")
        return tuple(v for v in self.variants if v in wanted)

    def __post_init__(self) -> None:
        self.name = self.name or self.op

    def dtypes(self) -> tuple[str, ...]:
        """The dtypes this case runs in, in matrix order."""
        if isinstance(self.kinds, tuple):
            wanted = set(self.kinds)
        else:
            wanted = {d for k in self.kinds for d in _KINDS[k]}
        return tuple(d for d in ALL_DTYPES if d in wanted)

    def expected_dtype(self, dtype: str) -> str:
        """The dtype the result must have for inputs of ``dtype``."""
        if self.out_dtype is None:
            return dtype
        if isinstance(self.out_dtype, str):
            return self.out_dtype
        return self.out_dtype(dtype)


#: op name -> its cases (several cases may cover one op).
CASES: dict[str, list[OpCase]] = {}


def register_case(case: OpCase) -> OpCase:
    """Add a case to the kit (plugins call this for the ops they register)."""
    CASES.setdefault(case.op, []).append(case)
    return case


def cases_for(op: str) -> list[OpCase]:
    """The cases covering ``op`` (loads the kit's built-in table first)."""
    _load_builtin()
    return list(CASES.get(op, ()))


_loaded = [False]
#: Entry-point group of modules that register cases for a plugin's own ops on import.
CASE_GROUP = "corefw.conformance"
#: ``{entry point name: error}`` for case modules that failed to import.
CASE_ERRORS: dict[str, str] = {}


def _load_builtin() -> None:
    if _loaded[0]:
        return
    _loaded[0] = True
    from importlib import metadata

    from . import (  # noqa: F401
        cases_core,
        cases_functions,
        cases_indexing,
        cases_losses,
        cases_nn,
        cases_nn_functions,
        cases_parity,
        cases_parity_more,
        cases_random,
        cases_shape,
        cases_train,
    )

    for ep in metadata.entry_points(group=CASE_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - reported in the matrix, never fatal
            CASE_ERRORS[ep.name] = f"{type(exc).__name__}: {exc}"


# -- input generators ---------------------------------------------------------------------
def values(rng: np.random.Generator, shape: Iterable[int], dtype: str,
           domain: str = "any") -> np.ndarray:
    """Random host values of ``dtype`` in a ``domain`` chosen so that the op is smooth there.

    Domains: ``any`` (normal, clipped at 3), ``pos`` (0.5 to 2.5), ``nonzero`` (0.25 to 1.5 in
    magnitude), ``prob`` (0.05 to 0.95), ``small`` (-2 to 2), ``offint`` (at least 0.1 away
    from integers and half-integers: floor, round and sign are smooth there), ``distinct`` (no
    ties: max, argmax), ``ties`` (few values, so comparisons meet equality), ``unit`` (-0.9 to
    0.9). Integer dtypes get small integers (non-negative for uint8), bool random truth values.
    """
    shape = tuple(shape)
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype in INT:
        lo = 0 if dtype == "uint8" else -5
        if domain == "divisor":
            arr = rng.choice([1, 2, 3] if dtype == "uint8" else [-3, -2, -1, 1, 2, 3], size=shape)
        elif domain in ("pos", "nonzero", "prob"):
            arr = rng.integers(1, 6, size=shape)
            if domain == "nonzero" and dtype != "uint8":
                arr = arr * rng.choice([-1, 1], size=shape)
        elif domain == "distinct":
            arr = (rng.permutation(n) + (0 if dtype == "uint8" else -(n // 2))).reshape(shape)
            if dtype == "int8":
                arr = np.clip(arr, -128, 127)
        elif domain == "ties":
            arr = rng.integers(max(lo, -2), 3, size=shape)
        else:
            arr = rng.integers(lo, 6, size=shape)
        return np.asarray(arr).astype(dtype)
    if domain == "divisor":
        arr = rng.choice([-2.0, -1.0, 1.0, 2.0], size=shape)
    elif domain == "any":
        arr = np.clip(rng.standard_normal(shape), -3, 3)
    elif domain == "pos":
        arr = rng.uniform(0.5, 2.5, shape)
    elif domain == "nonzero":
        arr = rng.uniform(0.25, 1.5, shape) * rng.choice([-1.0, 1.0], size=shape)
    elif domain == "prob":
        arr = rng.uniform(0.05, 0.95, shape)
    elif domain == "small":
        arr = rng.uniform(-2, 2, shape)
    elif domain == "unit":
        arr = rng.uniform(-0.9, 0.9, shape)
    elif domain == "offint":
        frac = rng.uniform(0.1, 0.4, shape) + rng.choice([0.0, 0.5], size=shape)
        arr = rng.integers(-3, 3, size=shape) + frac
    elif domain == "distinct":
        arr = (rng.permutation(n).reshape(shape) - n / 2) / 8 + 1 / 16
    elif domain == "ties":
        arr = rng.choice([-1.0, 0.0, 0.5, 1.0], size=shape)
    else:
        raise ValueError(f"values: unknown domain {domain!r}")
    return np.asarray(arr, dtype=np.float64).astype(_np_dtype(dtype))


def _np_dtype(name: str) -> np.dtype:
    """NumPy's dtype for a corefw dtype name (bfloat16's is ml_dtypes', loaded on demand)."""
    if name == "bfloat16":
        import corefw

        return corefw.bfloat16.np
    return np.dtype(name)


#: Shapes of the edge-shape variants for one-operand shape-generic ops.
UNARY_SHAPES = {"basic": (3, 4), "0-d": (), "empty": (0, 3), "noncontig": (4, 5),
                "strided": (3, 4), "large": (257, 259)}
#: Operand shapes for two-operand broadcasting ops.
BINARY_SHAPES = {"basic": ((3, 4), (3, 4)), "0-d": ((), ()), "empty": ((0, 4), (0, 4)),
                 "broadcast": ((2, 3, 1), (4,)), "scalar": ((3, 4), None),
                 "noncontig": ((4, 5), (4, 5)), "strided": ((3, 4), (3, 4)),
                 "large": ((257, 259), (257, 259))}
