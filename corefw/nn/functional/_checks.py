"""Operand checks shared by the layer functions, with PyTorch's wording for dtype mismatches."""

from __future__ import annotations

from ...errors import DTypeError, ShapeError

_TORCH_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def torch_name(dtype) -> str:
    """PyTorch's scalar-type name of a dtype (``Double`` for float64), used in its messages."""
    return _TORCH_NAMES.get(dtype.name, dtype.name)


def check_linear(input, weight, bias) -> None:
    """Refuse what ``F.linear`` cannot compute without silently changing dtype or crashing: a
    0-d operand, or operands of different dtypes (a float32 layer given float64 input)."""
    if input.ndim == 0 or weight.ndim == 0:
        raise ShapeError(f"linear: both arguments to linear need to be at least 1D, but they "
                         f"are {input.ndim}D and {weight.ndim}D")
    if input.dtype is not weight.dtype:
        raise DTypeError(f"linear: mat1 and mat2 must have the same dtype, but got "
                         f"{torch_name(input.dtype)} and {torch_name(weight.dtype)}; convert "
                         f"the input (e.g. x.float()) or the layer (e.g. layer.double())")
    if bias is not None and bias.dtype is not weight.dtype:
        raise DTypeError(f"linear: bias must have the same dtype as the weight, but got "
                         f"{torch_name(bias.dtype)} and {torch_name(weight.dtype)}")
