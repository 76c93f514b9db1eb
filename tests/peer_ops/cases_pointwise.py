"""Peer op cases: unary and binary pointwise math, comparisons and broadcasting, written as
PyTorch code (``import corefw as torch``)."""

from __future__ import annotations

import math

import numpy as np

import corefw as torch

from .harness import case

_erf = np.vectorize(math.erf)
_lgamma = np.vectorize(math.lgamma)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- unary ------------------------------------------------------------------------------------
S = [(45, 65)]
case("abs", S, lambda x: torch.abs(x), np.abs)
case("abs method", S, lambda x: x.abs(), np.abs)
case("neg", S, lambda x: -x, np.negative)
case("neg function", S, lambda x: torch.neg(x), np.negative)
case("exp", S, lambda x: torch.exp(x), np.exp)
case("exp2", S, lambda x: torch.exp2(x), np.exp2)
case("expm1", S, lambda x: torch.expm1(x), np.expm1)
case("log", S, lambda x: torch.log(x), np.log, low=0.1, high=3)
case("log2", S, lambda x: x.log2(), np.log2, low=0.1, high=3)
case("log10", S, lambda x: torch.log10(x), np.log10, low=0.1, high=3)
case("log1p", S, lambda x: torch.log1p(x), np.log1p, low=-0.5, high=3)
case("sqrt", S, lambda x: x.sqrt(), np.sqrt, low=0.1, high=3)
case("rsqrt", S, lambda x: torch.rsqrt(x), lambda x: 1 / np.sqrt(x), low=0.1, high=3)
case("square", S, lambda x: torch.square(x), np.square)
case("reciprocal", S, lambda x: x.reciprocal(), lambda x: 1 / x, low=0.5, high=3)
case("sin", S, lambda x: torch.sin(x), np.sin)
case("cos", S, lambda x: x.cos(), np.cos)
case("tan", S, lambda x: torch.tan(x), np.tan, low=-1.2, high=1.2)
case("asin", S, lambda x: torch.asin(x), np.arcsin, low=-0.95, high=0.95)
case("acos", S, lambda x: torch.acos(x), np.arccos, low=-0.95, high=0.95)
case("atan", S, lambda x: torch.atan(x), np.arctan, low=-5, high=5)
case("arcsin alias", S, lambda x: torch.arcsin(x), np.arcsin, low=-0.9, high=0.9)
case("sinh", S, lambda x: torch.sinh(x), np.sinh)
case("cosh", S, lambda x: x.cosh(), np.cosh)
case("tanh", S, lambda x: torch.tanh(x), np.tanh)
case("asinh", S, lambda x: torch.asinh(x), np.arcsinh, low=-5, high=5)
case("acosh", S, lambda x: torch.acosh(x), np.arccosh, low=1.1, high=5)
case("atanh", S, lambda x: torch.atanh(x), np.arctanh, low=-0.9, high=0.9)
case("sigmoid", S, lambda x: torch.sigmoid(x), _sigmoid)
case("sigmoid method", S, lambda x: x.sigmoid(), _sigmoid)
case("relu", S, lambda x: torch.relu(x), lambda x: np.maximum(x, 0))
case("floor", S, lambda x: torch.floor(x), np.floor, grad=())
case("ceil", S, lambda x: x.ceil(), np.ceil, grad=())
case("round", S, lambda x: torch.round(x), np.round, grad=())
case("round decimals", S, lambda x: torch.round(x, decimals=2), lambda x: np.round(x, 2),
     grad=())
case("trunc", S, lambda x: torch.trunc(x), np.trunc, grad=())
case("fix", S, lambda x: torch.fix(x), np.trunc, grad=())
case("frac", S, lambda x: torch.frac(x), lambda x: x - np.trunc(x))
case("sign", S, lambda x: torch.sign(x), np.sign, grad=())
case("sgn", S, lambda x: x.sgn(), np.sign, grad=())
case("signbit", S, lambda x: torch.signbit(x), np.signbit)
case("erf", S, lambda x: torch.erf(x), _erf)
case("erfc", S, lambda x: torch.erfc(x), lambda x: 1 - _erf(x))
case("lgamma", S, lambda x: torch.lgamma(x), _lgamma, low=0.5, high=4)
case("sinc", S, lambda x: torch.sinc(x), np.sinc)
case("deg2rad", S, lambda x: torch.deg2rad(x), np.deg2rad, low=-180, high=180)
case("rad2deg", S, lambda x: torch.rad2deg(x), np.rad2deg, atol=1e-3)
case("logit", S, lambda x: torch.logit(x), lambda x: np.log(x / (1 - x)), low=0.05,
     high=0.95)
case("logit eps", S, lambda x: torch.logit(x, eps=0.1),
     lambda x: np.log(np.clip(x, 0.1, 0.9) / (1 - np.clip(x, 0.1, 0.9))), low=0.2, high=0.8)
case("nan_to_num", None, lambda x: torch.nan_to_num(x, nan=0.5, posinf=9.0, neginf=-9.0),
     lambda x: np.nan_to_num(x, nan=0.5, posinf=9.0, neginf=-9.0),
     vals=[[1.0, float("nan"), float("inf"), -float("inf"), -2.0]], grad=())
case("isnan", None, lambda x: torch.isnan(x), np.isnan, vals=[[1.0, float("nan"), 2.0]])
case("isinf", None, lambda x: x.isinf(), np.isinf, vals=[[1.0, float("inf"), -float("inf")]])
case("isfinite", None, lambda x: torch.isfinite(x), np.isfinite,
     vals=[[1.0, float("inf"), float("nan")]])
case("clamp", S, lambda x: torch.clamp(x, min=-0.5, max=0.7), lambda x: np.clip(x, -0.5, 0.7))
case("clamp min only", S, lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1))
case("clip", S, lambda x: torch.clip(x, -1, 1), lambda x: np.clip(x, -1, 1))
case("clamp_min", S, lambda x: torch.clamp_min(x, 0.2), lambda x: np.maximum(x, 0.2))
case("abs int", [(10,)], lambda x: torch.abs(x), np.abs, dtype="int64", low=-9, high=9)
case("float pow", S, lambda x: x ** 2.5, lambda x: x ** 2.5, low=0.1, high=2)
case("pow int exponent", S, lambda x: torch.pow(x, 3), lambda x: x ** 3)
case("rpow", S, lambda x: 2.0 ** x, lambda x: 2.0 ** x)

# -- binary -----------------------------------------------------------------------------------
B = [(45, 65), (45, 65)]
case("add", B, lambda x, y: x + y, np.add)
case("add alpha", B, lambda x, y: torch.add(x, y, alpha=2.5), lambda x, y: x + 2.5 * y)
case("sub", B, lambda x, y: torch.sub(x, y), np.subtract)
case("sub alpha", B, lambda x, y: x.sub(y, alpha=0.5), lambda x, y: x - 0.5 * y)
case("mul", B, lambda x, y: x * y, np.multiply)
case("multiply alias", B, lambda x, y: torch.multiply(x, y), np.multiply)
case("div", B, lambda x, y: x / y, np.divide, low=0.5, high=3)
case("div trunc", B, lambda x, y: torch.div(x, y, rounding_mode="trunc"),
     lambda x, y: np.trunc(x / y), low=-5, high=5, grad=())
case("div floor", B, lambda x, y: torch.div(x, y, rounding_mode="floor"),
     lambda x, y: np.floor(x / y), low=-5, high=5, grad=())
case("true_divide", B, lambda x, y: torch.true_divide(x, y), np.divide, low=0.5, high=3)
case("floor_divide", B, lambda x, y: torch.floor_divide(x, y), lambda x, y: np.floor(x / y),
     low=0.5, high=5, grad=())
case("remainder", B, lambda x, y: torch.remainder(x, y), np.mod, low=0.5, high=5, grad=(0,))
case("remainder negative", B, lambda x, y: x % -y, lambda x, y: np.mod(x, -y), low=0.5,
     high=5, grad=(0,))
case("fmod", B, lambda x, y: torch.fmod(x, y), np.fmod, low=0.5, high=5, grad=(0,))
case("fmod negative", B, lambda x, y: torch.fmod(-x, y), lambda x, y: np.fmod(-x, y), low=0.5,
     high=5, grad=(0,))
case("fmod scalar", S, lambda x: x.fmod(1.5), lambda x: np.fmod(x, 1.5), low=-5, high=5)
case("pow", B, lambda x, y: torch.pow(x, y), np.power, low=0.5, high=2)
case("atan2", B, lambda x, y: torch.atan2(x, y), np.arctan2)
case("arctan2 alias", B, lambda x, y: torch.arctan2(x, y), np.arctan2)
case("hypot", B, lambda x, y: torch.hypot(x, y), np.hypot)
case("maximum", B, lambda x, y: torch.maximum(x, y), np.maximum)
case("minimum", B, lambda x, y: x.minimum(y), np.minimum)
case("fmax", B, lambda x, y: torch.fmax(x, y), np.fmax)
case("fmin", B, lambda x, y: torch.fmin(x, y), np.fmin)
case("copysign", B, lambda x, y: torch.copysign(x, y), np.copysign, grad=(0,))
case("xlogy", B, lambda x, y: torch.xlogy(x, y), lambda x, y: x * np.log(y), low=0.1, high=3)
case("logaddexp", B, lambda x, y: torch.logaddexp(x, y), np.logaddexp)
case("logaddexp2", B, lambda x, y: torch.logaddexp2(x, y), np.logaddexp2)
case("lerp", [(45, 65), (45, 65)], lambda x, y: torch.lerp(x, y, 0.3),
     lambda x, y: x + 0.3 * (y - x))
case("lerp tensor weight", [(4, 5), (4, 5), (4, 5)], lambda x, y, w: torch.lerp(x, y, w),
     lambda x, y, w: x + w * (y - x))
case("addcmul", [(4, 5), (4, 5), (4, 5)], lambda a, b, c: torch.addcmul(a, b, c, value=0.5),
     lambda a, b, c: a + 0.5 * b * c)
case("addcdiv", [(4, 5), (4, 5), (4, 5)], lambda a, b, c: torch.addcdiv(a, b, c, value=2),
     lambda a, b, c: a + 2 * b / c, low=0.5, high=2)
case("squared_difference", B, lambda x, y: (x - y) ** 2, lambda x, y: (x - y) ** 2)
case("float_power", B, lambda x, y: torch.float_power(x, y), np.power, low=0.5, high=2,
     out_dtype="float64")

# -- comparisons and logic --------------------------------------------------------------------
for _name, _fn, _ref in [("eq", torch.eq, np.equal), ("ne", torch.ne, np.not_equal),
                         ("lt", torch.lt, np.less), ("le", torch.le, np.less_equal),
                         ("gt", torch.gt, np.greater), ("ge", torch.ge, np.greater_equal)]:
    case(_name, [(6, 7), (6, 7)], lambda x, y, f=_fn: f(x, y), _ref, dtype="int64", low=0,
         high=3)
case("greater alias", B, lambda x, y: torch.greater(x, y), np.greater)
case("lt operator", B, lambda x, y: x < y, np.less)
case("eq scalar", [(5, 6)], lambda x: x == 1, lambda x: x == 1, dtype="int64", low=0, high=3)
case("logical_and", [(5, 6), (5, 6)], lambda x, y: torch.logical_and(x, y), np.logical_and,
     dtype="bool")
case("logical_or", [(5, 6), (5, 6)], lambda x, y: x.logical_or(y), np.logical_or,
     dtype="bool")
case("logical_xor", [(5, 6), (5, 6)], lambda x, y: torch.logical_xor(x, y), np.logical_xor,
     dtype="bool")
case("logical_not", [(5, 6)], lambda x: torch.logical_not(x), np.logical_not, dtype="bool")
case("bitwise_and", [(5, 6), (5, 6)], lambda x, y: x & y, np.bitwise_and, dtype="int64",
     low=0, high=64)
case("bitwise_or", [(5, 6), (5, 6)], lambda x, y: torch.bitwise_or(x, y), np.bitwise_or,
     dtype="int64", low=0, high=64)
case("bitwise_xor", [(5, 6), (5, 6)], lambda x, y: torch.bitwise_xor(x, y), np.bitwise_xor,
     dtype="int64", low=0, high=64)
case("bitwise_not", [(5, 6)], lambda x: ~x, np.invert, dtype="int64", low=-9, high=9)
case("isclose", None, lambda x, y: torch.isclose(x, y),
     lambda x, y: np.isclose(x, y, rtol=1e-5, atol=1e-8),
     vals=[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0 + 1e-6, 3.1, 4.0 + 1e-3]], dtype="float64")
case("isclose rtol atol", None, lambda x, y: torch.isclose(x, y, rtol=0.0, atol=0.05),
     lambda x, y: np.abs(x - y) <= 0.05,
     vals=[[1.0, 2.0, 3.0], [1.04, 2.2, 3.0]], dtype="float64")
case("isclose equal_nan", None, lambda x, y: x.isclose(y, equal_nan=True),
     lambda x, y: np.isclose(x, y, equal_nan=True),
     vals=[[float("nan"), 1.0], [float("nan"), 1.0]])
case("allclose", None, lambda x, y: torch.tensor(torch.allclose(x, y)),
     lambda x, y: np.array(np.allclose(x, y)),
     vals=[[1.0, 2.0], [1.0, 2.0 + 1e-7]], dtype="float64")
case("where", [(5, 6), (5, 6), (5, 6)], lambda c, x, y: torch.where(c > 0, x, y),
     lambda c, x, y: np.where(c > 0, x, y), grad=(1, 2))
case("where scalar", [(5, 6), (5, 6)], lambda c, x: torch.where(c > 0, x, 0.0),
     lambda c, x: np.where(c > 0, x, 0.0), grad=(1,))
case("heaviside", None, lambda x, v: torch.heaviside(x, v), np.heaviside,
     vals=[[-1.0, 0.0, 2.0], [0.5, 0.5, 0.5]], grad=())  # PyTorch has no derivative either

# -- broadcasting -----------------------------------------------------------------------------
case("add broadcast row", [(4, 5), (5,)], lambda x, y: x + y, np.add)
case("add broadcast col", [(4, 1), (1, 5)], lambda x, y: torch.add(x, y), np.add)
case("mul broadcast 3d", [(2, 1, 4), (3, 1)], lambda x, y: x * y, np.multiply)
case("div broadcast scalar tensor", [(3, 4), ()], lambda x, y: x / y, np.divide, low=0.5,
     high=2)
case("sub scalar left", [(3, 4)], lambda x: 1.5 - x, lambda x: 1.5 - x)
case("maximum broadcast", [(3, 1, 5), (4, 1)], lambda x, y: torch.maximum(x, y), np.maximum)
case("where broadcast", [(3, 1), (1, 4), (3, 4)], lambda c, x, y: torch.where(c > 0, x, y),
     lambda c, x, y: np.where(c > 0, x, y), grad=(1, 2))
case("pow broadcast", [(3, 4), (4,)], lambda x, y: x ** y, np.power, low=0.5, high=2)
case("int plus float scalar", [(3, 4)], lambda x: x + 0.5, lambda x: x + 0.5, dtype="int64",
     low=0, high=5, out_dtype="float32")
case("int true division", [(3, 4), (3, 4)], lambda x, y: x / y, np.divide, dtype="int64",
     low=1, high=5, out_dtype="float32")
