"""Optimizers and learning-rate schedulers, with PyTorch's names, defaults and state dicts.

>>> opt = corefw.optim.Adam(model.parameters(), lr=1e-3)        # doctest: +SKIP
>>> sched = corefw.optim.lr_scheduler.StepLR(opt, step_size=10)  # doctest: +SKIP

See docs/optim.md.
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, OptimizerStateDictError
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "OptimizerStateDictError", "RMSprop",
    "lr_scheduler",
]
