"""corefw op -> ONNX nodes: one converter per op with a direct ONNX counterpart.

A converter is ``fn(g, call, x)``: ``g`` the graph builder (:mod:`corefw_onnx._export`),
``call`` the recorded :class:`~corefw_onnx._trace.Call`, ``x(i)`` the ONNX name of operand
``i`` (a Python scalar becomes a constant of the other operand's dtype). It returns the name of
the output. Ops not listed here are traced through their decomposition
(:data:`corefw._registry.OPS`); :func:`exportable` says which, per call (``avg_pool2d`` with
``divisor_override`` or ``ceil_mode`` decomposes, for example).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONVERTERS", "exportable"]

_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh",
          "sin": "Sin", "cos": "Cos", "abs": "Abs", "sign": "Sign", "floor": "Floor",
          "ceil": "Ceil", "round": "Round", "erf": "Erf", "sigmoid": "Sigmoid", "relu": "Relu",
          "reciprocal": "Reciprocal", "tan": "Tan", "clone": "Identity",
          "to_device": "Identity"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "maximum": "Max", "minimum": "Min", "eq": "Equal", "lt": "Less", "le": "LessOrEqual",
           "gt": "Greater", "ge": "GreaterOrEqual"}
_BOOL_BINARY = {"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}
INT_MAX = np.iinfo(np.int64).max


def _dims(dim, ndim):
    return list(range(ndim)) if dim is None else [d % max(ndim, 1) for d in (
        dim if isinstance(dim, (tuple, list)) else (dim,))]


def _unary(kind):
    return lambda g, c, x: g.node(kind, [x(0)])


def _binary(kind):
    return lambda g, c, x: g.node(kind, [x(0), x(1)])


def _ne(g, c, x):
    return g.node("Not", [g.node("Equal", [x(0), x(1)])])


def _bool_binary(kind):
    def conv(g, c, x):
        if np.dtype(c.out.dtype) != np.bool_:
            g.unsupported(c, "bitwise ops on integers need ONNX opset 18")
        return g.node(kind, [x(0), x(1)])
    return conv


def _bitwise_not(g, c, x):
    if np.dtype(c.out.dtype) != np.bool_:
        g.unsupported(c, "bitwise_not on integers needs ONNX opset 18")
    return g.node("Not", [x(0)])


def _floor_divide(g, c, x):
    if np.dtype(c.out.dtype).kind == "f":
        return g.node("Floor", [g.node("Div", [x(0), x(1)])])
    f = [g.node("Cast", [x(i)], to=g.onnx_dtype(np.float64)) for i in (0, 1)]
    return g.node("Cast", [g.node("Floor", [g.node("Div", f)])], to=g.onnx_dtype(c.out.dtype))


def _remainder(g, c, x):
    if np.dtype(c.out.dtype).kind != "f":
        return g.node("Mod", [x(0), x(1)], fmod=0)
    q = g.node("Floor", [g.node("Div", [x(0), x(1)])])
    return g.node("Sub", [x(0), g.node("Mul", [q, x(1)])])


def _where(g, c, x):
    return g.node("Where", [x(0), x(1), x(2)])


def _cast(g, c, x):
    return g.node("Cast", [x(0)], to=g.onnx_dtype(c.out.dtype))


def _reduce(kind):
    def conv(g, c, x):
        axes = _dims(c.attrs.get("dim"), c.operands[0].ndim)
        keep = int(bool(c.attrs.get("keepdim", False)))
        if c.operands[0].ndim == 0:
            return g.node("Identity", [x(0)])
        if kind == "ReduceSum":
            return g.node(kind, [x(0), g.const(np.array(axes, np.int64))], keepdims=keep)
        return g.node(kind, [x(0)], axes=axes, keepdims=keep)
    return conv


def _arg(kind):
    def conv(g, c, x):
        dim, keep = c.attrs.get("dim"), int(bool(c.attrs.get("keepdim", False)))
        src = x(0)
        if dim is None:
            src = g.node("Reshape", [src, g.const(np.array([-1], np.int64))])
            out = g.node(kind, [src], axis=0, keepdims=0)
            if keep:
                out = g.node("Reshape", [out, g.const(np.ones(c.operands[0].ndim, np.int64))])
            return out
        return g.node(kind, [src], axis=int(dim), keepdims=keep)
    return conv


def _cumsum(g, c, x):
    return g.node("CumSum", [x(0), g.const(np.array(int(c.attrs["dim"]), np.int64))])


def _softmax(kind):
    return lambda g, c, x: g.node(kind, [x(0)], axis=int(c.attrs["dim"]))


def _reshape(g, c, x):
    return g.node("Reshape", [x(0), g.shape_tensor(c, "shape", tuple(c.out.shape))])


def _permute(g, c, x):
    return g.node("Transpose", [x(0)], perm=[int(d) for d in c.attrs["dims"]])


def _expand(g, c, x):
    return g.node("Expand", [x(0), g.shape_tensor(c, "shape", tuple(c.out.shape))])


def _flip(g, c, x):
    dims = _dims(c.attrs["dims"], c.operands[0].ndim)
    n = len(dims)
    return g.node("Slice", [x(0), g.const(np.full(n, -1, np.int64)),
                            g.const(np.full(n, -INT_MAX, np.int64)),
                            g.const(np.array(dims, np.int64)), g.const(np.full(n, -1, np.int64))])


def _pad(g, c, x):
    pads = [tuple(p) for p in c.attrs["pad"]]
    value = c.attrs.get("value", 0)
    arr = np.array([p[0] for p in pads] + [p[1] for p in pads], np.int64)
    return g.node("Pad", [x(0), g.const(arr), g.const(np.array(value, c.out.dtype))],
                  mode="constant")


def _cat(g, c, x):
    return g.node("Concat", [x(i) for i in range(len(c.operands))], axis=int(c.attrs["dim"]))


def _gather(g, c, x):
    data, index, dim = c.operands[0], c.operands[1], int(c.attrs["dim"])
    src = x(0)
    if any(i != dim and s != data.shape[i] for i, s in enumerate(index.shape)):
        src = g.slice_to(src, [(i, 0, s) for i, s in enumerate(index.shape) if i != dim])
    return g.node("GatherElements", [src, x(1)], axis=dim)


def _scatter_add(g, c, x):
    index, src, dim = c.operands[1], c.operands[2], int(c.attrs["dim"])
    upd = x(2)
    if tuple(src.shape) != tuple(index.shape):
        upd = g.slice_to(upd, [(i, 0, s) for i, s in enumerate(index.shape)])
    return g.node("ScatterElements", [x(0), x(1), upd], axis=dim, reduction="add")


def _nonzero(g, c, x):
    return g.node("Transpose", [g.node("NonZero", [x(0)])], perm=[1, 0])


def _slice(g, c, x):
    return g.basic_slice(c, x(0), c.attrs["key"], c.operands[0].shape)


def _index(g, c, x):
    return g.advanced_index(c, x(0))


def _matmul(g, c, x):
    return g.node("MatMul", [x(0), x(1)])


def _linear(g, c, x):
    w = g.node("Transpose", [x(1)], perm=[1, 0])
    y = g.node("MatMul", [x(0), w])
    return y if c.operands[2] is None else g.node("Add", [y, x(2)])


def _conv2d(g, c, x):
    a = c.attrs
    (pt, pb), (pl, pr) = a["padding"]
    ins = [x(0), x(1)] + ([x(2)] if c.operands[2] is not None else [])
    return g.node("Conv", ins, strides=list(a["stride"]), pads=[pt, pl, pb, pr],
                  dilations=list(a["dilation"]), group=int(a["groups"]),
                  kernel_shape=list(c.operands[1].shape[2:]))


def _conv_transpose2d(g, c, x):
    """``conv2d_grad_input`` (the transposed convolution) -> ConvTranspose, with the
    output_padding that gives back ``input_size``."""
    a = c.attrs
    (pt, pb), (pl, pr) = a["padding"]
    gsh, wsh = c.operands[0].shape, c.operands[1].shape
    pads = (pt, pb), (pl, pr)
    extra = []
    for i in range(2):
        k, s, d = wsh[2 + i], a["stride"][i], a["dilation"][i]
        full = (gsh[2 + i] - 1) * s - sum(pads[i]) + d * (k - 1) + 1
        extra.append(int(a["input_size"][i]) - full)
    if any(e < 0 or e >= max(a["stride"][i], a["dilation"][i]) for i, e in enumerate(extra)):
        g.unsupported(c, f"a transposed convolution whose output size needs {extra} extra")
    return g.node("ConvTranspose", [x(0), x(1)], strides=list(a["stride"]),
                  pads=[pt, pl, pb, pr], dilations=list(a["dilation"]),
                  group=int(a["groups"]), output_padding=extra,
                  kernel_shape=list(wsh[2:]))


def _max_pool2d(g, c, x):
    a = c.attrs
    ph, pw = a["padding"]
    return g.node("MaxPool", [x(0)], kernel_shape=list(a["kernel_size"]),
                  strides=list(a["stride"]), pads=[ph, pw, ph, pw],
                  dilations=list(a["dilation"]), ceil_mode=int(bool(a["ceil_mode"])))


def _avg_pool2d(g, c, x):
    a = c.attrs
    ph, pw = a["padding"]
    return g.node("AveragePool", [x(0)], kernel_shape=list(a["kernel_size"]),
                  strides=list(a["stride"]), pads=[ph, pw, ph, pw],
                  count_include_pad=int(bool(a["count_include_pad"])))


def _layer_norm(g, c, x):
    xs, w, b = c.operands
    k = int(c.attrs["ndim"])
    shape = tuple(xs.shape[xs.ndim - k:])
    scale = x(1) if w is not None else g.const(np.ones(shape, xs.dtype))
    ins = [x(0), scale] + ([x(2)] if b is not None else [])
    return g.node("LayerNormalization", ins, axis=-k, epsilon=float(c.attrs["eps"]))


def _embedding(g, c, x):
    return g.node("Gather", [x(0), x(1)], axis=0)


def _clamp(g, c, x):
    dt = c.out.dtype
    lo, hi = c.attrs.get("min"), c.attrs.get("max")
    return g.node("Clip", [x(0), g.const(np.array(lo, dt)) if lo is not None else "",
                           g.const(np.array(hi, dt)) if hi is not None else ""])


def _leaky_relu(g, c, x):
    return g.node("LeakyRelu", [x(0)], alpha=float(c.attrs.get("negative_slope", 0.01)))


def _elu(g, c, x):
    return g.node("Elu", [x(0)], alpha=float(c.attrs.get("alpha", 1.0)))


def _einsum(g, c, x):
    return g.node("Einsum", [x(i) for i in range(len(c.operands))],
                  equation=c.attrs["equation"].replace(" ", ""))


def _full(g, c, x):
    from onnx import numpy_helper

    value = numpy_helper.from_array(np.array(c.attrs["fill_value"], c.out.dtype).reshape(1))
    return g.node("ConstantOfShape", [g.shape_tensor(c, "shape", tuple(c.out.shape))],
                  value=value)


def _arange(g, c, x):
    dt = c.out.dtype
    a = c.attrs
    return g.node("Range", [g.scalar(c, "start", np.array(a["start"], dt)),
                            g.scalar(c, "end", np.array(a["end"], dt)),
                            g.const(np.array(a["step"], dt))])


def _copy_(g, c, x):
    dst = c.operands[0]
    src = g.node("Cast", [x(1)], to=g.onnx_dtype(dst.dtype))
    return g.node("Expand", [src, g.node("Shape", [x(0)])])


def _index_put(g, c, x):
    """``x[key] = values`` (``+=`` with accumulate) for a key known at export: the written
    positions are computed now and the write is one ScatterElements on the flattened x."""
    data, values = c.operands[0], c.operands[1]
    key = c.attrs["key"]
    if any(hasattr(k, "dtype") and id(k) in g.names and id(k) not in g.const_ids
           for k in (key if isinstance(key, tuple) else (key,))):
        g.unsupported(c, "an index_put whose indices are computed from the inputs")
    if g.other.get(g.call_index) is not None and tuple(
            g.other[g.call_index].operands[0].shape) != tuple(data.shape):
        g.unsupported(c, "an index_put into a tensor with a dynamic axis")
    host_key = tuple(g.host(k) if hasattr(k, "dtype") else k for k in (
        key if isinstance(key, tuple) else (key,)))
    pos = np.arange(int(np.prod(data.shape)), dtype=np.int64).reshape(data.shape)[host_key]
    flat = g.const(np.array([-1], np.int64))
    src = x(1) if hasattr(values, "dtype") else g.const(np.array(values, data.dtype))
    upd = g.node("Reshape", [g.node("Expand", [src, g.const(np.array(pos.shape, np.int64))]),
                             flat])
    out = g.node("ScatterElements", [g.node("Reshape", [x(0), flat]),
                                     g.const(pos.reshape(-1)), upd], axis=0,
                 reduction="add" if c.attrs.get("accumulate") else "none")
    return g.node("Reshape", [out, g.const(np.array(data.shape, np.int64))])


CONVERTERS = {
    **{k: _unary(v) for k, v in _UNARY.items()},
    **{k: _binary(v) for k, v in _BINARY.items()},
    **{k: _bool_binary(v) for k, v in _BOOL_BINARY.items()},
    "ne": _ne, "bitwise_not": _bitwise_not, "floor_divide": _floor_divide,
    "remainder": _remainder, "where": _where, "cast": _cast,
    "sum": _reduce("ReduceSum"), "prod": _reduce("ReduceProd"), "amax": _reduce("ReduceMax"),
    "amin": _reduce("ReduceMin"), "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"),
    "cumsum": _cumsum, "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
    "reshape": _reshape, "permute": _permute, "expand": _expand, "flip": _flip, "pad": _pad,
    "cat": _cat, "gather": _gather, "scatter_add": _scatter_add, "nonzero": _nonzero,
    "slice": _slice, "index": _index, "matmul": _matmul, "linear": _linear, "conv2d": _conv2d,
    "conv2d_grad_input": _conv_transpose2d,
    "max_pool2d": _max_pool2d, "avg_pool2d": _avg_pool2d, "layer_norm": _layer_norm,
    "embedding": _embedding, "clamp": _clamp, "leaky_relu": _leaky_relu, "elu": _elu,
    "einsum": _einsum, "full": _full, "arange": _arange, "copy_": _copy_,
    "index_put": _index_put, "index_put_": _index_put,
}


def exportable(name: str, attrs: dict) -> bool:
    """Whether a call of op ``name`` with ``attrs`` maps to ONNX directly (else it is traced
    through its decomposition)."""
    if name not in CONVERTERS:
        return False
    if name == "avg_pool2d":
        return not attrs.get("ceil_mode") and not attrs.get("divisor_override")
    if name == "max_pool2d":
        return not attrs.get("ceil_mode")
    if name == "index":
        return _simple_index(attrs.get("key"))
    return True


def _simple_index(key) -> bool:
    """One integer or bool array (plus full slices) in an advanced-indexing key."""
    key = key if isinstance(key, tuple) else (key,)
    arrays = [k for k in key if hasattr(k, "dtype")]
    rest = [k for k in key if not hasattr(k, "dtype")]
    return len(arrays) == 1 and all(k == slice(None) for k in rest)
