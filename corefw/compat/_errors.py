"""The runner's errors, and the translation of corefw's "no such attribute" into the torch name
a script asked for (``module 'corefw.fft' has no attribute 'rfft'`` -> ``torch.fft.rfft``)."""

from __future__ import annotations

import re
import sys

from corefw.errors import CorefwError

from ._names import corefw_name, torch_name

__all__ = ["MissingTorchImportError", "MissingTorchModuleError", "MissingTorchNameError",
           "TorchCompatError", "translate"]

DOCS = "docs/torch-compat.md"


class TorchCompatError(CorefwError):
    """Base class: a PyTorch script asked for something corefw does not provide."""


class MissingTorchModuleError(TorchCompatError, ModuleNotFoundError):
    """``import torch.xyz`` (or ``torchvision``...) with no corefw counterpart."""


class MissingTorchNameError(TorchCompatError, AttributeError):
    """``torch.xyz``, ``torch.Tensor.xyz`` ... is not in corefw. ``torch_name`` is the full
    torch spelling of what was missing."""

    def __init__(self, message: str, torch_name: str) -> None:
        super().__init__(message)
        self.torch_name = torch_name


class MissingTorchImportError(TorchCompatError, ImportError):
    """``from torch.xyz import name`` where corefw's module lacks ``name``."""


for _cls in (TorchCompatError, MissingTorchModuleError, MissingTorchNameError,
             MissingTorchImportError):
    _cls.__module__ = "corefw.compat"  # the public path, as tracebacks print it

_MODULE_ATTR = re.compile(r"^module '([\w.]+)' has no attribute '(\w+)'")
_OBJECT_ATTR = re.compile(r"^'(\w+)' object has no attribute '(\w+)'")
_TYPE_ATTR = re.compile(r"^type object '(\w+)' has no attribute '(\w+)'")
_IMPORT_NAME = re.compile(r"^cannot import name '(\w+)' from '([\w.]+)'")


def _public_class_name(cls: type) -> str | None:
    """The shortest torch path of a corefw class: ``torch.Tensor``, ``torch.optim.SGD`` (not
    ``torch.optim.sgd.SGD``); ``None`` for a class defined outside corefw."""
    if torch_name(cls.__module__ or "") is None:
        return None
    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None and getattr(module, cls.__name__, None) is cls:
            return f"{torch_name(module.__name__)}.{cls.__name__}"
    return f"{torch_name(cls.__module__)}.{cls.__name__}"


def translate(exc: BaseException) -> TorchCompatError | None:
    """The :class:`TorchCompatError` that says which torch name ``exc`` (an ``AttributeError``
    or ``ImportError`` raised inside corefw's namespace) was about, or ``None`` when ``exc`` is
    not about a corefw module or class (the script's own bug)."""
    text = str(exc)
    if isinstance(exc, TorchCompatError):
        return None
    if isinstance(exc, AttributeError):
        what = None
        obj = getattr(exc, "obj", None)
        m = _MODULE_ATTR.match(text)
        if m and torch_name(m.group(1)):
            what, owner = f"{torch_name(m.group(1))}.{m.group(2)}", m.group(1)
        elif (m := _OBJECT_ATTR.match(text) or _TYPE_ATTR.match(text)) is not None:
            cls = obj if isinstance(obj, type) else type(obj) if obj is not None else None
            # Only corefw's own classes: a user subclass missing an attribute is the user's.
            if cls is not None and cls.__name__ == m.group(1):
                public = _public_class_name(cls)
                if public:
                    owner = f"{corefw_name(public.rpartition('.')[0])}.{cls.__name__}"
                    what = f"{public}.{m.group(2)}"
        if what is None:
            return None
        return MissingTorchNameError(
            f"{what} is not available in corefw ({owner} has no attribute "
            f"{what.rpartition('.')[2]!r}); see {DOCS} for what corefw provides and "
            "docs/compat.md for the runner's limits", torch_name=what)
    if isinstance(exc, ImportError) and not isinstance(exc, ModuleNotFoundError):
        m = _IMPORT_NAME.match(text)
        if m and torch_name(m.group(2)):
            what = f"{torch_name(m.group(2))}.{m.group(1)}"
            return MissingTorchImportError(
                f"cannot import {what}: corefw's {m.group(2)} has no {m.group(1)!r}; see "
                f"{DOCS} for what corefw provides", name=torch_name(m.group(2)))
    return None
