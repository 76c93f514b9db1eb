"""More activation and distance layers over :mod:`corefw.nn.functional` (PyTorch's names,
arguments, defaults and reprs): GLU, Mish, Hardswish, Hardsigmoid, SELU, CELU, Softsign,
Tanhshrink, Softshrink, Hardshrink, Threshold, Softmax2d, RReLU, CosineSimilarity,
PairwiseDistance."""

from __future__ import annotations

from ...errors import ShapeError
from .. import functional as F
from ..module import Module
from .activation import _run

__all__ = ["CELU", "GLU", "CosineSimilarity", "Hardshrink", "Hardsigmoid", "Hardswish", "Mish",
           "PairwiseDistance", "RReLU", "SELU", "Softmax2d", "Softshrink", "Softsign",
           "Tanhshrink", "Threshold"]


class _Inplace(Module):
    _name = ""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return _run(getattr(F, self._name), input, self.inplace, self._name + "_")

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Mish(_Inplace):
    """``x * tanh(softplus(x))``."""

    _name = "mish"


class Hardswish(_Inplace):
    """``x * relu6(x + 3) / 6``."""

    _name = "hardswish"


class Hardsigmoid(_Inplace):
    """``relu6(x + 3) / 6``."""

    _name = "hardsigmoid"


class SELU(_Inplace):
    """Scaled ELU with PyTorch's ``alpha`` and ``scale`` constants."""

    _name = "selu"


class GLU(Module):
    """Gated linear unit ``a * sigmoid(b)`` of the two halves of ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class CELU(Module):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return _run(F.celu, input, self.inplace, "celu_", alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, input):
        return F.softsign(input)


class Tanhshrink(Module):
    """``x - tanh(x)``."""

    def forward(self, input):
        return F.tanhshrink(input)


class Softshrink(Module):
    """Shrink towards 0 by ``lambd``; 0 inside ``[-lambd, lambd]``."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    """``x`` outside ``[-lambd, lambd]``, else 0."""

    def forward(self, input):
        return F.hardshrink(input, self.lambd)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return _run(F.threshold, input, self.inplace, "threshold_", threshold=self.threshold,
                    value=self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


class Softmax2d(Module):
    """Softmax over the channels (dim -3) of (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected an input of 3 or 4 dims, got shape "
                             f"{tuple(input.shape)}")
        return F.softmax(input, -3)


class RReLU(Module):
    """Randomized leaky ReLU: negative slopes drawn from ``U(lower, upper)`` in training,
    ``(lower + upper) / 2`` in evaluation."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return _run(F.rrelu, input, self.inplace, "rrelu_", lower=self.lower,
                    upper=self.upper, training=self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (
            ", inplace=True" if self.inplace else "")


class CosineSimilarity(Module):
    """:func:`~corefw.nn.functional.cosine_similarity` along ``dim``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """:func:`~corefw.nn.functional.pairwise_distance`: ``||x1 - x2 + eps||_p``."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
