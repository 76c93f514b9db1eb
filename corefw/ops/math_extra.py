"""PyTorch's further pointwise math: inverse trigonometric and hyperbolic functions (composites
with a decomposition into the primitives, their own VJP, and NumPy kernels in corefw-cpu),
and closeness tests and small helpers written with existing ops (``isclose``, ``hypot``,
``logaddexp``, ``nan_to_num`` ...), which differentiate through the ops they use."""

from __future__ import annotations

import math

from .. import _dtype
from .. import _rules as R
from .._call import binary, unary
from .._registry import FN
from .._tensor import Tensor
from ..errors import DTypeError
from .registry import declare, publish

__all__ = [
    "acos", "acosh", "allclose", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "asin", "asinh", "atan", "atan2", "atanh", "clamp_max", "clamp_min", "copysign",
    "cosh", "deg2rad", "equal", "erfc", "exp2", "fix", "float_power", "fmax", "fmin", "frac",
    "heaviside", "hypot", "isclose", "isneginf", "isposinf", "isreal", "log10", "logaddexp",
    "logaddexp2", "logical_xor", "logit", "nan_to_num", "positive", "rad2deg", "sgn",
    "signbit", "sinc", "sinh", "trunc", "xlogy",
]

_PI_2 = math.pi / 2


def _float(x):
    """Integer and bool tensors as the default float dtype (PyTorch's unary float ops)."""
    return FN.cast(x, _dtype.get_default_dtype()) if x._data.dtype.kind not in "fV" else x


# -- decompositions ---------------------------------------------------------------------------
def _atan_decomp(x):
    """atan by Newton's method on ``sin(y) - x cos(y) = 0`` from a rational first guess
    (error < 5e-3 rad, so four quadratic steps reach float64 precision); ``|x| > 1`` uses
    ``atan(x) = sign(x) pi/2 - atan(1/x)``."""
    big = FN.abs(x) > 1
    safe = FN.where(x == 0, 1.0, x)
    z = FN.where(big, 1 / safe, x)
    y = z / (1 + 0.28 * z * z)
    for _ in range(4):
        s, c = FN.sin(y), FN.cos(y)
        y = y - (s - z * c) / (c + z * s)
    return FN.where(big, FN.sign(x) * _PI_2 - y, y)


def _atan2_decomp(y, x):
    """The angle of the point (x, y): atan(y / x) moved into the right quadrant."""
    if not isinstance(x, Tensor):
        x = FN.full_like(y, x)
    if not isinstance(y, Tensor):
        y = FN.full_like(x, y)
    safe = FN.where(x == 0, 1.0, x)
    base = _atan_decomp(y / safe)
    zero = FN.zeros_like(base)  # Python constants in where() would round to float32
    neg = y < 0  # atan2(+-0, x < 0) = +-pi; y = 0 counts as positive
    left = FN.where(neg, base - math.pi, base + math.pi)
    axis = FN.where(neg, zero - _PI_2, FN.where(y == 0, zero, zero + _PI_2))
    return FN.where(x > 0, base, FN.where(x < 0, left, axis))


def _asin_decomp(x):
    return _atan2_decomp(x, FN.sqrt(1 - x * x))


def _acos_decomp(x):
    return _atan2_decomp(FN.sqrt(1 - x * x), x)


def _sinh_decomp(x):
    return (FN.exp(x) - FN.exp(-x)) / 2


def _cosh_decomp(x):
    return (FN.exp(x) + FN.exp(-x)) / 2


def _asinh_decomp(x):
    a = FN.abs(x)
    return FN.sign(x) * FN.log(a + FN.sqrt(a * a + 1))


def _acosh_decomp(x):
    return FN.log(x + FN.sqrt(x * x - 1))


def _atanh_decomp(x):
    return 0.5 * FN.log((1 + x) / (1 - x))


def _unary(name, decomp, vjp, saves=(0,)):
    return declare(name, rule=R.floating, decomposition=decomp, vjp=vjp, saves=saves)


_ASIN = _unary("asin", _asin_decomp, lambda ctx, g: (
    g / FN.sqrt(1 - ctx.inputs[0] * ctx.inputs[0]),))
_ACOS = _unary("acos", _acos_decomp, lambda ctx, g: (
    -g / FN.sqrt(1 - ctx.inputs[0] * ctx.inputs[0]),))
_ATAN = _unary("atan", _atan_decomp, lambda ctx, g: (
    g / (1 + ctx.inputs[0] * ctx.inputs[0]),))
_SINH = _unary("sinh", _sinh_decomp, lambda ctx, g: (g * cosh(ctx.inputs[0]),))
_COSH = _unary("cosh", _cosh_decomp, lambda ctx, g: (g * sinh(ctx.inputs[0]),))
_ASINH = _unary("asinh", _asinh_decomp, lambda ctx, g: (
    g / FN.sqrt(ctx.inputs[0] * ctx.inputs[0] + 1),))
_ACOSH = _unary("acosh", _acosh_decomp, lambda ctx, g: (
    g / FN.sqrt(ctx.inputs[0] * ctx.inputs[0] - 1),))
_ATANH = _unary("atanh", _atanh_decomp, lambda ctx, g: (
    g / (1 - ctx.inputs[0] * ctx.inputs[0]),))


def _atan2_vjp(ctx, g):
    y, x = ctx.inputs
    r2 = x * x + y * y
    sum_to = FN.sum_to
    gy, gx = g * x / r2, -g * y / r2
    return (sum_to(gy, tuple(y.shape)) if isinstance(y, Tensor) else None,
            sum_to(gx, tuple(x.shape)) if isinstance(x, Tensor) else None)


_ATAN2 = declare("atan2", rule=R.elementwise, decomposition=_atan2_decomp, vjp=_atan2_vjp,
                 saves=(0, 1))


def asin(input):
    """Inverse sine (radians); NaN outside [-1, 1]."""
    return unary(_ASIN, _float(input))


def acos(input):
    """Inverse cosine (radians); NaN outside [-1, 1]."""
    return unary(_ACOS, _float(input))


def atan(input):
    """Inverse tangent (radians)."""
    return unary(_ATAN, _float(input))


def atan2(input, other):
    """The angle of the point ``(other, input)`` in (-pi, pi], elementwise (``atan(input /
    other)`` in the right quadrant)."""
    if isinstance(input, Tensor):
        input = _float(input)
    if isinstance(other, Tensor):
        other = _float(other)
    return binary(_ATAN2, input, other)


def sinh(input):
    return unary(_SINH, _float(input))


def cosh(input):
    return unary(_COSH, _float(input))


def asinh(input):
    return unary(_ASINH, _float(input))


def acosh(input):
    """Inverse hyperbolic cosine; NaN below 1."""
    return unary(_ACOSH, _float(input))


def atanh(input):
    """Inverse hyperbolic tangent; NaN outside [-1, 1], +-inf at +-1."""
    return unary(_ATANH, _float(input))


arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# -- composites of existing ops ---------------------------------------------------------------
def trunc(input):
    """Round toward zero (integer tensors are returned as they are)."""
    if input._data.dtype.kind not in "fV":
        return input.clone()
    return FN.where(input < 0, FN.ceil(input), FN.floor(input))


fix = trunc


def frac(input):
    """The fractional part, ``input - trunc(input)`` (with the sign of ``input``)."""
    return input - trunc(input)


def log10(input):
    return FN.log(_float(input)) / math.log(10.0)


def exp2(input):
    return FN.exp(_float(input) * math.log(2.0))


def deg2rad(input):
    return _float(input) * (math.pi / 180.0)


def rad2deg(input):
    return _float(input) * (180.0 / math.pi)


def hypot(input, other):
    """``sqrt(input**2 + other**2)`` without overflow for large magnitudes."""
    a, b = FN.abs(input), FN.abs(other)
    big = FN.maximum(a, b)
    safe = FN.where(big == 0, 1.0, big)
    small = FN.minimum(a, b) / safe
    return big * FN.sqrt(1 + small * small)


def logaddexp(input, other):
    """``log(exp(input) + exp(other))`` computed stably."""
    m = FN.maximum(input, other)
    m0 = FN.where(FN.isinf(m), 0.0, m).detach()
    return FN.log(FN.exp(input - m0) + FN.exp(other - m0)) + m0


def logaddexp2(input, other):
    """``log2(2**input + 2**other)`` computed stably."""
    ln2 = math.log(2.0)
    return logaddexp(input * ln2, other * ln2) / ln2


def logit(input, eps: float | None = None):
    """``log(p / (1 - p))``; with ``eps``, ``p`` is first clamped to ``[eps, 1 - eps]``."""
    x = _float(input)
    if eps is not None:
        x = FN.clamp(x, eps, 1 - eps)
    return FN.log(x / (1 - x))


def xlogy(input, other):
    """``input * log(other)``, 0 where ``input`` is 0 (and ``other`` is not NaN)."""
    x = input if isinstance(input, Tensor) else FN.full_like(other, input, dtype=_f(other))
    y = other if isinstance(other, Tensor) else FN.full_like(x, other, dtype=_f(x))
    x, y = _float(x), _float(y)
    out = x * FN.log(FN.where(x == 0, 1.0, y))
    return FN.where(FN.isnan(y), y * 1.0, out)


def _f(t):
    return t.dtype if t.dtype.is_floating_point else _dtype.get_default_dtype()


def clamp_min(input, min):  # noqa: A002
    return FN.clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    return FN.clamp(input, max=max)


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None):
    """NaN -> ``nan``, +inf -> ``posinf`` (the dtype's largest), -inf -> ``neginf``."""
    if input._data.dtype.kind not in "fV":
        return input.clone()
    info = _dtype.finfo(input.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = FN.where(FN.isnan(input), nan, input)
    out = FN.where(out == float("inf"), posinf, out)
    return FN.where(out == -float("inf"), neginf, out)


def heaviside(input, values):
    """0 where ``input < 0``, 1 where ``input > 0``, ``values`` where ``input == 0``."""
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise DTypeError(f"heaviside: input ({input.dtype}) and values ({values.dtype}) must "
                         f"have the same dtype")
    zero = FN.zeros_like(input)
    return FN.where(input == 0, values, FN.where(input > 0, zero + 1, zero))


def sgn(input):
    """The sign, for real tensors the same as :func:`corefw.sign`."""
    return FN.sign(input)


def signbit(input):
    """Whether the sign bit is set (True for -0.0 and negative NaN-free values)."""
    if input._data.dtype.kind not in "fV":
        return input < 0
    # -0.0 has its sign bit set: 1 / -0.0 is -inf
    return (input < 0) | ((input == 0) & (1 / FN.where(input == 0, input, 1.0) < 0))


def copysign(input, other):
    """``|input|`` with the sign (bit) of ``other``."""
    x = _float(input)
    neg = signbit(other) if isinstance(other, Tensor) else math.copysign(1.0, other) < 0
    return FN.where(neg, -FN.abs(x), FN.abs(x))


def fmax(input, other):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return FN.where(FN.isnan(input), other, FN.where(FN.isnan(other), input,
                                                       FN.maximum(input, other)))


def fmin(input, other):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return FN.where(FN.isnan(input), other, FN.where(FN.isnan(other), input,
                                                       FN.minimum(input, other)))


def erfc(input):
    """The complementary error function, ``1 - erf(x)``."""
    return 1 - FN.erf(_float(input))


def logical_xor(input, other):
    """Whether exactly one of the two is non-zero, elementwise."""
    return (input != 0) ^ (other != 0)


def float_power(input, exponent):
    """``input ** exponent`` in float64."""
    x = FN.cast(input, _dtype.float64) if isinstance(input, Tensor) else float(input)
    e = FN.cast(exponent, _dtype.float64) if isinstance(exponent, Tensor) else exponent
    return x ** e


def positive(input):
    return input


def sinc(input):
    """``sin(pi x) / (pi x)``, 1 at 0."""
    x = _float(input) * math.pi
    safe = FN.where(x == 0, 1.0, x)
    return FN.where(x == 0, 1.0, FN.sin(safe) / safe)


def isposinf(input):
    return input == float("inf") if input._data.dtype.kind in "fV" else input != input


def isneginf(input):
    return input == -float("inf") if input._data.dtype.kind in "fV" else input != input


def isreal(input):
    """Every real tensor is real: all True."""
    return input == input if input._data.dtype.kind not in "fV" else FN.ones_like(
        input, dtype=_dtype.bool_)


# -- closeness --------------------------------------------------------------------------------
def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (infinities are close only to
    themselves; NaNs to each other with ``equal_nan``), PyTorch's definition."""
    if not isinstance(other, Tensor):
        other = FN.full_like(input, other)
    if input.dtype != other.dtype and not (input._data.dtype.kind == other._data.dtype.kind):
        raise DTypeError(f"isclose: input ({input.dtype}) and other ({other.dtype}) must have "
                         f"the same dtype; cast one of them first")
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    same = input == other
    if input._data.dtype.kind not in "fV" and other._data.dtype.kind not in "fV":
        if input._data.dtype.kind == "b":
            return same
        a, b = FN.cast(input, _dtype.float64), FN.cast(other, _dtype.float64)
    else:
        a, b = input, other
    diff = FN.abs(a - b)
    close = same | (FN.isfinite(diff) & (diff <= atol + rtol * FN.abs(b)))
    if equal_nan:
        close = close | (FN.isnan(a) & FN.isnan(b))
    return close


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether :func:`isclose` holds everywhere (shapes must broadcast)."""
    return bool(FN.all(isclose(input, other, rtol, atol, equal_nan)))


def equal(input, other) -> bool:
    """Whether both tensors have the same shape and the same elements."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(FN.all(input == other))


publish(globals(), __all__, methods="""acos acosh arccos arccosh arcsin arcsinh arctan arctan2
arctanh asin asinh atan atan2 clamp_max clamp_min copysign cosh deg2rad equal erfc exp2 fix
float_power fmax fmin frac heaviside hypot isclose isneginf isposinf isreal allclose log10
logaddexp logaddexp2 logical_xor logit nan_to_num positive rad2deg sgn signbit sinc sinh trunc
xlogy""")
