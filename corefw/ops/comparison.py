"""Comparisons (``eq ne lt le gt ge``), bitwise ops on bool and integer tensors and the logical
ops built on them; none is differentiable. Re-exported by :mod:`corefw.ops.elementwise`."""

from __future__ import annotations

from .. import _dtype
from .. import _rules as R
from .._call import binary, unary
from .._tensor import Tensor
from .registry import declare, publish

__all__ = ["bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "eq", "ge", "gt", "le",
           "logical_and", "logical_not", "logical_or", "lt", "ne"]

_CMP = {name: declare(name, rule=R.compare, differentiable=False, saves=(), primitive=True)
        for name in ("eq", "ne", "lt", "le", "gt", "ge")}
_BIT = {name: declare(name, rule=R.integral if name == "bitwise_not" else R.bitwise,
                      differentiable=False, saves=(), primitive=True)
        for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not")}


def eq(input, other):
    return binary(_CMP["eq"], input, other)


def ne(input, other):
    return binary(_CMP["ne"], input, other)


def lt(input, other):
    return binary(_CMP["lt"], input, other)


def le(input, other):
    return binary(_CMP["le"], input, other)


def gt(input, other):
    return binary(_CMP["gt"], input, other)


def ge(input, other):
    return binary(_CMP["ge"], input, other)


def _check_bool_or_int(name, *xs):
    for x in xs:
        if isinstance(x, Tensor) and x._data.dtype.kind in "fV":
            from ..errors import DTypeError

            raise DTypeError(f"{name}: expected bool or integer tensors, got {x.dtype}")


def bitwise_and(input, other):
    _check_bool_or_int("bitwise_and (&)", input, other)
    return binary(_BIT["bitwise_and"], input, other)


def bitwise_or(input, other):
    _check_bool_or_int("bitwise_or (|)", input, other)
    return binary(_BIT["bitwise_or"], input, other)


def bitwise_xor(input, other):
    _check_bool_or_int("bitwise_xor (^)", input, other)
    return binary(_BIT["bitwise_xor"], input, other)


def bitwise_not(input):
    """``~input``: logical not for bool, bitwise not for integers."""
    _check_bool_or_int("bitwise_not (~)", input)
    return unary(_BIT["bitwise_not"], input)


def logical_not(input):
    return bitwise_not(input != 0) if input.dtype is not _dtype.bool_ else bitwise_not(input)


def logical_and(input, other):
    return bitwise_and(input != 0, other != 0)


def logical_or(input, other):
    return bitwise_or(input != 0, other != 0)


publish(globals(), __all__, methods="""eq ne lt le gt ge bitwise_not bitwise_and bitwise_or
bitwise_xor logical_not logical_and logical_or""")
