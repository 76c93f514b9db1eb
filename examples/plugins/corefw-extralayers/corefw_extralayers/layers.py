"""Layers: :class:`FusedRMSNorm` and :class:`SwiGLU` (PyTorch-style modules)."""

from __future__ import annotations

import math

import corefw
from corefw import nn

from .ops import rms_norm


class FusedRMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dim (Zhang and Sennrich, 2019)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(corefw.ones(dim))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))``: the gated feed-forward block of recent transformers."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        with corefw.no_grad():
            self.down.weight.mul_(1.0 / math.sqrt(2.0))

    def forward(self, x):
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))
