"""``corefw.special``: PyTorch's ``torch.special`` names for functions corefw has, and a few
more written with existing ops (``erfc``, ``ndtr``, ``log_ndtr``, ``entr``, ``xlog1py``)."""

from __future__ import annotations

import math

from .._registry import FN

__all__ = ["entr", "erf", "erfc", "exp2", "expit", "expm1", "log1p", "log_ndtr", "log_softmax",
           "logit", "logsumexp", "ndtr", "round", "sinc", "softmax", "xlog1py", "xlogy"]


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
