"""Optimizers and learning-rate schedulers, with PyTorch's names, defaults and state dicts.

>>> opt = corefw.optim.Adam(model.parameters(), lr=1e-3)        # doctest: +SKIP
>>> sched = corefw.optim.lr_scheduler.StepLR(opt, step_size=10)  # doctest: +SKIP

See docs/optim.md.
"""

from __future__ import annotations

from . import lr_scheduler
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD, Rprop
from .lbfgs import LBFGS
from .muon import Muon
from .nadam import NAdam, RAdam
from .optimizer import Optimizer, OptimizerStateDictError
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "ASGD", "LBFGS", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax",
    "Muon", "NAdam", "Optimizer", "OptimizerStateDictError", "RAdam", "RMSprop", "Rprop",
    "lr_scheduler", "swa_utils",
]


def __getattr__(name: str):
    if name == "swa_utils":  # imports corefw.nn: loaded on first use
        import importlib

        return importlib.import_module(f"{__name__}.swa_utils")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
