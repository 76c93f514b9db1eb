"""The import hook: ``torch`` and ``torch.*`` resolve to corefw's modules themselves.

A meta-path finder answers every ``torch...`` name with a spec whose loader hands back the
corefw module already imported under its own name (``torch.nn`` *is* ``corefw.nn``; nothing is
copied, so ``isinstance`` and module state are shared). A torch module corefw has no
counterpart for fails with :class:`MissingTorchModuleError`, which names it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

from ._errors import MissingTorchModuleError
from ._names import corefw_name

__all__ = ["TorchAliasFinder"]

# Packages people import beside torch that the runner does not provide, with the way out.
_NOT_PROVIDED = {
    "torchvision": "load images with torch.utils.data (a Dataset over your own tensors)",
    "torchaudio": "load audio yourself and wrap it in a torch.utils.data.Dataset",
    "torchtext": "tokenize yourself and wrap the ids in a torch.utils.data.Dataset",
    "functorch": "use torch.autograd.functional where corefw has it",
}
_HINTS = {"torch.onnx": "install the corefw-onnx plugin (pip install -e plugins/onnx)"}


class _AliasLoader(importlib.abc.Loader):
    """Returns the corefw module (importing it under its own name); executes nothing."""

    def __init__(self, target: str, undo: list) -> None:
        self.target = target
        self._undo = undo
        self._own_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        parent, _, child = spec.name.rpartition(".")
        if parent and parent in sys.modules:
            # The import system sets torch.<child> on the parent (a corefw module) afterwards;
            # remember what was there so that uninstalling puts it back.
            holder = sys.modules[parent]
            self._undo.append((holder, child, holder.__dict__.get(child, _MISSING)))
        module = importlib.import_module(self.target)
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the corefw module was executed when it was imported. The import
        system has just set its ``__spec__`` to the torch alias's; put corefw's own back, or
        ``importlib.util.find_spec("corefw")`` would answer with the alias from now on."""
        module.__spec__ = self._own_spec


_MISSING = object()


class TorchAliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``torch`` and ``torch.*`` (and refuses ``torchvision`` & co.) for the runner."""

    def __init__(self) -> None:
        self.undo: list = []  # (module, attribute, previous value) set by imports

    def find_spec(self, fullname: str, path=None, target=None):
        """A spec for a torch module name, ``None`` for anything else."""
        top = fullname.partition(".")[0]
        if top in _NOT_PROVIDED:
            raise MissingTorchModuleError(
                f"{fullname} is not provided by corefw.compat ({top} is a separate package that "
                f"needs the real torch); {_NOT_PROVIDED[top]}. See docs/compat.md",
                name=fullname)
        if top != "torch":
            return None
        target_name = corefw_name(fullname)
        try:
            found = importlib.util.find_spec(target_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            hint = next((h for k, h in _HINTS.items() if fullname.startswith(k)), None)
            raise MissingTorchModuleError(
                f"{fullname} is not available in corefw (no module {target_name}); "
                + (f"{hint}; " if hint else "")
                + "see docs/torch-compat.md for what corefw provides", name=fullname)
        spec = importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(target_name, self.undo),
            is_package=found.submodule_search_locations is not None)
        return spec
