"""Valid safetensors dtypes that corefw has no dtype of its own for, widened exactly.

``BF16`` becomes float32 (its bits are float32's upper half), ``U16`` int32, ``U32`` int64 and
``U64`` int64 when every value fits; the float8 formats become float32 through the
``ml_dtypes`` package where it is installed. Where corefw itself holds the dtype (a backend
that registers ``bfloat16`` or ``uint16``), it is used as is. Everything else (``C64``, the
sub-byte formats) is refused with "valid safetensors file, but dtype X is not supported".
"""

from __future__ import annotations

from collections.abc import Container

import numpy as np

from ._safetensors_format import DTYPES, TensorSpec, unsupported

_F8_NAMES = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
             "F8_E8M0": "float8_e8m0fnu"}
_UNSIGNED = {"U16": (np.uint16, np.int32), "U32": (np.uint32, np.int64),
             "U64": (np.uint64, np.int64)}


def _ml_dtype(name: str) -> np.dtype | None:
    try:
        import ml_dtypes
    except ImportError:
        return None
    found = getattr(ml_dtypes, name, None)
    return None if found is None else np.dtype(found)


def widen(path: str, spec: TensorSpec, arr: np.ndarray, holdable: Container[np.dtype]
          ) -> np.ndarray:
    """``arr`` (the raw storage of ``spec``) as an array of a dtype in ``holdable``, with the
    same values; raises the "not supported" CheckpointError where that is impossible."""
    code = spec.code
    if code in DTYPES:
        return arr
    if code == "BF16":
        bf16 = _ml_dtype("bfloat16")
        if bf16 is not None and bf16 in holdable:
            return arr.view(bf16)
        return (arr.astype(np.uint32) << 16).view(np.float32)  # exact: bf16 is f32's top half
    if code in _UNSIGNED:
        native, wide = _UNSIGNED[code]
        if np.dtype(native) in holdable:
            return arr.astype(native, copy=False)
        if code == "U64" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise unsupported(path, spec.name, code, f": it holds {int(arr.max())}, more than "
                                                     f"int64 (corefw's widest integer) holds")
        return arr.astype(wide)
    if code in _F8_NAMES:
        f8 = _ml_dtype(_F8_NAMES[code])
        if f8 is None:
            raise unsupported(path, spec.name, code, " without the ml_dtypes package (pip "
                                                     "install ml_dtypes reads it as float32)")
        return arr.view(f8).astype(np.float32)  # every float8 value is exact in float32
    raise unsupported(path, spec.name, code)
