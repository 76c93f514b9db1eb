"""Typed errors of corefw-onnx (corefw error classes that also subclass the builtin)."""

from __future__ import annotations

from corefw.errors import CorefwError

__all__ = ["OnnxExportError", "OnnxImportError", "UnsupportedOnnxError", "UnsupportedOpError"]


class OnnxExportError(CorefwError, RuntimeError):
    """An export that cannot be done (a data-dependent shape, a bad argument ...)."""


class UnsupportedOpError(OnnxExportError, NotImplementedError):
    """A corefw op with no ONNX mapping and no decomposition; names the op and the module."""

    def __init__(self, op: str, module: str | None, why: str = "") -> None:
        self.op = op
        self.module = module
        where = f"module {module!r}" if module else "the model's top level"
        super().__init__(
            f"corefw op {op!r} (called from {where}) cannot be exported to ONNX"
            f"{': ' + why if why else ''}; give the op a decomposition into exportable ops or "
            f"compute it outside the exported model")


class OnnxImportError(CorefwError, ValueError):
    """A model file that cannot be read: malformed, truncated, failing the ONNX checker."""


class UnsupportedOnnxError(OnnxImportError, NotImplementedError):
    """An ONNX operator, attribute, dtype or opset corefw-onnx does not implement; names the
    node."""
