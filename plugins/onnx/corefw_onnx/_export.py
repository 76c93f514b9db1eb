"""``export``: trace a corefw model, turn its op calls into an ONNX graph, save it.

Dynamic axes: the model is traced a second time with every dynamic input axis enlarged. Both
traces must call the same ops; an integer attribute that differs between them (a reshape's
target shape, a ``full`` shape, a slice bound) is written as ``a * size + c`` of the input axis
whose size explains it, computed in the graph from ``Shape`` -- so the batch size stays free.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

import corefw
from corefw._registry import OPS

from ._export_ops import CONVERTERS, INT_MAX, exportable
from ._trace import trace
from .errors import OnnxExportError, UnsupportedOpError

__all__ = ["export"]

_GROW = 3  # how much the second trace enlarges each dynamic axis


def _arr(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, (int, float))


class _Graph:
    """Builds nodes and initializers; maps traced arrays (by identity) to ONNX names."""

    def __init__(self, host, opset: int) -> None:
        self.host = host  # native array -> numpy
        self.opset = opset
        self.nodes: list = []
        self.inits: list = []
        self.names: dict[int, str] = {}
        self.const_ids: set[int] = set()  # arrays whose values are known (foldable)
        self.symbols: list[tuple[str, int, int, int]] = []  # (input, axis, size1, size2)
        self.other: dict = {}  # call index -> the same call in the second trace
        self.call_index = 0
        self.count = 0
        self._shape_cache: dict = {}

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"/{base}_{self.count}"

    def onnx_dtype(self, dt) -> int:
        return helper.np_dtype_to_tensor_dtype(np.dtype(dt))

    def node(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.fresh(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node",
                                           **attrs))
        return out

    def const(self, value: np.ndarray, name: str | None = None) -> str:
        name = name or self.fresh("const")
        self.inits.append(numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def unsupported(self, call, why: str):
        raise UnsupportedOpError(call.op, call.module, why)

    # -- operands ----------------------------------------------------------------------------
    def operand(self, call, i: int) -> str:
        x = call.operands[i]
        if x is None:
            return ""
        if _arr(x):
            return self.value(x, call)
        like = next((o for o in call.operands if _arr(o)), None)
        dt = like.dtype if like is not None else np.asarray(x).dtype
        if call.op == "where" and i > 0:
            dt = call.out.dtype
        other = self.other.get(self.call_index)
        if other is not None and other.operands[i] != x:  # e.g. a mean's element count
            x2 = other.operands[i]
            if not (float(x).is_integer() and float(x2).is_integer()):
                raise OnnxExportError(
                    f"op {call.op!r} (module {call.module!r}) uses the number {x} that changes "
                    f"with the dynamic axes ({x2} when they grow) in a way no axis explains")
            e = self._expr(call, int(x), int(x2))
            e = self.node("Reshape", [e, self.const(np.array([], np.int64))])
            return self.node("Cast", [e], to=self.onnx_dtype(dt))
        return self.const(np.array(x, dt))

    def value(self, x, call=None) -> str:
        name = self.names.get(id(x))
        if name is not None:
            return name
        # an array no traced op produced: a constant made outside the ops (corefw.tensor ...)
        other = self.other.get(self.call_index)
        if other is not None and self.symbols and not self._static_const(x, call, other):
            raise OnnxExportError(
                f"op {call.op!r} (module {call.module!r}) reads a constant tensor of shape "
                f"{tuple(x.shape)} whose shape depends on a dynamic axis; build it with corefw "
                f"ops from the input (e.g. corefw.zeros(x.shape[0], ...)) to export it")
        name = self.const(self.host(x))
        self.names[id(x)] = name
        self.const_ids.add(id(x))
        return name

    def _static_const(self, x, call, other) -> bool:
        for a, b in zip(call.operands, other.operands):
            if a is x:
                return _arr(b) and tuple(b.shape) == tuple(x.shape)
        return True

    # -- dynamic shapes ----------------------------------------------------------------------
    def _expr(self, call, v1: int, v2: int) -> str:
        """An int64 [1] tensor equal to ``v1`` now and ``v2`` in the second trace."""
        for inp, axis, s1, s2 in self.symbols:
            if s2 != s1 and (v2 - v1) % (s2 - s1) == 0:
                a = (v2 - v1) // (s2 - s1)
                c = v1 - a * s1
                key = (inp, axis, a, c)
                if key not in self._shape_cache:
                    t = self.node("Shape", [inp], start=axis, end=axis + 1)
                    if a != 1:
                        t = self.node("Mul", [t, self.const(np.array([a], np.int64))])
                    if c:
                        t = self.node("Add", [t, self.const(np.array([c], np.int64))])
                    self._shape_cache[key] = t
                return self._shape_cache[key]
        raise OnnxExportError(
            f"op {call.op!r} (module {call.module!r}) uses the size {v1} that changes with the "
            f"dynamic axes ({v2} when they grow) in a way no single axis explains")

    def shape_tensor(self, call, attr: str, static: tuple) -> str:
        other = self.other.get(self.call_index)
        s2 = tuple(other.out.shape) if other is not None else static
        if s2 == static:
            return self.const(np.array(static, np.int64))
        parts = [self.const(np.array([a], np.int64)) if a == b else self._expr(call, a, b)
                 for a, b in zip(static, s2)]
        return self.node("Concat", parts, axis=0)

    def scalar(self, call, attr: str, value: np.ndarray) -> str:
        other = self.other.get(self.call_index)
        v2 = other.attrs[attr] if other is not None else call.attrs[attr]
        if v2 == call.attrs[attr]:
            return self.const(value)
        e = self._expr(call, int(call.attrs[attr]), int(v2))
        e = self.node("Reshape", [e, self.const(np.array([], np.int64))])
        return self.node("Cast", [e], to=self.onnx_dtype(value.dtype))

    # -- indexing ----------------------------------------------------------------------------
    def slice_to(self, src: str, spec: list[tuple[int, int, int]]) -> str:
        if not spec:
            return src
        axes, starts, ends = zip(*spec)
        return self.node("Slice", [src, self.const(np.array(starts, np.int64)),
                                   self.const(np.array(ends, np.int64)),
                                   self.const(np.array(axes, np.int64))])

    def basic_slice(self, call, src: str, key, shape) -> str:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            used = sum(1 for k in key if k is not None and k is not Ellipsis)
            key = key[:i] + (slice(None),) * (len(shape) - used) + key[i + 1:]
        other = self.other.get(self.call_index)
        starts, ends, axes, steps, squeeze, unsq = [], [], [], [], [], []
        axis = 0
        out_axis = 0
        for k in key:
            if k is None:
                unsq.append(out_axis)
                out_axis += 1
                continue
            n = shape[axis]
            changes = other is not None and other.operands[0].shape[axis] != n
            if isinstance(k, (int, np.integer)):
                if changes and k < 0:
                    self.unsupported(call, "a negative index into a dynamic axis")
                starts.append(k % n if not changes else k)
                ends.append(k % n + 1 if not changes else k + 1)
                axes.append(axis)
                steps.append(1)
                squeeze.append(axis)
            elif isinstance(k, slice):
                start, stop, step = k.indices(n)
                if (start, stop, step) != (0, n, 1):
                    if step < 0:
                        stop = -INT_MAX if stop < 0 else stop
                    elif changes and stop == n:
                        stop = INT_MAX
                    elif changes:
                        self.unsupported(call, "a slice bound inside a dynamic axis")
                    starts.append(start)
                    ends.append(stop)
                    axes.append(axis)
                    steps.append(step)
                out_axis += 1
            else:
                self.unsupported(call, f"index {k!r}")
            axis += 1
        out = src
        if axes:
            out = self.node("Slice", [out, self.const(np.array(starts, np.int64)),
                                      self.const(np.array(ends, np.int64)),
                                      self.const(np.array(axes, np.int64)),
                                      self.const(np.array(steps, np.int64))])
        if squeeze:
            out = self.node("Squeeze", [out, self.const(np.array(squeeze, np.int64))])
        if unsq:
            out = self.node("Unsqueeze", [out, self.const(np.array(unsq, np.int64))])
        if out is src:
            out = self.node("Identity", [src])
        return out

    def advanced_index(self, call, src: str) -> str:
        key = call.attrs["key"]
        key = key if isinstance(key, tuple) else (key,)
        pos = next(i for i, k in enumerate(key) if hasattr(k, "dtype"))
        idx = key[pos]
        if np.dtype(idx.dtype) == np.bool_:
            if pos != 0 or idx.ndim != 1:
                self.unsupported(call, "a boolean mask that is not 1-D on the first dim")
            return self.node("Compress", [src, self.value(idx, call)], axis=0)
        return self.node("Gather", [src, self.value(idx, call)], axis=pos)


def _flatten(out) -> list:
    if isinstance(out, corefw.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten(o)]
    raise OnnxExportError(f"export: the model returned {type(out).__name__}; ONNX export "
                          f"needs tensors (or tuples, lists, dicts of them)")


def _grown(args: tuple, names: list[str], dynamic: dict) -> tuple:
    out = []
    for name, a in zip(names, args):
        axes = dynamic.get(name, {})
        arr = a.detach().cpu().numpy()
        for axis in sorted(axes):
            n = arr.shape[axis]
            arr = np.take(arr, np.arange(n + _GROW) % n, axis=axis)
        out.append(corefw.tensor(arr, device=a.device) if axes else a)
    return tuple(out)


def _axes_map(dynamic_axes, names: list[str]) -> dict[str, dict[int, str]]:
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, dict):
            out[name] = {int(k): str(v) for k, v in axes.items()}
        else:
            out[name] = {int(k): f"{name}_dynamic_axes_{int(k) + 1}" for k in axes}
    return out


def _value_info(name: str, t, axes: dict[int, str]):
    arr = _native(t)
    dims = [axes.get(i, int(s)) for i, s in enumerate(arr.shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(
        np.dtype(arr.dtype)), dims)


def export(model: Any, args: Any, f: Any, *, input_names: list[str] | None = None,
           output_names: list[str] | None = None, dynamic_axes: dict | None = None,
           opset_version: int = 17, do_constant_folding: bool = True,
           kwargs: dict | None = None) -> onnx.ModelProto:
    """Export ``model(*args, **kwargs)`` to ONNX at ``f`` (a path, a binary file object, or
    None to only return it), with ``torch.onnx.export``'s meaning; returns the
    ``onnx.ModelProto``.

    The model runs once in eval mode under ``no_grad`` (its training flag is restored); every
    op it calls becomes ONNX nodes, directly or through the op's decomposition. Parameters and
    buffers become initializers named by their ``state_dict`` names. ``dynamic_axes`` maps
    input and output names to the axes left symbolic (``{"x": {0: "batch"}}`` or
    ``{"x": [0]}``). Raises :class:`~corefw_onnx.UnsupportedOpError` naming an op that cannot
    be exported and the module that called it.
    """
    if opset_version != 17:
        raise OnnxExportError(f"export: opset_version {opset_version} is not supported; "
                              f"corefw-onnx writes opset-17 operators (use opset_version=17 and "
                              f"onnx.version_converter for another opset)")
    args = args if isinstance(args, tuple) else (args,)
    kwargs = dict(kwargs or {})
    if not all(isinstance(a, corefw.Tensor) for a in args):
        raise OnnxExportError("export: args must be tensors (a tensor or a tuple of tensors)")
    input_names = list(input_names or [f"input_{i}" for i in range(len(args))])
    if len(input_names) != len(args):
        raise OnnxExportError(f"export: {len(input_names)} input_names for {len(args)} inputs")
    axes = _axes_map(dynamic_axes, input_names)
    dev = args[0].device if args else next(iter(model.parameters())).device
    training = getattr(model, "training", False)
    if isinstance(model, corefw.nn.Module):
        model.eval()
    try:
        out, tr = trace(model, args, kwargs, dev, exportable)
        tr2 = out2 = None
        if any(axes.get(n) for n in input_names):
            out2, tr2 = trace(model, _grown(args, input_names, axes), kwargs, dev, exportable)
    finally:
        if isinstance(model, corefw.nn.Module):
            model.train(training)
    outs = _flatten(out)
    output_names = list(output_names or [f"output_{i}" for i in range(len(outs))])
    if len(output_names) != len(outs):
        raise OnnxExportError(f"export: {len(output_names)} output_names for {len(outs)} "
                              f"outputs")
    for name, a, b in zip(output_names, outs, _flatten(out2) if tr2 else outs):
        for i, (n1, n2) in enumerate(zip(a.shape, b.shape)):
            if n1 != n2:  # an output axis that follows a dynamic input axis
                axes.setdefault(name, {}).setdefault(i, f"{name}_dynamic_axes_{i + 1}")
    proto = _build(model, args, input_names, outs, output_names, axes, tr, tr2, dev,
                   do_constant_folding, opset_version)
    data = proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    elif f is not None:
        f.write(data)
    return proto


def _build(model, args, input_names, outs, output_names, axes, tr, tr2, dev, fold, opset):
    backend = corefw.dispatch.device_of(dev).backend
    g = _Graph(lambda a: np.asarray(backend.to_host(a)), opset)
    for name, a in zip(input_names, args):
        g.names[id(_native(a))] = name
        for axis in axes.get(name, {}):
            g.symbols.append((name, axis, a.shape[axis], a.shape[axis] + _GROW))
    if isinstance(model, corefw.nn.Module):
        named = list(model.named_parameters()) + list(model.named_buffers())
        for name, t in named:
            arr = _native(t)
            if id(arr) not in g.names:
                g.names[id(arr)] = name
                g.const(g.host(arr), name)
    if tr2 is not None:
        if [c.op for c in tr.calls] != [c.op for c in tr2.calls]:
            raise OnnxExportError(
                "export: the model calls different ops when the dynamic axes change size "
                "(data-dependent control flow); export with static shapes instead")
        g.other = dict(enumerate(tr2.calls))
    for i, call in enumerate(tr.calls):
        g.call_index = i
        _emit(g, call, fold)
    for name, t in zip(output_names, outs):
        src = g.value(_native(t))
        g.nodes.append(helper.make_node("Identity", [src], [name], name=name + "_out"))
    _host_read_inputs(g, tr, input_names, args)
    in_info = [_value_info(n, a, axes.get(n, {})) for n, a in zip(input_names, args)]
    out_info = [_value_info(n, t, axes.get(n, {})) for n, t in zip(output_names, outs)]
    graph = helper.make_graph(g.nodes, type(model).__name__, in_info, out_info, g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="corefw-onnx", producer_version="0.1.0")
    proto.ir_version = 8
    proto = _prune(proto)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _host_read_inputs(g: _Graph, tr, input_names, args) -> None:
    """An input the graph never reads but the model read on the host (``.numpy()``,
    ``.tolist()``): its values went into Python code and would be frozen into the graph."""
    used = {i for n in g.nodes for i in n.input}
    for name, a in zip(input_names, args):
        arr = _native(a)
        if name not in used and id(arr) in tr.host_reads:
            raise UnsupportedOpError(
                "to_host", tr.host_reads[id(arr)],
                f"it reads the values of input {name!r} on the host (.numpy(), .tolist(), "
                f".item()) and computes with them in Python, so the exported graph would "
                f"hold this call's values as constants")


def _native(t):
    """The native array behind a Tensor (read through DLPack-free attribute access)."""
    return t._data


def _emit(g: _Graph, call, fold: bool) -> None:
    arrays = [o for o in call.operands if _arr(o)] + _key_arrays(call.attrs.get("key"))
    static = call.op != "full" or g.other.get(g.call_index) is None or tuple(
        g.other[g.call_index].out.shape) == tuple(call.out.shape)
    known = all(id(a) in g.const_ids or (id(a) not in g.names) for a in arrays)
    if (fold or call.op in ("full", "arange")) and known and static and call.op not in (
            "uniform", "normal", "randint", "randperm") and _same_shape(g, call):
        for a in arrays:
            g.value(a, call)
        g.names[id(call.out)] = g.const(g.host(call.out))
        g.const_ids.add(id(call.out))
        return
    conv = CONVERTERS.get(call.op)
    if conv is None:
        why = "random ops have no ONNX export in corefw-onnx" if call.op in OPS and OPS[
            call.op].primitive else "no ONNX mapping"
        raise UnsupportedOpError(call.op, call.module, why)
    name = conv(g, call, lambda i: g.operand(call, i))
    g.names[id(call.out)] = name
    g.const_ids.discard(id(call.out))


def _same_shape(g: _Graph, call) -> bool:
    other = g.other.get(g.call_index)
    return other is None or tuple(other.out.shape) == tuple(call.out.shape)


def _key_arrays(key) -> list:
    if key is None:
        return []
    key = key if isinstance(key, tuple) else (key,)
    return [k for k in key if _arr(k)]


def _prune(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Drop nodes and initializers that no graph output depends on."""
    graph = proto.graph
    need = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in need for o in node.output):
            keep.append(node)
            need.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    inits = [t for t in graph.initializer if t.name in need]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return proto
