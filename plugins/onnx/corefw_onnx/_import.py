"""``load``: an ONNX model as a ``corefw.nn.Module`` that runs the graph with corefw ops.

Every node runs through a handler in :mod:`corefw_onnx._handlers` written with corefw's public
ops, so the module runs on any backend and is differentiable. Floating-point initializers
become Parameters under their ONNX names (``fc.weight`` -> submodule ``fc``, parameter
``weight``, so ``state_dict()`` keys are the ONNX names); other initializers and ``Constant``
nodes become buffers, so ``.to(device)`` moves everything. The whole file is read, checked and
every node's operator and attributes validated before the module is returned.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

import corefw
from corefw import nn

from ._handlers import check_node
from ._handlers_control import run_nodes
from .errors import OnnxImportError, UnsupportedOnnxError

__all__ = ["OnnxModule", "load"]

MIN_OPSET, MAX_OPSET = 1, 28


def _read(src: Any) -> onnx.ModelProto:
    if isinstance(src, onnx.ModelProto):
        return src
    try:
        if isinstance(src, (str, os.PathLike)):
            with open(src, "rb") as fh:
                data = fh.read()
        elif isinstance(src, (bytes, bytearray)):
            data = bytes(src)
        else:
            data = src.read()
        model = onnx.ModelProto()
        model.ParseFromString(data)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise OnnxImportError(f"corefw_onnx.load: {src!r} is not a readable ONNX model "
                              f"(malformed or truncated protobuf: {exc})") from None
    if not model.graph.node and not model.graph.output:
        raise OnnxImportError(f"corefw_onnx.load: {src!r} holds no ONNX graph (empty, "
                              f"truncated or not an ONNX file)")
    return model


def _opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise UnsupportedOnnxError("corefw_onnx.load: the model imports no default-domain opset")


class OnnxModule(nn.Module):
    """A module running an ONNX graph (see :func:`load`); ``forward(*inputs)`` takes the graph
    inputs in order and returns one tensor or a tuple."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        self.opset = _opset(model)
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise UnsupportedOnnxError(
                f"corefw_onnx.load: ONNX opset {self.opset} is not supported (corefw-onnx "
                f"reads opsets {MIN_OPSET} to {MAX_OPSET}); convert it with "
                f"onnx.version_converter.convert_version")
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOnnxError(f"node {node.name!r} ({node.domain}::{node.op_type}"
                                           f"): operator domain {node.domain!r} is not supported")
            check_node(node, self.opset)
        self._nodes = list(graph.node)
        init_names = {t.name for t in graph.initializer}
        self._inputs = [i.name for i in graph.input if i.name not in init_names]
        self._outputs = [o.name for o in graph.output]
        self._paths: dict[str, tuple[nn.Module, str]] = {}
        for t in graph.initializer:
            arr = numpy_helper.to_array(t)
            self._store(t.name, arr, trainable=arr.dtype.kind == "f")

    def _store(self, name: str, arr: np.ndarray, trainable: bool) -> None:
        parts = name.split(".") if all(name.split(".")) else [name.replace(".", "_")]
        owner: nn.Module = self
        for p in parts[:-1]:
            child = dict(owner.named_children()).get(p)
            if child is None:
                child = nn.Module()
                owner.add_module(p, child)
            owner = child
        leaf = parts[-1]
        while hasattr(owner, leaf):  # a clash with a Module attribute or an earlier name
            leaf += "_"
        tensor = corefw.tensor(np.array(arr, order="C"))
        if trainable:
            owner.register_parameter(leaf, nn.Parameter(tensor))
        else:
            owner.register_buffer(leaf, tensor)
        self._paths[name] = (owner, leaf)

    def _value(self, name: str):
        owner, leaf = self._paths[name]
        return getattr(owner, leaf)

    def forward(self, *inputs: Any):
        if len(inputs) != len(self._inputs):
            raise OnnxImportError(f"OnnxModule: the graph takes {len(self._inputs)} inputs "
                                  f"({', '.join(self._inputs)}), got {len(inputs)}")
        env: dict[str, Any] = {"": None}
        dev = None
        for name, x in zip(self._inputs, inputs):
            if not isinstance(x, corefw.Tensor):
                x = corefw.tensor(np.asarray(x))
            dev = dev or x.device
            env[name] = x
        for name in self._paths:
            env[name] = self._value(name)
        dev = dev or corefw.get_default_device()
        run_nodes(self._nodes, env, self.opset, dev)
        res = tuple(env[o] for o in self._outputs)
        return res[0] if len(res) == 1 else res


def load(path_or_model: Any) -> OnnxModule:
    """Read an ONNX model (a path, bytes, a binary file object or an ``onnx.ModelProto``) and
    return an :class:`OnnxModule` running it with corefw ops; ``.to(device)`` moves it to any
    backend. Raises :class:`~corefw_onnx.OnnxImportError` for a malformed or truncated file and
    :class:`~corefw_onnx.UnsupportedOnnxError` naming the node for an operator, attribute or
    opset corefw-onnx does not implement; nothing is half-built."""
    model = _read(path_or_model)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise OnnxImportError(f"corefw_onnx.load: the model fails the ONNX checker: "
                              f"{str(exc).splitlines()[0]}") from None
    return OnnxModule(model)
