"""Pointwise composites (sigmoid, relu, gelu, softplus, clamp ...): each with a decomposition
into elementwise primitives and its own VJP. Re-exported by :mod:`corefw.ops.elementwise`; the
primitives they are written with are called through :data:`~corefw._registry.FN` (this module
sits below elementwise)."""

from __future__ import annotations

import math

from .. import _dtype
from .. import _rules as R
from .._call import apply, binary, unary
from .._registry import FN, OPS
from .._tensor import Tensor
from .registry import declare

__all__ = [
    "clamp", "clip", "elu", "expm1", "gelu", "isfinite", "isinf", "isnan", "leaky_relu",
    "lerp", "log1p", "log2", "reciprocal", "relu", "rsqrt", "sigmoid", "silu",
    "softplus", "square", "tan",
]


# -- composites -----------------------------------------------------------------------------
def _composite(name, decomposition, vjp=None, saves=(0,), rule=R.floating):
    return declare(name, rule=rule, decomposition=decomposition, vjp=vjp, saves=saves)


_SIGMOID = _composite("sigmoid", lambda x: 1 / (1 + FN.exp(-x)),
                      lambda ctx, g: (g * ctx.output * (1 - ctx.output),), saves=("output",))
_RELU = _composite("relu", lambda x: FN.where(x > 0, x, 0.0),
                   lambda ctx, g: (
                       apply(OPS["where"], (binary(OPS["gt"], ctx.output, 0), g, 0.0)),),
                   saves=("output",), rule=R.same)
_LOG1P = _composite("log1p", lambda x: FN.log(1 + x), lambda ctx, g: (g / (1 + ctx.inputs[0]),))
_EXPM1 = _composite("expm1", lambda x: FN.exp(x) - 1, lambda ctx, g: (g * (ctx.output + 1),),
                    saves=("output",))
_RSQRT = _composite("rsqrt", lambda x: 1 / FN.sqrt(x), lambda ctx, g: (
    -0.5 * g * ctx.output * ctx.output * ctx.output,), saves=("output",))
_TAN = _composite("tan", lambda x: FN.sin(x) / FN.cos(x), lambda ctx, g: (
    g * (1 + ctx.output * ctx.output),), saves=("output",))
_RECIP = _composite("reciprocal", lambda x: 1 / x, lambda ctx, g: (
    -g * ctx.output * ctx.output,), saves=("output",))
_SOFTPLUS = _composite("softplus", lambda x, beta=1.0, threshold=20.0: FN.where(
    x * beta > threshold, x, log1p(FN.exp(-FN.abs(x * beta))) / beta + relu(x)),
    lambda ctx, g: (FN.where(ctx.inputs[0] * ctx.attrs.get("beta", 1.0) > ctx.attrs.get(
        "threshold", 20.0), g, g * sigmoid(ctx.inputs[0] * ctx.attrs.get("beta", 1.0))),))
_SILU = _composite("silu", lambda x: x * sigmoid(x), lambda ctx, g: (
    g * (sigmoid(ctx.inputs[0]) * (1 + ctx.inputs[0] * (1 - sigmoid(ctx.inputs[0])))),))
_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _gelu_decomp(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + FN.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + FN.erf(x / _SQRT_2))


def _gelu_vjp(ctx, g):
    x = ctx.inputs[0]
    if ctx.attrs and ctx.attrs.get("approximate", "none") == "tanh":
        k = math.sqrt(2 / math.pi)
        inner = k * (x + 0.044715 * x * x * x)
        t = FN.tanh(inner)
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        return (g * d,)
    cdf = 0.5 * (1 + FN.erf(x / _SQRT_2))
    pdf = FN.exp(-0.5 * x * x) / _SQRT_2PI
    return (g * (cdf + x * pdf),)


_GELU = _composite("gelu", _gelu_decomp, _gelu_vjp)
_LEAKY = _composite("leaky_relu", lambda x, negative_slope=0.01: FN.where(
    x > 0, x, x * negative_slope), lambda ctx, g: (
    FN.where(ctx.inputs[0] > 0, g, g * ctx.attrs.get("negative_slope", 0.01)),))
_ELU = _composite("elu", lambda x, alpha=1.0: FN.where(x > 0, x, alpha * expm1(x)),
                  lambda ctx, g: (FN.where(ctx.inputs[0] > 0, g, g * ctx.attrs.get(
                      "alpha", 1.0) * FN.exp(ctx.inputs[0])),))


def _clamp_decomp(x, min=None, max=None):  # noqa: A002
    if min is not None:
        x = FN.maximum(x, min) if isinstance(min, Tensor) else FN.where(x < min, min, x)
    if max is not None:
        x = FN.minimum(x, max) if isinstance(max, Tensor) else FN.where(x > max, max, x)
    return x


def _clamp_vjp(ctx, g):
    x = ctx.inputs[0]
    lo, hi = ctx.attrs.get("min"), ctx.attrs.get("max")
    keep = x == x
    if lo is not None:
        keep = keep & (x >= lo)
    if hi is not None:
        keep = keep & (x <= hi)
    return (FN.where(keep, g, 0.0),)


_CLAMP = _composite("clamp", _clamp_decomp, _clamp_vjp, rule=R.same)


def _to_float(x):
    """Integer and bool tensors as the default float dtype (PyTorch's unary float ops)."""
    return FN.cast(x, _dtype.get_default_dtype()) if x._data.dtype.kind not in "fV" else x


def sigmoid(input):
    return unary(_SIGMOID, _to_float(input))


def relu(input):
    return unary(_RELU, input)


def log1p(input):
    return unary(_LOG1P, _to_float(input))


def expm1(input):
    return unary(_EXPM1, _to_float(input))


def rsqrt(input):
    return unary(_RSQRT, _to_float(input))


def tan(input):
    return unary(_TAN, _to_float(input))


def reciprocal(input):
    return unary(_RECIP, _to_float(input))


def log2(input):
    return FN.log(input) / math.log(2.0)


def square(input):
    return input * input


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold`` (PyTorch's defaults)."""
    return apply(_SOFTPLUS, (input,), {"beta": float(beta), "threshold": float(threshold)})


def silu(input):
    return unary(_SILU, input)


def gelu(input, approximate: str = "none"):
    """GELU with the exact erf form, or ``approximate="tanh"``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(_GELU, (input,), {"approximate": approximate})


def leaky_relu(input, negative_slope: float = 0.01):
    return apply(_LEAKY, (input,), {"negative_slope": float(negative_slope)})


def elu(input, alpha: float = 1.0):
    return apply(_ELU, (input,), {"alpha": float(alpha)})


def clamp(input, min=None, max=None):  # noqa: A002
    """Limit values to ``[min, max]`` (either may be None or a tensor)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_decomp(input, min, max)
    if input._data.dtype.kind not in "fV" and (isinstance(min, float) or isinstance(max, float)):
        input = FN.cast(input, _dtype.get_default_dtype())  # int tensor, float bound: float
    attrs = {}
    if min is not None:
        attrs["min"] = min
    if max is not None:
        attrs["max"] = max
    return apply(_CLAMP, (input,), attrs)


clip = clamp


def lerp(input, end, weight):
    return input + weight * (end - input)


def isnan(input):
    return input != input


def isinf(input):
    return FN.abs(input) == float("inf") if input._data.dtype.kind in "fV" else input != input


def isfinite(input):
    return FN.logical_not(isnan(input) | isinf(input))


