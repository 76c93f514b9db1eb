"""``Linear`` and ``Identity``, with PyTorch's parameters and initialisation."""

from __future__ import annotations

import math
from typing import Any

import corefw

from .. import init
from ..functional import linear
from ..module import Module
from ..parameter import Parameter

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``.

    Parameters: ``weight`` ``(out_features, in_features)`` and ``bias`` ``(out_features,)``
    (absent with ``bias=False``), both drawn from ``U(-1/sqrt(in_features),
    1/sqrt(in_features))`` as PyTorch (``kaiming_uniform_(a=sqrt(5))`` for the weight). Input
    ``(*, in_features)``, output ``(*, out_features)``.

    Example::

        layer = corefw.nn.Linear(20, 30)
        y = layer(corefw.randn(128, 20))   # shape (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(corefw.empty((out_features, in_features), device=device,
                                             dtype=dtype))
        if bias:
            self.bias = Parameter(corefw.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation (see the class docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
