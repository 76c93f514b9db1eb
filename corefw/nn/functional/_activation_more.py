"""More activations and pairwise functions with PyTorch's signatures: glu, mish, hardswish,
hardsigmoid, selu, celu, softsign, tanhshrink, softshrink, hardshrink, threshold, prelu,
rrelu, cosine_similarity, pairwise_distance, bilinear.

All are compositions of corefw ops (their gradients come from those ops' VJPs).
"""

from __future__ import annotations

import numpy as np

import corefw

from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.elementwise import where
from ...ops.inplace import _inplace
from ._activation import elu, hardtanh, leaky_relu, relu, sigmoid, softplus, tanh

__all__ = ["bilinear", "celu", "celu_", "cosine_similarity", "elu_", "glu", "hardshrink",
           "hardsigmoid", "hardswish", "hardtanh_", "leaky_relu_", "mish", "pairwise_distance",
           "prelu", "relu_", "rrelu", "rrelu_", "selu", "selu_", "softshrink", "softsign",
           "tanhshrink", "threshold", "threshold_"]

#: SELU's constants, as PyTorch (Klambauer et al., 2017)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _tensor(fn: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: expected a corefw tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {x.dtype} with shape "
                         f"{tuple(x.shape)}; cast it with .float()")


def glu(input, dim: int = -1):
    """Gated linear unit: ``a * sigmoid(b)`` where ``a, b`` are the halves of ``input`` along
    ``dim`` (whose size must be even)."""
    _tensor("glu", input)
    if input.ndim == 0:
        raise ShapeError("glu: does not support scalars because halving size must be even")
    n = input.shape[dim]
    if n % 2:
        raise ShapeError(f"glu: halving dimension must be even, but dimension {dim} of input "
                         f"{tuple(input.shape)} is size {n}")
    a, b = input.chunk(2, dim)
    return a * sigmoid(b)


def mish(input, inplace: bool = False):
    """``x * tanh(softplus(x))``."""
    _tensor("mish", input)
    if inplace:
        return _inplace(input, "mish_", mish)
    return input * tanh(softplus(input))


def hardsigmoid(input, inplace: bool = False):
    """``clamp(x / 6 + 1 / 2, 0, 1)``; PyTorch's gradient is 1/6 on the open interval
    (-3, 3) and 0 outside."""
    _tensor("hardsigmoid", input)
    if inplace:
        return _inplace(input, "hardsigmoid_", hardsigmoid)
    return where((input > -3.0) & (input < 3.0), input / 6.0 + 0.5,
                 (input >= 3.0).to(input.dtype))


def hardswish(input, inplace: bool = False):
    """``x * relu6(x + 3) / 6``: 0 for ``x <= -3``, ``x`` for ``x >= 3``."""
    _tensor("hardswish", input)
    if inplace:
        return _inplace(input, "hardswish_", hardswish)
    mid = input * (input + 3.0) / 6.0  # on [-3, 3], with its gradient at the ends (PyTorch)
    return where(input < -3.0, input * 0.0, where(input > 3.0, input, mid))


def selu(input, inplace: bool = False):
    """``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))`` with PyTorch's constants."""
    _tensor("selu", input)
    if inplace:
        return _inplace(input, "selu_", selu)
    return SELU_SCALE * where(input > 0, input, SELU_ALPHA * (input.clamp(max=0.0).exp() - 1))


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    _tensor("celu", input)
    if inplace:
        return _inplace(input, "celu_", lambda x: celu(x, alpha))
    if alpha == 0:
        raise ValueError("celu: ZeroDivisionError, alpha cannot be 0")
    return where(input > 0, input, alpha * ((input.clamp(max=0.0) / alpha).exp() - 1))


def softsign(input):
    """``x / (1 + |x|)``."""
    _tensor("softsign", input)
    return input / (input.abs() + 1)


def tanhshrink(input):
    """``x - tanh(x)``."""
    _tensor("tanhshrink", input)
    return input - tanh(input)


def softshrink(input, lambd: float = 0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    _tensor("softshrink", input)
    if lambd < 0:
        raise ValueError(f"softshrink: lambda must be greater or equal to 0, but found to be "
                         f"{lambd}")
    return where(input > lambd, input - lambd, where(input < -lambd, input + lambd,
                                                     input * 0.0))


def hardshrink(input, lambd: float = 0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    _tensor("hardshrink", input)
    return where((input > lambd) | (input < -lambd), input, input * 0.0)


def _threshold(input, thresh: float, value: float, inplace: bool):
    if not isinstance(input, Tensor):
        raise TypeError(f"threshold: expected a corefw tensor, got {type(input).__name__}")
    if inplace:
        return _inplace(input, "threshold_", lambda x: _threshold(x, thresh, value, False))
    return where(input > thresh, input, corefw.full_like(input, value))


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """``x`` where ``x > threshold``, else ``value``."""
    return _threshold(input, threshold, value, inplace)


def prelu(input, weight):
    """``x`` for ``x >= 0``, else ``weight * x``; ``weight`` has 1 element or one per channel
    (dim 1 of the input)."""
    _tensor("prelu", input)
    w = weight
    if weight.numel() > 1:
        c = input.shape[1] if input.ndim >= 2 else (input.shape[0] if input.ndim else 1)
        if weight.ndim != 1 or weight.numel() != c:
            raise ShapeError(f"prelu: weight of shape {tuple(weight.shape)} should have one "
                             f"element per channel ({c}) of input {tuple(input.shape)}")
        if input.ndim >= 2:
            w = weight.reshape((c,) + (1,) * (input.ndim - 2))
    return where(input >= 0, input, w * input)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False):
    """Randomized leaky ReLU: in training the slope of each negative element is drawn from
    ``U(lower, upper)``; in evaluation it is ``(lower + upper) / 2``."""
    _tensor("rrelu", input)
    if inplace:
        return _inplace(input, "rrelu_", lambda x: rrelu(x, lower, upper, training))
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower ({lower}) <= upper ({upper})")
    if not training:
        slope = (lower + upper) / 2
        return where(input >= 0, input, input * slope)
    slope = corefw.empty_like(input).uniform_(lower, upper)
    return where(input >= 0, input, input * slope)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim`` (inputs
    broadcast), PyTorch's formula."""
    _tensor("cosine_similarity", x1)
    _tensor("cosine_similarity", x2)
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise ShapeError(f"cosine_similarity: x1 of shape {tuple(x1.shape)} and x2 of shape "
                         f"{tuple(x2.shape)} cannot be broadcast together") from None
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    n1 = x1.norm(2, dim, keepdim=True).clamp(min=eps)
    n2 = x2.norm(2, dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """``||x1 - x2 + eps||_p`` along the last dim (inputs broadcast)."""
    _tensor("pairwise_distance", x1)
    _tensor("pairwise_distance", x2)
    d = x1 - x2 + eps
    if x1.ndim == 0 and x2.ndim == 0:
        return d.abs()
    return d.norm(p, -1, keepdim=keepdim)


def bilinear(input1, input2, weight, bias=None):
    """``y_k = x1 @ weight[k] @ x2 + bias[k]``: ``weight`` (out, in1, in2), inputs
    (*, in1) and (*, in2) with the same leading dims."""
    _tensor("bilinear", input1)
    _tensor("bilinear", input2)
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise ShapeError(f"bilinear: input1 {tuple(input1.shape)} and input2 "
                         f"{tuple(input2.shape)} do not fit weight {tuple(weight.shape)} "
                         f"(expected (*, in1), (*, in2) and (out, in1, in2))")
    lead = input1.shape[:-1]
    a = input1.reshape(-1, weight.shape[1])
    b = input2.reshape(-1, weight.shape[2])
    # (B, in1) @ (in1, out*in2) -> (B, out, in2), contracted with b
    t = (a @ weight.permute(1, 0, 2).reshape(weight.shape[1], -1)).reshape(
        a.shape[0], weight.shape[0], weight.shape[2])
    y = (t * b.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(tuple(lead) + (weight.shape[0],))


# -- in-place functional variants (``F.relu_`` ...), as PyTorch's -------------------------------
def relu_(input):
    """In-place :func:`relu`."""
    return _inplace(input, "relu_", relu)


def elu_(input, alpha: float = 1.0):
    """In-place :func:`elu`."""
    return _inplace(input, "elu_", lambda x: elu(x, alpha))


def leaky_relu_(input, negative_slope: float = 0.01):
    """In-place :func:`leaky_relu`."""
    return _inplace(input, "leaky_relu_", lambda x: leaky_relu(x, negative_slope))


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    """In-place :func:`hardtanh`."""
    return _inplace(input, "hardtanh_", lambda x: hardtanh(x, min_val, max_val))


def threshold_(input, threshold: float, value: float):
    """In-place :func:`threshold`."""
    return _threshold(input, threshold, value, True)


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False):
    """In-place :func:`rrelu`."""
    return rrelu(input, lower, upper, training, True)


def celu_(input, alpha: float = 1.0):
    """In-place :func:`celu`."""
    return celu(input, alpha, True)


def selu_(input):
    """In-place :func:`selu`."""
    return selu(input, True)
