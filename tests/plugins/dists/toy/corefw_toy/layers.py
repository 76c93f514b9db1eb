"""The layer ``ToyScale``: multiplies its input by a learnable vector."""

from __future__ import annotations

import corefw
from corefw import nn


class ToyScale(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(corefw.ones(features))

    def forward(self, x):
        return x * self.scale
