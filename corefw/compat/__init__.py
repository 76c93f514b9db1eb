"""Run unmodified PyTorch scripts on corefw: ``python -m corefw.compat SCRIPT [ARGS]``.

While the aliases are installed, ``import torch`` (and ``torch.nn``, ``torch.optim``,
``torch.utils.data``, ``torch.onnx`` ...) gives corefw's own modules: a meta-path finder
(:class:`~corefw.compat._finder.TorchAliasFinder`) resolves each ``torch...`` name to the corefw
module of the same path, so nothing is copied and ``torch.Tensor is corefw.Tensor``. What
corefw lacks fails with a :class:`TorchCompatError` naming the torch module or attribute
(``torch.fft.rfft``, ``torch.Tensor.foo``) and pointing to ``docs/torch-compat.md``.

From Python::

    from corefw import compat
    compat.run_path("train.py", ["--epochs", "1"])      # as `python train.py --epochs 1`
    with compat.torch_aliases():
        import torch                                     # corefw, until the block ends

See ``docs/compat.md`` for what the runner does not emulate.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ._errors import (
    MissingTorchImportError,
    MissingTorchModuleError,
    MissingTorchNameError,
    TorchCompatError,
    translate,
)
from ._finder import _MISSING, TorchAliasFinder
from ._names import corefw_name, torch_name

__all__ = ["MissingTorchImportError", "MissingTorchModuleError", "MissingTorchNameError",
           "TorchAliasFinder", "TorchCompatError", "corefw_name", "run_path", "torch_aliases",
           "torch_name", "translate"]

DEVICE_ENV = "COREFW_COMPAT_DEVICE"
"""Environment variable: the default device for new tensors (as ``--device``)."""


def _is_alias(name: str) -> bool:
    top = name.partition(".")[0]
    return top in ("torch", "torchvision", "torchaudio", "torchtext", "functorch")


@contextlib.contextmanager
def torch_aliases(device: str | None = None) -> Iterator[TorchAliasFinder]:
    """Within the block, ``import torch...`` resolves to corefw; on exit everything is as it
    was (a real ``torch`` imported before is hidden inside and visible again after).

    Args:
        device: if given, the default device for new tensors inside the block
            (:func:`corefw.set_default_device`), e.g. ``"cuda"`` for a script that creates its
            tensors without naming a device.

    Raises:
        TorchCompatError: on exit, in place of an ``AttributeError``/``ImportError`` raised
            in the block about a name corefw lacks (the original is its ``__cause__``).
    """
    import corefw

    hidden = {k: sys.modules.pop(k) for k in [k for k in sys.modules if _is_alias(k)]}
    finder = TorchAliasFinder()
    sys.meta_path.insert(0, finder)
    old_device = corefw.get_default_device()
    if device is not None:
        corefw.set_default_device(device)
    try:
        yield finder
    except (AttributeError, ImportError) as exc:
        new = translate(exc)
        if new is None:
            raise
        raise new.with_traceback(exc.__traceback__) from exc
    finally:
        corefw.set_default_device(old_device)
        sys.meta_path.remove(finder)
        for k in [k for k in sys.modules if _is_alias(k)]:
            del sys.modules[k]
        sys.modules.update(hidden)
        for holder, attr, previous in reversed(finder.undo):
            if previous is _MISSING:
                holder.__dict__.pop(attr, None)
            else:
                setattr(holder, attr, previous)


def run_path(path: str | os.PathLike, argv: Sequence[str] = (), *,
             device: str | None = None) -> dict[str, Any]:
    """Run the PyTorch script at ``path`` as ``__main__`` with ``torch`` resolved to corefw,
    as ``python path *argv`` would: ``sys.argv == [path, *argv]``, the script's directory first
    on ``sys.path``; both are restored afterwards.

    Args:
        path: the script.
        argv: its command-line arguments.
        device: the default device for new tensors (see :func:`torch_aliases`); default the
            environment variable ``COREFW_COMPAT_DEVICE``, else unchanged.

    Returns:
        The script's globals when it finishes.

    Raises:
        TorchCompatError: the script used a torch name corefw lacks (the message names it).
        Whatever the script raises otherwise, ``SystemExit`` included.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"corefw.compat: no such script: {path!r}")
    device = device if device is not None else (os.environ.get(DEVICE_ENV) or None)
    old_argv, old_path = sys.argv[:], sys.path[:]
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        with torch_aliases(device=device):
            return runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = old_argv
        sys.path[:] = old_path
