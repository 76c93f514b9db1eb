"""``corefw.special``: PyTorch's ``torch.special`` names for functions corefw has, and a few
more written with existing ops (``ndtr``, ``log_ndtr``, ``entr``, ``xlog1py``), among them
``lgamma`` (Lanczos), ``digamma`` (recurrence and asymptotic series) and ``erfinv`` (Newton's
method on ``erf``), which are also ``corefw.lgamma`` ... and Tensor methods. They
differentiate through the ops they are written with."""

from __future__ import annotations

import math

from .. import _dtype
from .._registry import FN
from .registry import publish

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln",
           "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp", "ndtr", "psi", "round",
           "sinc", "softmax", "xlog1py", "xlogy"]
PUBLISHED = ["digamma", "erfinv", "lgamma"]

_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)


def _float(x):
    return FN.cast(x, _dtype.get_default_dtype()) if not x.dtype.is_floating_point else x


def _lgamma_pos(x):
    """Lanczos (g = 7, n = 9) for x >= 0.5."""
    z = x - 1
    a = _LANCZOS[0]
    for i, c in enumerate(_LANCZOS[1:], 1):
        a = a + c / (z + i)
    t = z + 7.5
    return 0.5 * math.log(2 * math.pi) + (z + 0.5) * FN.log(t) - t + FN.log(a)


def lgamma(input):
    """``log |Gamma(x)|`` (the reflection formula below 0.5; +inf at the poles)."""
    x = _float(input)
    small = x < 0.5
    xr = FN.where(small, 1 - x, x)
    big = _lgamma_pos(xr)
    sin = FN.abs(FN.sin(math.pi * FN.where(small, x, 0.5)))
    refl = math.log(math.pi) - FN.log(sin) - big
    return FN.where(small, refl, big)


gammaln = lgamma


def digamma(input):
    """The logarithmic derivative of Gamma: six recurrence steps, then the asymptotic
    series; the reflection formula below 0.5."""
    x = _float(input)
    small = x < 0.5
    y = FN.where(small, 1 - x, x)
    acc = 0
    for k in range(6):
        acc = acc + 1 / (y + k)
    y = y + 6
    inv2 = 1 / (y * y)
    series = FN.log(y) - 0.5 / y - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (
        1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    pos = series - acc
    refl = pos - math.pi / FN.tan(math.pi * FN.where(small, x, 0.25))
    return FN.where(small, refl, pos)


psi = digamma


def erfinv(input):
    """The inverse error function on (-1, 1) (+-inf at +-1, NaN outside): Winitzki's
    approximation refined by three Newton steps on ``erf``."""
    y = _float(input)
    inside = FN.abs(y) < 1
    ys = FN.where(inside, y, 0.0)
    a = 0.147
    ln = FN.log(1 - ys * ys)
    b = 2 / (math.pi * a) + ln / 2
    x = FN.sign(ys) * FN.sqrt(FN.sqrt(b * b - ln / a) - b)
    for _ in range(3):
        x = x - (FN.erf(x) - ys) / (2 / math.sqrt(math.pi) * FN.exp(-x * x))
    inf = float("inf")  # constants, not y * inf: y's gradient must stay finite
    edge = FN.where(y == 1, inf, FN.where(y == -1, -inf, float("nan")))
    return FN.where(inside, x, edge)


def expit(input):
    """The logistic sigmoid."""
    return FN.sigmoid(input)


def erf(input):
    return FN.erf(input)


def erfc(input):
    """``1 - erf(x)``."""
    return FN.erfc(input)


def exp2(input):
    return FN.exp2(input)


def expm1(input):
    return FN.expm1(input)


def log1p(input):
    return FN.log1p(input)


def logit(input, eps=None):
    return FN.logit(input, eps)


def xlogy(input, other):
    return FN.xlogy(input, other)


def xlog1py(input, other):
    """``input * log1p(other)``, 0 where ``input`` is 0."""
    x = input
    return FN.where(x == 0, FN.zeros_like(x * other), x * FN.log1p(FN.where(x == 0, 0.0, other)))


def ndtr(input):
    """The standard normal CDF."""
    return 0.5 * (1 + FN.erf(input / math.sqrt(2.0)))


def log_ndtr(input):
    """``log(ndtr(x))``."""
    return FN.log(ndtr(input))


def entr(input):
    """``-x log(x)``: 0 at 0, -inf below."""
    x = input
    safe = FN.where(x > 0, x, 1.0)
    out = FN.where(x > 0, -x * FN.log(safe), FN.zeros_like(x))
    return FN.where(x < 0, -float("inf"), out)


def sinc(input):
    return FN.sinc(input)


def round(input, decimals: int = 0):  # noqa: A001
    return FN.round(input, decimals=decimals)


def logsumexp(input, dim, keepdim: bool = False):
    return FN.logsumexp(input, dim, keepdim)


def softmax(input, dim, dtype=None):
    x = input if dtype is None else FN.cast(input, dtype)
    return FN.softmax(x, dim)


def log_softmax(input, dim, dtype=None):
    x = input if dtype is None else FN.cast(input, dtype)
    return FN.log_softmax(x, dim)


publish(globals(), PUBLISHED, methods="digamma erfinv lgamma")
