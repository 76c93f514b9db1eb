"""PyTorch's Tensor metadata API and legacy tensor types: ``Tensor.type()``, ``stride``,
``is_contiguous``, ``nbytes``, ``itemsize``, ``dim_order``, and ``FloatTensor``,
``LongTensor`` ... (constructors whose ``isinstance`` checks the dtype, as PyTorch's do)."""

from __future__ import annotations

import builtins

from .. import _dtype
from .._registry import FN
from .._tensor import Tensor
from ..errors import DTypeError
from .registry import publish

__all__ = ["dim_order", "itemsize", "nbytes", "stride", "type"]  # is_contiguous: tensor_extras

#: legacy type name -> dtype name
TYPE_NAMES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
              "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32",
              "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8",
              "BoolTensor": "bool"}
_BY_DTYPE = {v: k for k, v in TYPE_NAMES.items()}


def _strides(t):
    """Strides in elements: the array's own where it has them, else contiguous ones."""
    data = t._data
    raw = getattr(data, "strides", None)
    item = data.dtype.itemsize
    if isinstance(raw, tuple) and len(raw) == len(data.shape) and item:
        return tuple(s // item for s in raw)
    out, acc = [], 1
    for s in reversed(tuple(data.shape)):
        out.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(out))


def stride(self, dim: int | None = None):
    """The step, in elements, between neighbours along each dim (or along ``dim``)."""
    s = _strides(self)
    return s if dim is None else s[dim]


def nbytes(self) -> int:
    """The size of the elements in bytes."""
    return self.numel() * self._data.dtype.itemsize


def itemsize(self) -> int:
    """The size of one element in bytes."""
    return self._data.dtype.itemsize


def dim_order(self) -> tuple[int, ...]:
    """The dims from outermost to innermost in memory (by decreasing stride)."""
    s = _strides(self)
    return tuple(sorted(range(len(s)), key=lambda i: -s[i]))


def type(self, dtype=None, non_blocking: bool = False, **kwargs):  # noqa: A001
    """With no argument, the legacy type name (``'torch.FloatTensor'``, with ``cuda.`` on a
    cuda device); with a dtype, a type name or a tensor type, the tensor cast to it."""
    if dtype is None:
        name = _BY_DTYPE[self.dtype.name]
        return f"torch.cuda.{name}" if self.device.type == "cuda" else f"torch.{name}"
    if isinstance(dtype, str):
        short = dtype.rsplit(".", 1)[-1]
        if short not in TYPE_NAMES:
            raise DTypeError(f"type: unknown tensor type {dtype!r}; expected one of "
                             f"{', '.join('torch.' + n for n in TYPE_NAMES)} or a dtype")
        target = _dtype.to_dtype(TYPE_NAMES[short])
        if ".cuda." in dtype and self.device.type != "cuda":
            return FN.cast(self, target).to("cuda")
        return FN.cast(self, target) if target != self.dtype else self
    if isinstance(dtype, _TensorType):
        dtype = dtype.dtype
    target = _dtype.to_dtype(dtype)
    return FN.cast(self, target) if target != self.dtype else self


class _TensorType(builtins.type):
    """Metaclass of the legacy tensor types: ``isinstance(t, corefw.FloatTensor)`` checks
    the dtype."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype


def _make_type(name: str, dtype_name: str):
    d = _dtype.to_dtype(dtype_name)

    def __new__(cls, *args, device=None):
        """``Type(*sizes)``: uninitialised of that shape; ``Type(data)``: from data."""
        if not args:
            return FN.empty(0, dtype=d, device=device)
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return FN.empty(*args, dtype=d, device=device)
        if len(args) == 1 and isinstance(args[0], tuple) and all(
                isinstance(a, int) for a in args[0]) and hasattr(args[0], "numel"):
            return FN.empty(*args[0], dtype=d, device=device)  # a corefw.Size
        if len(args) == 1:
            return FN.tensor(args[0], dtype=d, device=device)
        raise TypeError(f"{name}: expected sizes or one sequence of data, got {args!r}")

    return _TensorType(name, (), {"__new__": __new__, "dtype": d, "__doc__": (
        f"Legacy constructor of {dtype_name} tensors (PyTorch's ``torch.{name}``).")})


TENSOR_TYPES = {name: _make_type(name, d) for name, d in TYPE_NAMES.items()}

publish(globals(), __all__, methods="dim_order stride type",
        properties="nbytes itemsize")
