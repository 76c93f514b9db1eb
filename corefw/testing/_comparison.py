"""``assert_close``: PyTorch's ``torch.testing.assert_close`` for corefw tensors."""

from __future__ import annotations

import collections.abc
from typing import Any

import numpy as np

__all__ = ["assert_close"]

#: PyTorch's default (rtol, atol) per dtype name; other dtypes compare exactly.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}


class _Mismatch(AssertionError):
    pass


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _as_array(value: Any) -> tuple[np.ndarray, Any, Any, str]:
    """(host array, dtype, device, kind) of a tensor, array or Python number."""
    import corefw

    if isinstance(value, corefw.Tensor):
        return value.detach().cpu().numpy(), value.dtype, value.device, "Tensor"
    if isinstance(value, np.ndarray):
        return value, value.dtype, None, "ndarray"
    if isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
        arr = np.asarray(value)
        return arr, arr.dtype, None, "scalar"
    raise TypeError(f"assert_close: no comparison pair for inputs of type {type(value)}")


def _tolerance(*dtypes: Any) -> tuple[float, float]:
    pairs = [DEFAULT_TOLERANCES.get(_dtype_name(d), (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _compare(actual: Any, expected: Any, rtol: float | None, atol: float | None,
             equal_nan: bool, check_device: bool, check_dtype: bool, where: str) -> None:
    a, a_dtype, a_dev, a_kind = _as_array(actual)
    e, e_dtype, e_dev, e_kind = _as_array(expected)
    if a_kind != e_kind and "Tensor" in (a_kind, e_kind):
        raise _Mismatch(f"Type mismatch{where}: {type(actual)} != {type(expected)}")
    if a.shape != e.shape:
        raise _Mismatch(f"The values for attribute 'shape' do not match{where}: "
                        f"{a.shape} != {e.shape}.")
    if check_device and a_dev is not None and e_dev is not None and a_dev != e_dev:
        raise _Mismatch(f"The values for attribute 'device' do not match{where}: "
                        f"{a_dev} != {e_dev}.")
    if check_dtype and _dtype_name(a_dtype) != _dtype_name(e_dtype):
        raise _Mismatch(f"The values for attribute 'dtype' do not match{where}: "
                        f"{a_dtype} != {e_dtype}.")
    if rtol is None:
        rtol, atol = _tolerance(a_dtype, e_dtype)
    if a.dtype == np.bool_ or e.dtype == np.bool_:
        a, e = a.astype(np.int64), e.astype(np.int64)
    wide = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(e) else np.float64
    a64, e64 = a.astype(wide), e.astype(wide)
    close = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
    close |= (a64 == e64)  # equal infinities
    if close.all():
        return
    kind = "Tensor-likes" if a.ndim else "Scalars"
    n_bad, n = int((~close).sum()), close.size
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_diff = np.abs(a64 - e64)
        rel_diff = abs_diff / np.abs(e64)
    abs_diff = np.where(close, 0, np.nan_to_num(abs_diff, nan=np.inf))
    rel_diff = np.where(close, 0, np.nan_to_num(rel_diff, nan=np.inf))
    if a.ndim == 0:
        raise _Mismatch(f"{kind} are not close{where}!\n\nExpected {e.item()} but got "
                        f"{a.item()}.\nAbsolute difference: {abs_diff.item()} (up to {atol} "
                        f"allowed)\nRelative difference: {rel_diff.item()} (up to {rtol} "
                        "allowed)")
    i_abs = np.unravel_index(int(np.argmax(abs_diff)), a.shape)
    i_rel = np.unravel_index(int(np.argmax(rel_diff)), a.shape)
    raise _Mismatch(
        f"{kind} are not close{where}!\n\n"
        f"Mismatched elements: {n_bad} / {n} ({100 * n_bad / n:.1f}%)\n"
        f"Greatest absolute difference: {abs_diff[i_abs]} at index {tuple(map(int, i_abs))} "
        f"(up to {atol} allowed)\n"
        f"Greatest relative difference: {rel_diff[i_rel]} at index {tuple(map(int, i_rel))} "
        f"(up to {rtol} allowed)")


def _walk(actual: Any, expected: Any, path: str, check: Any) -> None:
    seq = (collections.abc.Sequence,)
    if isinstance(actual, seq) and not isinstance(actual, (str, bytes)) \
            and isinstance(expected, seq) and not isinstance(expected, (str, bytes)):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch{path}: {len(actual)} != "
                            f"{len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _walk(a, e, f"{path}[{i}]", check)
        return
    if isinstance(actual, collections.abc.Mapping) and \
            isinstance(expected, collections.abc.Mapping):
        if set(actual) != set(expected):
            raise _Mismatch(f"The keys of the mappings do not match{path}: "
                            f"{sorted(map(repr, actual))} != {sorted(map(repr, expected))}")
        for k in expected:
            _walk(actual[k], expected[k], f"{path}[{k!r}]", check)
        return
    check(actual, expected, f" at item {path}" if path else "")


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True,
                 rtol: float | None = None, atol: float | None = None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True, check_layout: bool = True,
                 check_stride: bool = False, msg: str | None = None) -> None:
    """Assert that ``actual`` and ``expected`` are close, as ``torch.testing.assert_close``.

    Tensors, NumPy arrays and Python numbers compare elementwise with
    ``|actual - expected| <= atol + rtol * |expected|``; sequences and mappings compare item
    by item. Without ``rtol``/``atol`` the tolerances are PyTorch's for the dtypes
    (:data:`DEFAULT_TOLERANCES`: float16 ``(1e-3, 1e-5)``, bfloat16 ``(1.6e-2, 1e-5)``,
    float32 ``(1.3e-6, 1e-5)``, float64 ``(1e-7, 1e-7)``; integers and bools exactly). Shapes,
    and by default devices and dtypes, must match.

    Args:
        actual, expected: what to compare.
        rtol, atol: relative and absolute tolerance; give both or neither.
        equal_nan: NaNs in the same places compare equal.
        check_device, check_dtype: also require equal devices / dtypes.
        allow_subclasses, check_layout, check_stride: accepted for PyTorch compatibility.
        msg: replaces the error message.

    Raises:
        AssertionError: the inputs are not close (the message names the mismatched
            elements and the largest differences with their indices).
        ValueError: only one of ``rtol`` and ``atol`` given.
        TypeError: an input that is not a tensor, array, number, sequence or mapping.
    """
    if (rtol is None) != (atol is None):
        raise ValueError(
            f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
            f"{'rtol' if rtol is None else 'atol'}.")
    del allow_subclasses, check_layout, check_stride

    def check(a: Any, e: Any, where: str) -> None:
        _compare(a, e, rtol, atol, equal_nan, check_device, check_dtype, where)

    try:
        _walk(actual, expected, "", check)
    except _Mismatch as exc:
        raise AssertionError(msg if msg is not None else str(exc)) from None
