"""Elementwise ops: the binary arithmetic primitives (``add sub mul div pow maximum minimum
floor_divide remainder``) and ``where``, with their VJPs; and, re-exported so that this module
stays the one place to import elementwise ops from, the casts (:mod:`.casting`), the unary
primitives (:mod:`.unary`), the comparisons and bitwise ops (:mod:`.comparison`) and the
composites (:mod:`.pointwise`).

Each VJP sits beside its op and is written with corefw ops (so it runs on every backend and can
be differentiated again); ``_unbroadcast`` sums a gradient back to a broadcast operand's shape.
"""

from __future__ import annotations

import math

from .. import _dtype
from .. import _rules as R
from .._call import apply, binary
from .._registry import FN
from .._tensor import Tensor
from .casting import _is_float, _promoted, _to_float, cast, clone, result_type  # noqa: F401
from .comparison import (  # re-exported
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    eq,
    ge,
    gt,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    ne,
)
from .pointwise import (  # the composites, re-exported
    clamp,
    elu,
    expm1,
    gelu,
    isfinite,
    isinf,
    isnan,
    leaky_relu,
    lerp,
    log1p,
    log2,
    reciprocal,
    relu,
    rsqrt,
    sigmoid,
    silu,
    softplus,
    square,
    tan,
)
from .registry import cross, declare, publish
from .unary import (  # re-exported
    abs,
    absolute,  # noqa: F401 - the NumPy names, as before
    ceil,
    cos,
    erf,
    exp,
    floor,
    log,
    neg,
    negative,  # noqa: F401
    round,
    sign,
    sin,
    sqrt,
    tanh,
)

__all__ = [
    "abs", "add", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "cast", "ceil",
    "clamp", "clone", "cos", "div", "elu", "eq", "erf", "exp", "expm1", "floor",
    "floor_divide", "fmod", "ge", "gelu", "gt", "isfinite", "isinf", "isnan", "le", "leaky_relu",
    "lerp", "log", "log1p", "log2", "logical_and", "logical_not", "logical_or", "lt", "maximum",
    "minimum", "mul", "ne", "neg", "pow", "reciprocal", "relu", "remainder", "result_type",
    "round", "rsqrt", "sigmoid", "sign", "silu", "sin", "softplus", "sqrt", "square", "sub",
    "tan", "tanh", "where",
]


def _unbroadcast(g: Tensor, x) -> Tensor | None:
    """Reduce ``g`` to ``x``'s shape (summing broadcast dims) and dtype; None for scalars."""
    if not isinstance(x, Tensor):
        return None
    shape = x._data.shape
    if g._data.shape != shape:
        g = FN.sum_to(g, tuple(shape))
    if g._data.dtype != x._data.dtype:
        g = cast(g, _dtype.FROM_NP[x._data.dtype])
    return g


# -- binary arithmetic ----------------------------------------------------------------------
def _add_vjp(ctx, g):
    a, b = ctx.inputs
    return _unbroadcast(g, a), _unbroadcast(g, b)


def _sub_vjp(ctx, g):
    a, b = ctx.inputs
    return _unbroadcast(g, a), (_unbroadcast(-g, b) if isinstance(b, Tensor) else None)


def _mul_vjp(ctx, g):
    a, b = ctx.inputs
    return (_unbroadcast(g * b, a) if isinstance(a, Tensor) and a._req else None,
            _unbroadcast(g * a, b) if isinstance(b, Tensor) and b._req else None)


def _div_vjp(ctx, g):
    a, b = ctx.inputs
    ga = _unbroadcast(g / b, a) if isinstance(a, Tensor) and a._req else None
    gb = _unbroadcast(-g * a / (b * b), b) if isinstance(b, Tensor) and b._req else None
    return ga, gb


def _pow_vjp(ctx, g):
    a, b = ctx.inputs
    ga = gb = None
    if isinstance(a, Tensor) and a._req:
        if isinstance(b, Tensor):
            ga = g * b * pow(a, b - 1)
        else:
            ga = g * b * pow(a, b - 1) if b != 0 else g * 0
        ga = _unbroadcast(ga, a)
    if isinstance(b, Tensor) and b._req:
        out = ctx.output
        if isinstance(a, Tensor):  # d/db a**b = a**b log(a); 0 where a == 0 and b >= 0
            zero = a == 0
            gb = where(zero & (b >= 0), 0.0, g * out * log(where(zero, 1.0, a)))
        else:
            logs = math.log(a) if a > 0 else 0.0 if a == 0 else float("nan")
            gb = g * out * logs
        gb = _unbroadcast(gb, b)
    return ga, gb


def _minmax_vjp(pick_first):
    def vjp(ctx, g):
        a, b = ctx.inputs
        first = pick_first(a, b)  # bool mask: a wins; ties split the gradient evenly
        tie = (a == b) if isinstance(a, Tensor) and isinstance(b, Tensor) else None
        half = g * 0.5
        ga = where(first, g, 0.0) if tie is None else where(tie, half, where(first, g, 0.0))
        gb = where(first, 0.0, g) if tie is None else where(tie, half, where(first, 0.0, g))
        return _unbroadcast(ga, a), _unbroadcast(gb, b)
    return vjp


def _binary(name, vjp, saves=(0, 1), rule=R.elementwise):
    return declare(name, rule=rule, vjp=vjp, saves=saves, primitive=True)


def _div_saves(operands):
    """b always, a only when b needs a gradient (a / b)"""
    return getattr(operands[1], "_req", False), True


_ADD = _binary("add", _add_vjp, saves=())
_SUB = _binary("sub", _sub_vjp, saves=())
_MUL = _binary("mul", _mul_vjp, saves=cross)
_DIV = _binary("div", _div_vjp, saves=_div_saves)
_POW = _binary("pow", _pow_vjp, saves=(0, 1, "output"))
_MAX = _binary("maximum", _minmax_vjp(lambda a, b: a > b))
_MIN = _binary("minimum", _minmax_vjp(lambda a, b: a < b))


def _zero_vjp(ctx, g):
    return tuple(_unbroadcast(g * 0, x) for x in ctx.inputs)


_FLOORDIV = _binary("floor_divide", _zero_vjp, saves=())
_REM = _binary("remainder", lambda ctx, g: (_unbroadcast(g, ctx.inputs[0]), (
    _unbroadcast(-g * floor_divide(ctx.inputs[0], ctx.inputs[1]), ctx.inputs[1])
    if isinstance(ctx.inputs[1], Tensor) else None)))


_ONE = 1  # the default ``alpha`` object (small ints are shared): ``is`` it, the common case


def is_one(x) -> bool:
    """``x == 1`` for a plain Python number (the ``alpha``/``value`` shortcut). False for any
    other object, such as a scalar lifted by ``corefw.compile`` (an optimizer's lr read from a
    tensor), whose comparison would be a guard: those always take the multiplication."""
    return x is _ONE or (x.__class__ is int or x.__class__ is float) and x == 1


def add(input, other, *, alpha=1):
    """``input + alpha * other`` with broadcasting."""
    if alpha is _ONE:  # the default, inline: this is the hot path of ``a + b``
        return binary(_ADD, input, other)
    return binary(_ADD, input, other if is_one(alpha) else other * alpha)


def sub(input, other, *, alpha=1):
    """``input - alpha * other`` with broadcasting."""
    if alpha is _ONE:
        return binary(_SUB, input, other)
    return binary(_SUB, input, other if is_one(alpha) else other * alpha)


def mul(input, other):
    """``input * other`` with broadcasting."""
    return binary(_MUL, input, other)


def div(input, other, *, rounding_mode: str | None = None):
    """True division (integers give the default float dtype); ``rounding_mode`` "floor" or
    "trunc" rounds the quotient as in PyTorch."""
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        if not (_is_float(input) or _is_float(other)):  # integers only
            _check_int_divisor("div(rounding_mode='trunc')", other)
        q = div(input, other)
        q = where(q < 0, ceil(q), floor(q))
        ints = all(x._data.dtype.kind in "iub" if isinstance(x, Tensor) else
                   not isinstance(x, float) for x in (input, other))
        return cast(q, _promoted(input, other)) if ints else q
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', not "
                         f"{rounding_mode!r}")
    if not (_is_float(input) or _is_float(other)):  # bool/int only: the default float
        input, other = _to_float(input), _to_float(other)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        return input / other
    return binary(_DIV, input, other)


true_divide = divide = div



def pow(input, exponent):  # noqa: A001 - torch.pow
    """``input ** exponent`` with broadcasting."""
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        if isinstance(exponent, int) and exponent < 0 and input._data.dtype.kind in "iub":
            from ..errors import DTypeError

            raise DTypeError(f"pow: integers to negative integer powers are not allowed "
                             f"({input.dtype} tensor ** {exponent}); use a float tensor or "
                             f"a float exponent")
        if exponent == 1:
            return clone(input)
        if exponent == 2 and input._data.dtype.kind in "fV":
            return binary(_MUL, input, input)
    return binary(_POW, input, exponent)


def maximum(input, other):
    """Elementwise maximum (gradient split evenly on ties)."""
    return binary(_MAX, input, other)


def minimum(input, other):
    """Elementwise minimum (gradient split evenly on ties)."""
    return binary(_MIN, input, other)


def floor_divide(input, other):
    """``floor(input / other)``, as Python's ``//``; integer division by zero raises
    ``ZeroDivisionError`` (as PyTorch on the CPU)."""
    if not (_is_float(input) or _is_float(other)):  # integers only: floats give inf/nan
        _check_int_divisor("floor_divide", other)
    return binary(_FLOORDIV, input, other)


def remainder(input, other):
    """Python's ``%``: the result has the sign of ``other``; an integer remainder by zero
    raises ``ZeroDivisionError`` (as PyTorch on the CPU)."""
    if not (_is_float(input) or _is_float(other)):  # integers only: floats give nan
        _check_int_divisor("remainder", other)
    return binary(_REM, input, other)


def fmod(input, other):
    """C's ``fmod``: ``input - trunc(input / other) * other``, with the sign of ``input``
    (PyTorch's meaning; :func:`remainder` takes the sign of ``other``)."""
    r = remainder(input, other)
    # where remainder's sign disagrees with the dividend's, step back by one divisor
    fix = (r != 0) & ((r < 0) != (input < 0))
    return where(fix, r - other, r)


def _check_int_divisor(op: str, other) -> None:
    """Raise where an integer divisor holds a zero (numpy would silently give 0)."""
    if isinstance(other, Tensor):  # meta tensors have no values to check
        zero = other._data.size and not other.is_meta and bool(eq(other, 0).any().item())
    else:
        zero = other == 0
    if zero:
        from ..errors import CorefwZeroDivisionError

        what = "holds a zero" if isinstance(other, Tensor) else "is zero"
        raise CorefwZeroDivisionError(
            f"{op}: integer division by zero (the divisor {what}); divide floats instead "
            f"(giving inf or nan), or mask the zeros first")


# -- where ----------------------------------------------------------------------------------
def _where_vjp(ctx, g):
    cond, a, b = ctx.inputs
    return (None, _unbroadcast(where(cond, g, 0.0), a) if isinstance(a, Tensor) else None,
            _unbroadcast(where(cond, 0.0, g), b) if isinstance(b, Tensor) else None)


_WHERE = declare("where", rule=R.where, vjp=_where_vjp, saves=(0,), primitive=True)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (scalars allowed); with one argument,
    the indices of non-zero elements (``nonzero(as_tuple=True)``)."""
    if input is None and other is None:
        return FN.nonzero(condition, as_tuple=True)
    common = result_type(input, other)
    if isinstance(input, Tensor):
        input = cast(input, common)
    if isinstance(other, Tensor):
        other = cast(other, common)
    elif not isinstance(input, Tensor):  # two scalars: the kernel alone would give float64
        from .._creation import full

        input = full((), input, dtype=common, device=condition.device)
    if condition._data.dtype.kind != "b":
        condition = condition != 0
    return apply(_WHERE, (condition, input, other))


publish(globals(), __all__, methods="""add sub mul div pow maximum minimum floor_divide remainder
fmod where log1p log2 expm1 rsqrt tan sigmoid relu reciprocal clamp square lerp isnan isinf
isfinite""", aliases={"clip": "clamp", "true_divide": "div"})
