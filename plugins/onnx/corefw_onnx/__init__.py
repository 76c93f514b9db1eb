"""corefw-onnx: ONNX export and import for corefw.

``corefw_onnx.export(model, args, f, ...)`` writes a model as ONNX (``torch.onnx.export``'s
signature and meaning); ``corefw_onnx.load(path_or_model)`` returns a ``corefw.nn.Module``
that runs an ONNX graph with corefw ops on any backend, differentiably. The core never
imports this package (nor ``onnx``): ``import corefw_onnx`` is the entry point.
"""

from __future__ import annotations

from ._export import export
from .errors import OnnxExportError, OnnxImportError, UnsupportedOnnxError, UnsupportedOpError

__all__ = ["OnnxExportError", "OnnxImportError", "UnsupportedOnnxError", "UnsupportedOpError",
           "export", "load"]


def __getattr__(name: str):
    if name in ("load", "OnnxModule"):
        from . import _import

        return getattr(_import, name)
    if name == "backend":
        import importlib

        return importlib.import_module(".backend", __name__)
    raise AttributeError(f"module 'corefw_onnx' has no attribute {name!r}")
