"""Activations and simple functions: relu, gelu, silu, softplus, softmax, linear, pad ..."""

from __future__ import annotations

from ...ops.activation import log_softmax, softmax
from ...ops.elementwise import (
    elu,
    gelu,
    leaky_relu,
    relu,
    sigmoid,
    silu,
    softplus,
    tanh,
)
from ...ops.linalg import linear as _linear
from ...ops.shape import pad
from ._checks import check_linear

__all__ = ["elu", "gelu", "hardtanh", "leaky_relu", "linear", "log_softmax", "logsigmoid",
           "normalize", "pad", "relu", "relu6", "sigmoid", "silu", "softmax", "softmin",
           "softplus", "tanh"]


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``, as ``torch.nn.functional.linear``: input ``(*, in)``,
    weight ``(out, in)``, bias ``(out,)``; all of one dtype (PyTorch's "mat1 and mat2 must
    have the same dtype" otherwise)."""
    check_linear(input, weight, bias)
    return _linear(input, weight, bias)


def relu6(input):
    return input.clamp(0.0, 6.0)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0):
    return input.clamp(min_val, max_val)


def logsigmoid(input):
    return -softplus(-input)


def softmin(input, dim=None, dtype=None):
    return softmax(-input, dim, dtype)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """``input / max(norm_p(input, dim), eps)``."""
    n = input.norm(p, dim, keepdim=True).clamp(min=eps)
    return input / n
