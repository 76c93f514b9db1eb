"""``corefw.nn.functional`` (import as ``F``): the layer library's operations as functions.

Each submodule holds one family; every function is written with corefw ops (composites with
their own VJPs and decompositions), so it runs and differentiates on every backend.
"""

from __future__ import annotations

import importlib

from ._activation import *  # noqa: F403
from ._activation import __all__ as _act_all

__all__ = list(_act_all)

# Families filled in by separate modules; each defines __all__.
for _name in ("_conv", "_pool", "_norm", "_dropout", "_sparse", "_loss", "_attention",
              "_recurrent", "_activation_more", "_pool_nd", "_vision", "_norm_more",
              "_loss_more", "_extra", "_grid", "_with_indices"):
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    globals().update({n: getattr(_mod, n) for n in _mod.__all__})
    __all__ += list(_mod.__all__)
del _name
