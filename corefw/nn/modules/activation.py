"""Activation layers, each a thin module over the function of the same name in
:mod:`corefw.nn.functional` (PyTorch's names, arguments and defaults).

``inplace=True`` writes the result into the input (as PyTorch, this is an error on a leaf that
requires grad).
"""

from __future__ import annotations

import corefw

from .. import functional as F
from ..module import Module
from ..parameter import Parameter

__all__ = ["ELU", "GELU", "Hardtanh", "LeakyReLU", "LogSigmoid", "LogSoftmax", "PReLU", "ReLU",
           "ReLU6", "SiLU", "Sigmoid", "Softmax", "Softmin", "Softplus", "Tanh"]


def _run(fn, input, inplace: bool, name: str, **kwargs):
    if not inplace:
        return fn(input, **kwargs)
    from corefw.ops.inplace import _inplace

    return _inplace(input, name, fn, **kwargs)


class ReLU(Module):
    """``max(x, 0)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return _run(F.relu, input, self.inplace, "relu_")

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU6(ReLU):
    """``min(max(x, 0), 6)``."""

    def forward(self, input):
        return _run(F.relu6, input, self.inplace, "relu6_")


class LeakyReLU(Module):
    """``x`` for ``x > 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return _run(F.leaky_relu, input, self.inplace, "leaky_relu_",
                    negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                          else "")


class ELU(Module):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return _run(F.elu, input, self.inplace, "elu_", alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """``x * Phi(x)`` (exact, erf form), or its tanh approximation with
    ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)`` (swish)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return _run(F.silu, input, self.inplace, "silu_")


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, input):
        return F.tanh(input)


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val "
                             f"({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return _run(F.hardtanh, input, self.inplace, "hardtanh_", min_val=self.min_val,
                    max_val=self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSigmoid(Module):
    """``log(sigmoid(x))``, computed stably."""

    def forward(self, input):
        return F.logsigmoid(input)


class _DimModule(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_DimModule):
    """``exp(x) / sum(exp(x))`` along ``dim``."""

    def forward(self, input):
        return F.softmax(input, self.dim)


class LogSoftmax(_DimModule):
    """``log(softmax(x))`` along ``dim``, computed stably."""

    def forward(self, input):
        return F.log_softmax(input, self.dim)


class Softmin(_DimModule):
    """``softmax(-x)`` along ``dim``."""

    def forward(self, input):
        return F.softmin(input, self.dim)


class PReLU(Module):
    """``x`` for ``x >= 0``, else ``weight * x``, with a learnt slope: one shared
    (``num_parameters=1``) or one per channel (dim 1 of the input), initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(corefw.full((num_parameters,), float(init), device=device,
                                            dtype=dtype or corefw.get_default_dtype()))

    def reset_parameters(self) -> None:
        with corefw.no_grad():
            self.weight.fill_(self.init)

    def forward(self, input):
        w = self.weight
        if self.num_parameters > 1:
            if input.ndim == 0 or input.shape[min(1, input.ndim - 1)] != self.num_parameters:
                raise corefw.errors.ShapeError(
                    f"PReLU: {self.num_parameters} parameters need an input with that many "
                    f"channels in dim 1, got shape {input.shape}")
            if input.ndim >= 2:
                w = w.reshape((self.num_parameters,) + (1,) * (input.ndim - 2))
        return corefw.where(input >= 0, input, w * input)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
