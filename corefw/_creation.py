"""Tensor creation: ``tensor``, ``zeros``, ``arange``, ``rand`` ... with PyTorch's signatures."""

from __future__ import annotations

import math

import numpy as np

from . import _dtype
from . import _rules as R
from ._call import wrap
from ._device import get_default_device
from ._registry import FN, declare, publish
from ._tensor import Tensor
from .dispatch import device_of
from .errors import CorefwOverflowError, DTypeError

__all__ = ["arange", "as_tensor", "empty", "empty_like", "eye", "from_dlpack", "from_numpy",
           "full", "full_like", "linspace", "ones", "ones_like", "tensor", "zeros",
           "zeros_like"]


def _dev(device):
    return device_of(get_default_device() if device is None else device)


def _check_dtype(d: _dtype.dtype, dev) -> None:
    if d.name not in dev.backend.dtypes:
        raise DTypeError(f"backend {dev.backend.name!r} ({dev.type}) does not support {d}; "
                         f"supported: {', '.join(sorted(dev.backend.dtypes))}")


def _host_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = np.asarray(data.detach())
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        arr = np.array([np.asarray(x.detach()) if isinstance(x, Tensor) else x for x in data])
    else:
        arr = np.asarray(data)
    typed = isinstance(data, (np.ndarray, np.generic, Tensor))  # these keep/cast like torch
    if not typed and arr.dtype.kind in "uO":  # Python ints beyond int64: numpy's uint64/object
        _check_python_ints(arr, dtype)
    if dtype is not None:
        if not typed and dtype.np.kind in "iu" and arr.dtype != dtype.np:
            _check_fits(arr, dtype.np, "tensor")
        return arr.astype(dtype.np, copy=False)
    if arr.dtype.kind == "f" and not typed or arr.dtype.kind == "O":
        if arr.dtype.kind == "O":
            raise DTypeError(f"tensor: cannot infer a dtype from {type(data).__name__} data; "
                             f"give numbers, nested lists of numbers or an array")
        return arr.astype(_dtype.get_default_dtype().np)
    if arr.dtype.kind in "iu" and not typed:
        return arr.astype(np.int64)
    try:
        _dtype.FROM_NP[arr.dtype]  # a miss may register ml_dtypes' bfloat16 (_dtype.py)
    except KeyError:
        raise DTypeError(f"tensor: unsupported dtype {arr.dtype}; corefw supports "
                         f"{', '.join(d.name for d in _dtype.ALL_DTYPES)}") from None
    return arr


def _check_python_ints(arr: np.ndarray, dtype) -> None:
    """Refuse Python ints that no corefw integer holds (PyTorch: "Overflow when unpacking
    long"), instead of letting numpy wrap them."""
    if arr.dtype.kind == "O":
        ints = [v for v in arr.reshape(-1).tolist() if type(v) is int]
        big = [v for v in ints if not -2**63 <= v < 2**63]
    else:
        big = [int(arr.max())] if arr.size and int(arr.max()) >= 2**63 else []
    if big and (dtype is None or not dtype.is_floating_point):
        raise CorefwOverflowError(f"tensor: the value {big[0]} does not fit int64, the widest "
                                  f"integer dtype; use dtype=corefw.float64 or smaller values")


def _check_fits(arr: np.ndarray, target: np.dtype, op: str) -> None:
    """Refuse values that an integer ``target`` dtype cannot hold (nan, inf, out of range),
    as PyTorch does for Python data, instead of wrapping them."""
    if not arr.size or arr.dtype.kind == "b":
        return
    info = np.iinfo(target)
    if arr.dtype.kind == "f":
        bad = arr[~np.isfinite(arr)]
        if bad.size:
            raise CorefwOverflowError(f"{op}: {bad[0]} cannot be converted to {target} (an "
                                      f"integer dtype has no nan or inf); use a float dtype")
    if arr.dtype.kind == "O":
        values = arr.reshape(-1).tolist()
        lo, hi = min(values), max(values)
    else:
        lo, hi = arr.min().item(), arr.max().item()
    for v in (lo, hi):
        if not info.min <= v <= info.max:
            raise CorefwOverflowError(
                f"{op}: the value {v} cannot be converted to {target} without overflow (range "
                f"{info.min} to {info.max}); use a wider dtype such as int64")


def _finish(arr: np.ndarray, dev, requires_grad: bool, copy: bool) -> Tensor:
    d = _dtype.FROM_NP[arr.dtype]
    _check_dtype(d, dev)
    if copy:
        arr = np.array(arr, copy=True, order="C")
    t = wrap(dev.backend.from_host(arr, dev.index), dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (numbers, nested lists, arrays, tensors)."""
    d = None if dtype is None else _dtype.to_dtype(dtype)
    if isinstance(data, Tensor) and device is None:
        device = data.device
    return _finish(_host_array(data, d), _dev(device), requires_grad, copy=True)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory where possible (a tensor is returned as is)."""
    if isinstance(data, Tensor):
        out = data if device is None else data.to(device)
        return out if dtype is None else out.to(_dtype.to_dtype(dtype))
    d = None if dtype is None else _dtype.to_dtype(dtype)
    return _finish(_host_array(data, d), _dev(device), False, copy=False)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor on the host device sharing memory with ``ndarray`` (no copy)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}")
    try:
        _dtype.FROM_NP[ndarray.dtype]  # a miss may register ml_dtypes' bfloat16 (_dtype.py)
    except KeyError:
        raise DTypeError(f"from_numpy: unsupported dtype {ndarray.dtype}") from None
    return _finish(ndarray, device_of("cpu"), False, copy=False)


def from_dlpack(ext) -> Tensor:
    """A tensor sharing memory with any object implementing ``__dlpack__``."""
    kind, index = ext.__dlpack_device__()
    if int(kind) in (1, 3):  # kDLCPU, kDLCUDAHost
        return from_numpy(np.from_dlpack(ext))
    from .dispatch import backends

    for backend in backends().values():
        imp = getattr(backend, "from_dlpack", None)
        if imp is not None and getattr(backend, "dlpack_device_type", None) == int(kind):
            dev = device_of(f"{backend.device_type}:{index}")
            return wrap(imp(ext), dev)
    raise DTypeError(f"from_dlpack: no registered backend accepts DLPack device type {kind}")


# Creation primitives: their operands are attributes (kernels ``full(shape, fill_value,
# dtype=)`` and ``arange(start, end, step, dtype=)``); not differentiable.
declare("full", rule=R.creation, differentiable=False, saves=(), primitive=True)
declare("arange", rule=R.arange, differentiable=False, saves=(), primitive=True)


def _size(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = tuple(int(s) for s in size)
    if any(s < 0 for s in out):
        raise ValueError(f"negative dimension in size {out}")
    if any(s >= 2**63 for s in out) or math.prod(max(s, 1) for s in out) >= 2**63:
        raise CorefwOverflowError(f"size {out} overflows: the number of elements must fit "
                                  f"int64 (below 2**63)")
    return out


def _float_or(dtype):
    return _dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred like PyTorch)."""
    if dtype is None:
        dtype = (_dtype.bool_ if isinstance(fill_value, bool) else _dtype.int64
                 if isinstance(fill_value, int) else _dtype.get_default_dtype())
    d = _dtype.to_dtype(dtype)
    dev = _dev(device)
    _check_dtype(d, dev)
    if d.np.kind in "iu" and isinstance(fill_value, int | float) and not isinstance(
            fill_value, bool):
        _check_fits(np.asarray(fill_value), d.np, "full")
    shape = _size((size,) if isinstance(size, int) else (size,))
    if math.prod(shape) * d.np.itemsize >= 2**63:
        raise CorefwOverflowError(f"full: a {d} tensor of size {shape} needs more than 2**63 "
                                  f"bytes, more than any memory holds")
    t = wrap(dev.table["full"](shape, fill_value, dtype=d.np), dev)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_size(size), 0, dtype=_float_or(dtype), device=device,
                requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_size(size), 1, dtype=_float_or(dtype), device=device,
                requires_grad=requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised in PyTorch; zero-filled here (cheap, and never leaks old memory)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(fn, input, dtype, device, requires_grad, *args):
    return fn(input.shape, *args, dtype=input.dtype if dtype is None else dtype,
              device=input.device if device is None else device, requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(lambda s, **k: zeros(s, **k), input, dtype, device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(lambda s, **k: ones(s, **k), input, dtype, device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps; int64 for integer arguments, else the default float."""
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = _dtype.int64 if ints else _dtype.get_default_dtype()
    d = _dtype.to_dtype(dtype)
    dev = _dev(device)
    _check_dtype(d, dev)
    t = wrap(dev.table["arange"](start, end, step, dtype=d.np), dev)
    return t.requires_grad_(True) if requires_grad else t


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    d = _float_or(dtype)
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    i = arange(steps, dtype=_dtype.float64, device=device)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    # the second half counts back from end, as numpy and PyTorch do, so end is exact
    half = steps // 2 if steps > 1 else 1  # one step: just ``start``, as PyTorch
    where = FN.where

    vals = where(i < half, start + i * step, end - (steps - 1 - i) * step)
    out = vals.to(d)
    return out.requires_grad_(True) if requires_grad else out


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    m = n if m is None else m
    rows = arange(n, device=device).reshape(n, 1)
    cols = arange(m, device=device).reshape(1, m)
    out = (rows == cols).to(_float_or(dtype))
    return out.requires_grad_(True) if requires_grad else out


def _isclose_int(x) -> bool:
    return isinstance(x, int) or (isinstance(x, float) and math.isfinite(x) and x.is_integer())


publish(globals(), __all__)
