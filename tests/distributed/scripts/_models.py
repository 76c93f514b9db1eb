"""Models and data shared by the DDP rank script and the single-process references."""

import numpy as np

import corefw
import corefw.nn.functional as F
from corefw import nn

PER_RANK = 4


class WithUnused(nn.Module):
    """A net with a layer that forward never uses."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        self.unused = nn.Linear(4, 3)

    def forward(self, x):
        return self.net(x)


def make_model(seed: int, unused: bool = False):
    corefw.manual_seed(seed)
    if unused:
        return WithUnused()
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def batch(step: int, world: int, rank: int | None = None):
    """The global batch of ``step`` (world * PER_RANK rows), or rank ``rank``'s slice."""
    rng = np.random.default_rng(100 + step)
    x = rng.standard_normal((world * PER_RANK, 4))
    y = rng.integers(0, 3, world * PER_RANK)
    if rank is not None:
        x, y = x[rank * PER_RANK:(rank + 1) * PER_RANK], y[rank * PER_RANK:(rank + 1) * PER_RANK]
    return corefw.tensor(x, dtype=corefw.float32), corefw.tensor(y, dtype=corefw.int64)


def loss_fn(model, x, y):
    return F.cross_entropy(model(x), y)


def params(model) -> dict:
    return {n: p.detach().numpy().tolist() for n, p in model.named_parameters()}
