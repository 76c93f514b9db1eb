"""dtypes and type promotion.

A :class:`dtype` wraps the NumPy dtype that every array-module backend understands. Promotion
follows PyTorch, not NumPy (see docs/dtypes.md):

* categories are ordered bool < integer < floating; an operand of a higher category decides
  the category of the result, and the result is its dtype (``int64 + float32 -> float32``,
  where NumPy says float64);
* within a category, the smallest dtype that holds both (``int8 + uint8 -> int16``);
* dimensioned tensors outrank 0-d tensors, which outrank Python scalars: a lower-ranked operand
  only matters when its category is higher (``float32 tensor + 2.0 -> float32``,
  ``int64 tensor + 2.5 -> the default float dtype``).

Results are cached per dtype pair, since ``np.result_type`` alone costs about 0.5 µs.

``bfloat16`` follows PyTorch: ``bfloat16 + float16 -> float32`` (neither holds the other),
``bfloat16 + float32 -> float32``, ``int + bfloat16 -> bfloat16``. NumPy has no bfloat16; its
NumPy dtype comes from the ``ml_dtypes`` package, imported on first use (``bfloat16.np``), so
corefw neither imports nor needs it until a bfloat16 tensor is made. Backends declare it in
``Backend.dtypes``; one that does not raises :class:`~corefw.errors.DTypeError`.
"""

from __future__ import annotations

import numpy as np

from .errors import DTypeError

__all__ = [
    "bfloat16", "bool_", "dtype", "float16", "float32", "float64", "get_default_dtype", "int16",
    "int32", "int64", "int8", "on_bfloat16", "promote_types", "set_default_dtype", "uint8",
]


class dtype:  # noqa: N801 - PyTorch's spelling
    """A tensor element type, e.g. ``corefw.float32``."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "category")

    def __init__(self, name: str, np_dtype: np.dtype | None, kind: str = "") -> None:
        self.name = name
        if np_dtype is not None:  # else ``np`` is filled on first read (see __getattr__)
            self.np = np.dtype(np_dtype)
            kind, itemsize = self.np.kind, self.np.itemsize
        else:
            itemsize = 2
        self.itemsize = itemsize
        self.is_floating_point = kind == "f"
        self.is_signed = kind in "if"
        self.category = {"b": 0, "u": 1, "i": 1, "f": 2}[kind]

    def __getattr__(self, attr: str):
        # only reached while a lazy dtype's ``np`` slot is empty: bfloat16 before first use
        if attr != "np":
            raise AttributeError(attr)
        self.np = _load_bfloat16()
        return self.np

    def __repr__(self) -> str:
        return f"corefw.{self.name}"

    def __reduce__(self):  # dtypes are singletons, also through copy/pickle
        return (_by_name, (self.name,))


bool_ = dtype("bool", np.bool_)
uint8 = dtype("uint8", np.uint8)
int8 = dtype("int8", np.int8)
int16 = dtype("int16", np.int16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
#: Brain floating point: float32's range with 8 bits of precision (NumPy dtype: ml_dtypes').
bfloat16 = dtype("bfloat16", None, kind="f")

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
FLOAT_DTYPES = (float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16, int=int32, long=int64)


class _FromNumpy(dict):
    """np.dtype (and scalar type) -> corefw dtype. A miss may be ml_dtypes' bfloat16 made
    before corefw looked at it (a backend or a file made the array): register it then."""

    def __missing__(self, key):
        if getattr(key, "name", None) == "bfloat16" or getattr(key, "__name__", "") == \
                "bfloat16":
            bfloat16.np  # noqa: B018 - loads ml_dtypes and registers its dtype here
            return dict.__getitem__(self, key)
        raise KeyError(key)


# np.dtype -> corefw dtype; also keyed by the scalar types so np.float32 works as an argument.
FROM_NP: dict = _FromNumpy({d.np: d for d in ALL_DTYPES if d is not bfloat16})
FROM_NP.update({d.np.type: d for d in ALL_DTYPES if d is not bfloat16})
#: NumPy kinds of floating arrays: "f", and "V" for ml_dtypes' bfloat16 (NumPy files it
#: among the void types). Use ``arr.dtype.kind in FLOATING_KINDS``.
FLOATING_KINDS = "fV"


_BF16_LISTENERS: list = []


def on_bfloat16(listener) -> None:
    """Call ``listener(np_dtype)`` once bfloat16's NumPy dtype is loaded (now, if it is):
    a backend that computes bfloat16 by upcasting installs its kernels then, so programs
    that never use bfloat16 pay nothing for it."""
    if "np" in _loaded:
        listener(bfloat16.np)
    else:
        _BF16_LISTENERS.append(listener)


_loaded: set = set()


def _load_bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16, registered in :data:`FROM_NP` (first use of bfloat16 only)."""
    try:
        import ml_dtypes
    except ImportError:
        raise DTypeError("corefw.bfloat16 needs the ml_dtypes package for its host (NumPy) "
                         "arrays: pip install ml_dtypes (corefw-cpu depends on it)") from None
    np_dtype = np.dtype(ml_dtypes.bfloat16)
    FROM_NP[np_dtype] = FROM_NP[np_dtype.type] = bfloat16
    bfloat16.np = np_dtype
    _loaded.add("np")
    for listener in _BF16_LISTENERS:
        listener(np_dtype)
    _BF16_LISTENERS.clear()
    return np_dtype


def is_floating_np(np_dtype: np.dtype) -> bool:
    """Whether a NumPy dtype is a floating one corefw holds (including bfloat16)."""
    return np_dtype.kind == "f" or np_dtype.kind == "V" and np_dtype.name == "bfloat16"

_default_float = float32


def _by_name(name: str) -> dtype:
    return _BY_NAME[name]


def to_dtype(value) -> dtype:
    """Accept a corefw dtype, a NumPy dtype or scalar type, a name, or a Python type."""
    if type(value) is dtype:
        return value
    if value is float:
        return _default_float
    if value is int:
        return int64
    if value is bool:
        return bool_
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    try:
        return FROM_NP[np.dtype(value)]
    except (TypeError, KeyError):
        supported = ", ".join(d.name for d in ALL_DTYPES)
        raise DTypeError(f"unsupported dtype {value!r}; corefw supports {supported}") from None


def get_default_dtype() -> dtype:
    """The dtype of new floating-point tensors (float32 unless changed)."""
    return _default_float


def set_default_dtype(d) -> None:
    """Set the dtype of new floating-point tensors (a floating dtype)."""
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise DTypeError(f"set_default_dtype: {d} is not a floating dtype; use float16/32/64")
    _default_float = d


_promote_cache: dict = {}


def promote_types(a: dtype, b: dtype) -> dtype:
    """The dtype two tensors of equal rank promote to (PyTorch's rule, see module doc)."""
    key = (a, b)
    hit = _promote_cache.get(key)
    if hit is not None:
        return hit
    if a.category != b.category:
        out = a if a.category > b.category else b
    elif a is bfloat16 or b is bfloat16:  # PyTorch: with float16 neither holds the other
        other = b if a is bfloat16 else a
        out = float32 if other is float16 else other
    else:
        out = FROM_NP[np.promote_types(a.np, b.np)]
    _promote_cache[key] = out
    return out


def scalar_category(value) -> int:
    """Category of a Python scalar: 0 bool, 1 int, 2 float."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return 1
    return 2


def default_for_category(category: int) -> dtype:
    return (bool_, int64, _default_float)[category]


class _BFloat16Info:
    """bfloat16's limits (PyTorch's values), without importing ml_dtypes."""

    bits = 16
    eps = 2.0 ** -7
    max = float.fromhex("0x1.fep127")
    min = -max
    tiny = 2.0 ** -126
    resolution = 0.01


_BF16_FINFO = _BFloat16Info()


class finfo:  # noqa: N801 - PyTorch's spelling
    """Machine limits of a floating dtype (``corefw.finfo(corefw.float32).eps``); the default
    float dtype when none is given."""

    def __init__(self, type=None) -> None:  # noqa: A002 - PyTorch's keyword
        d = _default_float if type is None else to_dtype(type)
        if not d.is_floating_point:
            raise DTypeError(f"finfo: {d} is not a floating dtype; use corefw.iinfo for "
                             f"integer dtypes")
        info = _BF16_FINFO if d is bfloat16 else np.finfo(d.np)
        self.dtype = d.name
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = float(info.resolution)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, smallest_normal={self.tiny}, bits={self.bits}, "
                f"dtype={self.dtype})")


class iinfo:  # noqa: N801 - PyTorch's spelling
    """Limits of an integer (or bool) dtype: ``bits``, ``min``, ``max``."""

    def __init__(self, type) -> None:  # noqa: A002 - PyTorch's keyword
        d = to_dtype(type)
        if d.is_floating_point:
            raise DTypeError(f"iinfo: {d} is a floating dtype; use corefw.finfo")
        self.dtype = d.name
        if d is bool_:
            self.bits, self.min, self.max = 8, 0, 1
        else:
            info = np.iinfo(d.np)
            self.bits, self.min, self.max = int(info.bits), int(info.min), int(info.max)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, bits={self.bits}, dtype={self.dtype})"
