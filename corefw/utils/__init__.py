"""``corefw.utils``: PyTorch's ``torch.utils`` paths. :mod:`corefw.utils.data` is
:mod:`corefw.data` under the name PyTorch programs import."""

from __future__ import annotations

from . import data

__all__ = ["data"]
