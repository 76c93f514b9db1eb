"""Unary elementwise primitives with their VJPs: ``neg exp log sqrt tanh sin cos abs erf`` and
the piecewise-constant ``sign floor ceil round`` (gradient zero). Re-exported by
:mod:`corefw.ops.elementwise`."""

from __future__ import annotations

import math

from .. import _rules as R
from .._call import unary
from .casting import _to_float, clone
from .registry import declare, publish

__all__ = ["abs", "ceil", "cos", "erf", "exp", "floor", "log", "neg", "round", "sign", "sin",
           "sqrt", "tanh"]


def _unary_op(name, vjp, saves=(0,), rule=R.floating):
    return declare(name, rule=rule, vjp=vjp, saves=saves, primitive=True)


_NEG = _unary_op("neg", lambda ctx, g: (-g,), saves=(), rule=R.same)
_EXP = _unary_op("exp", lambda ctx, g: (g * ctx.output,), saves=("output",))
_LOG = _unary_op("log", lambda ctx, g: (g / ctx.inputs[0],))
_SQRT = _unary_op("sqrt", lambda ctx, g: (g / (2 * ctx.output),), saves=("output",))
_TANH = _unary_op("tanh", lambda ctx, g: (g * (1 - ctx.output * ctx.output),),
                  saves=("output",))
_SIN = _unary_op("sin", lambda ctx, g: (g * cos(ctx.inputs[0]),))
_COS = _unary_op("cos", lambda ctx, g: (-g * sin(ctx.inputs[0]),))
_ABS = _unary_op("abs", lambda ctx, g: (g * sign(ctx.inputs[0]),), rule=R.same)
_ERF = _unary_op("erf", lambda ctx, g: (
    g * (2 / math.sqrt(math.pi)) * exp(-(ctx.inputs[0] * ctx.inputs[0])),))
_STEP = {name: _unary_op(name, lambda ctx, g: (g * 0,), saves=(), rule=R.same)
         for name in ("sign", "floor", "ceil", "round")}


def neg(input):
    return unary(_NEG, input)


negative = neg


def exp(input):
    return unary(_EXP, _to_float(input))


def log(input):
    return unary(_LOG, _to_float(input))


def sqrt(input):
    return unary(_SQRT, _to_float(input))


def tanh(input):
    return unary(_TANH, _to_float(input))


def sin(input):
    return unary(_SIN, _to_float(input))


def cos(input):
    return unary(_COS, _to_float(input))


def abs(input):  # noqa: A001 - torch.abs
    return unary(_ABS, input)


absolute = abs


def erf(input):
    return unary(_ERF, _to_float(input))


def sign(input):
    if input._data.dtype.kind == "b":  # the sign of a bool is itself, as in PyTorch
        return clone(input)
    return unary(_STEP["sign"], input)


def floor(input):
    return unary(_STEP["floor"], input) if input._data.dtype.kind in "fV" else input


def ceil(input):
    return unary(_STEP["ceil"], input) if input._data.dtype.kind in "fV" else input


def round(input, *, decimals: int = 0):  # noqa: A001 - torch.round
    """Round half to even, as PyTorch and NumPy."""
    if decimals:
        scale = 10.0 ** decimals
        return unary(_STEP["round"], input * scale) / scale
    return unary(_STEP["round"], input) if input._data.dtype.kind in "fV" else input


publish(globals(), __all__, methods="abs neg exp log sqrt sin cos tanh sign floor ceil round erf",
        aliases={"negative": "neg"})
