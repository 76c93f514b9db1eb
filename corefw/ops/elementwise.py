"""Elementwise ops: primitives with their VJPs, and composites with decompositions.

Each VJP sits beside its op and is written with corefw ops (so it runs on every backend and can
be differentiated again); ``_unbroadcast`` sums a gradient back to a broadcast operand's shape.
"""

from __future__ import annotations

import math

from .. import _dtype
from .. import _rules as R
from .._call import apply, binary, unary
from .._registry import FN
from .._tensor import Tensor
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


# -- casting and copies ---------------------------------------------------------------------
def _cast_vjp(ctx, g):
    x = ctx.inputs[0]
    return (cast(g, x.dtype),) if x._data.dtype.kind in "fV" else (None,)


_CAST = declare("cast", rule=lambda x, dtype: R.spec(tuple(x.shape), dtype), vjp=_cast_vjp,
                saves=(), primitive=True)
_CLONE = declare("clone", rule=R.same, vjp=lambda ctx, g: (g,), saves=(), primitive=True)


def cast(x: Tensor, dtype) -> Tensor:
    """``x`` converted to ``dtype`` (a differentiable copy; the same tensor if unchanged)."""
    d = _dtype.to_dtype(dtype)
    if x._data.dtype == d.np:
        return x
    backend = x._dev.backend
    if d.name not in backend.dtypes:
        from ..errors import DTypeError

        raise DTypeError(f"cast: backend {backend.name!r} ({x._dev.type}) does not support "
                         f"{d}; supported: {', '.join(sorted(backend.dtypes))}")
    return apply(_CAST, (x,), {"dtype": d.np})


def clone(x: Tensor) -> Tensor:
    """A copy with its own storage (differentiable)."""
    return unary(_CLONE, x)


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
_CMP = {name: declare(name, rule=R.compare, differentiable=False, saves=(), primitive=True)
        for name in ("eq", "ne", "lt", "le", "gt", "ge")}
_BIT = {name: declare(name, rule=R.integral if name == "bitwise_not" else R.bitwise,
                      differentiable=False, saves=(), primitive=True)
        for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not")}


def add(input, other, *, alpha=1):
    """``input + alpha * other`` with broadcasting."""
    return binary(_ADD, input, other if alpha == 1 else other * alpha)


def sub(input, other, *, alpha=1):
    """``input - alpha * other`` with broadcasting."""
    return binary(_SUB, input, other if alpha == 1 else other * alpha)


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


def _dtype_of(x) -> _dtype.dtype:
    if isinstance(x, Tensor):
        return _dtype.FROM_NP[x._data.dtype]
    return _dtype.default_for_category(_dtype.scalar_category(x))


def result_type(*operands) -> _dtype.dtype:
    """The dtype an op on ``operands`` (tensors and Python scalars) computes in, by PyTorch's
    rule: dimensioned tensors outrank 0-d tensors, which outrank Python scalars, and a
    lower-ranked group only counts when its category (bool < int < float) is higher."""
    groups: dict[int, _dtype.dtype] = {}
    for x in operands:
        rank = (2 if x._data.ndim else 1) if isinstance(x, Tensor) else 0
        d = _dtype_of(x)
        groups[rank] = d if rank not in groups else _dtype.promote_types(groups[rank], d)
    out = None
    for rank in (2, 1, 0):
        d = groups.get(rank)
        if d is not None and (out is None or d.category > out.category):
            out = d
    if out is None:
        raise TypeError("result_type: expected at least one operand")
    return out


def _promoted(a, b):
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    if ta is not None and tb is not None:
        return _dtype.promote_types(ta.dtype, tb.dtype)
    return (ta or tb).dtype


def _is_float(x) -> bool:
    return x._data.dtype.kind in "fV" if isinstance(x, Tensor) else isinstance(x, float)


def _to_float(x):
    if isinstance(x, Tensor) and x._data.dtype.kind not in "fV":
        return cast(x, _dtype.get_default_dtype())
    return x


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


# -- unary primitives -----------------------------------------------------------------------
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


publish(globals(), __all__, methods="""abs add sub mul div pow maximum minimum floor_divide
remainder fmod eq ne lt le gt ge exp log log1p log2 expm1 sqrt rsqrt sin cos tan tanh sigmoid
relu sign floor ceil round erf reciprocal clamp where square lerp isnan isinf isfinite
bitwise_not bitwise_and bitwise_or bitwise_xor logical_not logical_and logical_or neg""",
        aliases={"negative": "neg", "clip": "clamp", "true_divide": "div"})
