"""Neural-network building blocks, with PyTorch's names: ``corefw.nn.Module``, ``Parameter``,
containers, ``init``, ``functional``, and the layers (``Linear``, ``Conv2d`` ...) of
:mod:`corefw.nn.modules`, all importable as ``corefw.nn.<Name>``. See docs/nn.md."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from . import init
from .containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .module import Module, RemovableHandle
from .parameter import Parameter

__all__ = [
    "Module", "ModuleDict", "ModuleList", "Parameter", "ParameterDict", "ParameterList",
    "RemovableHandle", "Sequential", "init",
]


def _optional(name: str) -> Any:
    """Import ``corefw.nn.<name>``; None only if that module itself does not exist (yet).

    An error inside an existing module propagates: a broken layer library must not look like an
    absent one.
    """
    full = f"{__name__}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as e:
        if e.name == full:
            return None
        raise


functional = _optional("functional")
if functional is not None:
    __all__.append("functional")
if importlib.util.find_spec(f"{__name__}.utils") is not None:
    __all__.append("utils")  # imported lazily by __getattr__ below

_modules = _optional("modules")
if _modules is not None:
    _layer_names = list(getattr(_modules, "__all__", ()))
    globals().update({n: getattr(_modules, n) for n in _layer_names})
    __all__ += [n for n in _layer_names if n not in __all__]
del _modules


def __getattr__(name: str) -> Any:
    # corefw.nn.utils is imported on first use (it may import layers, optimizers...).
    if name in ("DataParallel", "parallel"):  # torch.nn.DataParallel; imported on first use
        parallel = importlib.import_module(f"{__name__}.parallel")
        return parallel if name == "parallel" else parallel.DataParallel
    if name == "utils":
        utils = _optional("utils")
        if utils is not None:
            globals()["utils"] = utils
            return utils
    # as in PyTorch, nn.DataParallel is nn.parallel.DataParallel (imported on first use: the
    # parallel package imports corefw.distributed)
    if name in ("parallel", "DataParallel"):
        parallel = importlib.import_module(f"{__name__}.parallel")
        return parallel if name == "parallel" else parallel.DataParallel
    raise AttributeError(f"module 'corefw.nn' has no attribute '{name}'")
