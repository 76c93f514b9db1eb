"""ONNX operator -> corefw ops: one handler per operator, ``fn(node, args, opset, dev)``.

``args`` are corefw Tensors (None for an omitted optional input); shape-like inputs (Reshape's
shape, Slice's starts ...) are read with ``.tolist()``, as the graph runs eagerly. Handlers use
corefw's public ops only, so an imported model runs on every backend and is differentiable.
:data:`ATTRS` lists the attributes each handler understands; :func:`check_node` refuses any
other (and unsupported values) when the model is loaded, naming the node.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import helper, numpy_helper

import corefw
import corefw.nn.functional as F

from ._handler_utils import ATTRS, VALUES
from ._handler_utils import attrs as _attrs
from ._handler_utils import unsupported as _unsupported
from ._handlers_nn import (
    _batch_norm,
    _celu,
    _conv,
    _conv_transpose,
    _dropout,
    _elu,
    _gelu,
    _gemm,
    _hard_sigmoid,
    _instance_norm,
    _layer_norm,
    _leaky,
    _pool,
    _prelu,
    _recurrent,
    _selu,
    _shrink,
    _softplus,
    _thresholded,
)
from .errors import UnsupportedOnnxError

__all__ = ["ATTRS", "HANDLERS", "check_node"]






def _ints(t) -> list[int]:
    return [int(v) for v in np.asarray(t.tolist(), np.int64).reshape(-1)]


def _const(arr, dev):
    return corefw.tensor(np.asarray(arr), device=dev)


def _dt(onnx_type: int):
    np_dt = helper.tensor_dtype_to_np_dtype(onnx_type)
    try:
        return getattr(corefw, np.dtype(np_dt).name)
    except AttributeError:
        raise TypeError(f"ONNX dtype {np.dtype(np_dt).name} has no corefw dtype") from None


def _bin(fn):
    def h(node, a, opset, dev):
        return fn(a[0], a[1])
    return h


def _un(fn):
    return lambda node, a, opset, dev: fn(a[0])


def _variadic(fn):
    def h(node, a, opset, dev):
        out = a[0]
        for x in a[1:]:
            out = fn(out, x)
        return out
    return h


def _idiv(x, y):
    """Integer division truncating toward zero (ONNX), not flooring (Python)."""
    q = corefw.abs(x) // corefw.abs(y)
    return corefw.where((x < 0) != (y < 0), -q, q)


def _mean(node, a, opset, dev):
    return _variadic(corefw.add)(node, a, opset, dev) / len(a)


def _axes(node, a, opset, at, pos=1):
    if "axes" in at:
        return list(at["axes"])
    if len(a) > pos and a[pos] is not None:
        return _ints(a[pos])
    return None


def _reduce(fn):
    def h(node, a, opset, dev):
        at = _attrs(node)
        x = a[0]
        axes = _axes(node, a, opset, at)
        keep = bool(at.get("keepdims", 1))
        if axes is None or axes == []:
            if at.get("noop_with_empty_axes", 0) and axes is not None or at.get(
                    "noop_with_empty_axes", 0) and axes is None:
                return x
            axes = list(range(x.ndim))
        axes = tuple(d % max(x.ndim, 1) for d in axes)
        return fn(x, axes, keep)
    return h


def _rsum(x, d, k):
    return corefw.sum(x, d, keepdim=k) if x.ndim else x


def _rmax(x, d, k):
    return corefw.amax(x, d, keepdim=k) if x.ndim else x


def _rmin(x, d, k):
    return corefw.amin(x, d, keepdim=k) if x.ndim else x


def _rmean(x, d, k):
    return corefw.mean(x, d, keepdim=k) if x.ndim else x


def _rprod(x, d, k):
    return corefw.prod(x, d, keepdim=k) if x.ndim else x


REDUCE = {
    "ReduceSum": _rsum, "ReduceMax": _rmax, "ReduceMin": _rmin, "ReduceMean": _rmean,
    "ReduceProd": _rprod,
    "ReduceSumSquare": lambda x, d, k: _rsum(x * x, d, k),
    "ReduceL1": lambda x, d, k: _rsum(corefw.abs(x), d, k),
    "ReduceL2": lambda x, d, k: corefw.sqrt(_rsum(x * x, d, k)),
    "ReduceLogSum": lambda x, d, k: corefw.log(_rsum(x, d, k)),
    "ReduceLogSumExp": lambda x, d, k: corefw.logsumexp(x, d, keepdim=k),
}


def _arg(fn):
    def h(node, a, opset, dev):
        at = _attrs(node)
        if at.get("select_last_index", 0):
            _unsupported(node, "select_last_index=1")
        return fn(a[0], at.get("axis", 0), keepdim=bool(at.get("keepdims", 1)))
    return h


def _reshape(node, a, opset, dev):
    x, shape = a[0], _ints(a[1])
    if _attrs(node).get("allowzero", 0):
        return x.reshape(shape)
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _transpose(node, a, opset, dev):
    perm = _attrs(node).get("perm") or list(range(a[0].ndim))[::-1]
    return a[0].permute(*perm)


def _expand(node, a, opset, dev):
    x, shape = a[0], _ints(a[1])
    nd = max(len(shape), x.ndim)
    shape = [1] * (nd - len(shape)) + shape
    xs = [1] * (nd - x.ndim) + list(x.shape)
    target = [s if s != 1 else xi for s, xi in zip(shape, xs)]
    return x.reshape(xs).expand(*target)


def _squeeze(node, a, opset, dev):
    axes = _axes(node, a, opset, _attrs(node))
    x = a[0]
    if axes is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    axes = {d % x.ndim for d in axes}
    return x.reshape([s for i, s in enumerate(x.shape) if i not in axes])


def _unsqueeze(node, a, opset, dev):
    axes = _axes(node, a, opset, _attrs(node))
    x = a[0]
    nd = x.ndim + len(axes)
    axes = {d % nd for d in axes}
    it = iter(x.shape)
    return x.reshape([1 if i in axes else next(it) for i in range(nd)])


def _concat(node, a, opset, dev):
    xs = [x for x in a if x is not None and (x.numel() or x.ndim > 1 or len(a) == 1)]
    return corefw.cat(xs or a[:1], _attrs(node)["axis"])


def _flatten(node, a, opset, dev):
    x = a[0]
    axis = _attrs(node).get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    lead = math.prod(x.shape[:axis])
    return x.reshape(lead, -1) if x.numel() else x.reshape(lead, math.prod(x.shape[axis:]))


def _shape(node, a, opset, dev):
    at = _attrs(node)
    dims = list(a[0].shape)
    n = len(dims)
    start = at.get("start", 0)
    end = at.get("end", n)
    start, end = max(0, min(n, start + n if start < 0 else start)), max(0, min(
        n, end + n if end < 0 else end))
    return _const(np.array(dims[start:end], np.int64), dev)


def _size(node, a, opset, dev):
    return _const(np.array(a[0].numel(), np.int64), dev)


def _slice(node, a, opset, dev):
    x = a[0]
    at = _attrs(node)
    if opset < 10:
        starts, ends = at["starts"], at["ends"]
        axes = at.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(a[1]), _ints(a[2])
        axes = _ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(starts)))
        steps = _ints(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(starts)
    key = [slice(None)] * x.ndim
    flips = []
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= x.ndim
        n = x.shape[ax]
        if st > 0:
            s = max(0, min(n, s + n if s < 0 else s))
            e = max(0, min(n, e + n if e < 0 else e))
            key[ax] = slice(s, max(s, e), st)
        else:
            s = max(-1, min(n - 1, s + n if s < 0 else s))
            e = max(-1, min(n - 1, e + n if e < 0 else e))
            # walk s, s+st, ... > e on the flipped axis
            count = max(0, -(-(s - e) // -st))
            fs = n - 1 - s
            key[ax] = slice(fs, fs + (count - 1) * -st + 1 if count else fs, -st)
            flips.append(ax)
    if flips:
        x = corefw.flip(x, flips)
    return x[tuple(key)]


def _gather(node, a, opset, dev):
    x, idx = a
    axis = _attrs(node).get("axis", 0) % x.ndim
    idx = corefw.where(idx < 0, idx + x.shape[axis], idx).long()
    key = (slice(None),) * axis + (idx,)
    return x[key]


def _gather_elements(node, a, opset, dev):
    x, idx = a
    axis = _attrs(node).get("axis", 0) % x.ndim
    idx = corefw.where(idx < 0, idx + x.shape[axis], idx).long()
    return corefw.gather(x, axis, idx)


def _scatter_elements(node, a, opset, dev):
    x, idx, upd = a
    at = _attrs(node)
    axis = at.get("axis", 0) % x.ndim
    idx = corefw.where(idx < 0, idx + x.shape[axis], idx).long()
    red = at.get("reduction", "none")
    if red == "add":
        return corefw.scatter_add(x, axis, idx, upd)
    if red != "none":
        _unsupported(node, f"reduction={red!r}")
    keep = corefw.scatter_add(corefw.zeros_like(x), axis, idx, corefw.ones_like(upd))
    zeroed = corefw.where(keep > 0, corefw.zeros_like(x), x)
    return corefw.scatter_add(zeroed, axis, idx, upd)


def _constant(node, a, opset, dev):
    at = _attrs(node)
    if "value" in at:
        return _const(numpy_helper.to_array(at["value"]), dev)
    for k, dt in (("value_float", np.float32), ("value_int", np.int64),
                  ("value_floats", np.float32), ("value_ints", np.int64)):
        if k in at:
            return _const(np.array(at[k], dt), dev)
    _unsupported(node, f"Constant with {sorted(at)}")


def _constant_of_shape(node, a, opset, dev):
    at = _attrs(node)
    val = numpy_helper.to_array(at["value"]).reshape(-1) if "value" in at else np.zeros(
        1, np.float32)
    return corefw.full(tuple(_ints(a[0])), val[0].item(), dtype=_dt(
        helper.np_dtype_to_tensor_dtype(val.dtype)), device=dev)


def _range(node, a, opset, dev):
    s, e, d = (x.item() for x in a)
    return corefw.arange(s, e, d, dtype=a[0].dtype, device=dev)


def _pad(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    mode = at.get("mode", "constant")
    if mode != "constant":
        _unsupported(node, f"mode={mode!r}")
    if opset < 11:
        pads, value = at["pads"], at.get("value", 0.0)
        axes = list(range(x.ndim))
    else:
        pads = _ints(a[1])
        value = a[2].item() if len(a) > 2 and a[2] is not None else 0
        axes = _ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(x.ndim))
    k = len(axes)
    per = {ax % x.ndim: (pads[i], pads[i + k]) for i, ax in enumerate(axes)}
    flat = []
    for d in reversed(range(x.ndim)):
        flat += list(per.get(d, (0, 0)))
    return corefw.pad(x, tuple(flat), value=value)


def _split(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    axis = at.get("axis", 0) % x.ndim
    if "split" in at:
        sizes = list(at["split"])
    elif len(a) > 1 and a[1] is not None:
        sizes = _ints(a[1])
    else:
        n = at.get("num_outputs", len(node.output))
        step = -(-x.shape[axis] // n)
        sizes = [min(step, x.shape[axis] - i * step) for i in range(n)]
    return tuple(corefw.split(x, sizes, axis))


def _tile(node, a, opset, dev):
    x, reps = a[0], _ints(a[1])
    out = x
    for ax, r in enumerate(reps):
        if r != 1:
            out = corefw.cat([out] * r, ax) if r else out[(slice(None),) * ax + (slice(0, 0),)]
    return out


def _cast(node, a, opset, dev):
    return a[0].to(_dt(_attrs(node)["to"]))


def _where(node, a, opset, dev):
    return corefw.where(a[0], a[1], a[2])


def _clip(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    lo = at.get("min") if opset < 11 else (a[1] if len(a) > 1 and a[1] is not None else None)
    hi = at.get("max") if opset < 11 else (a[2] if len(a) > 2 and a[2] is not None else None)
    if isinstance(lo, corefw.Tensor):
        x = corefw.maximum(x, lo.to(x.dtype))
    elif lo is not None:
        x = corefw.clamp(x, min=lo)
    if isinstance(hi, corefw.Tensor):
        x = corefw.minimum(x, hi.to(x.dtype))
    elif hi is not None:
        x = corefw.clamp(x, max=hi)
    return x


def _softmax(fn):
    def h(node, a, opset, dev):
        x = a[0]
        axis = _attrs(node).get("axis", -1 if opset >= 13 else 1) % max(x.ndim, 1)
        if opset >= 13:
            return fn(x, axis)
        shape = x.shape
        return fn(x.reshape(math.prod(shape[:axis]), -1), 1).reshape(shape)
    return h


def _mod(node, a, opset, dev):
    if _attrs(node).get("fmod", 0):
        return corefw.fmod(a[0], a[1])
    return corefw.remainder(a[0], a[1])


def _cumsum(node, a, opset, dev):
    at = _attrs(node)
    x, axis = a[0], int(a[1].item())
    if at.get("reverse", 0):
        x = corefw.flip(x, [axis])
    y = corefw.cumsum(x, axis).to(x.dtype)
    if at.get("exclusive", 0):
        y = y - x
    return corefw.flip(y, [axis]) if at.get("reverse", 0) else y


def _nonzero(node, a, opset, dev):
    return corefw.nonzero(a[0]).t()


def _einsum(node, a, opset, dev):
    return corefw.einsum(_attrs(node)["equation"], *a)


def _pow(node, a, opset, dev):
    y = corefw.pow(a[0], a[1].to(a[0].dtype) if a[1].dtype != a[0].dtype else a[1])
    return y


def _matmul(node, a, opset, dev):
    return corefw.matmul(a[0], a[1])


def _not(node, a, opset, dev):
    return corefw.logical_not(a[0])


def _isinf(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    pos = (x == math.inf) if at.get("detect_positive", 1) else corefw.zeros_like(x).bool()
    neg = (x == -math.inf) if at.get("detect_negative", 1) else corefw.zeros_like(x).bool()
    return corefw.logical_or(pos, neg)


def _trilu(node, a, opset, dev):
    k = int(a[1].item()) if len(a) > 1 and a[1] is not None else 0
    fn = corefw.triu if _attrs(node).get("upper", 1) else corefw.tril
    return fn(a[0], k)


def _compress(node, a, opset, dev):
    x, cond = a
    axis = _attrs(node).get("axis")
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis %= x.ndim
    idx = corefw.nonzero(cond[: x.shape[axis]]).reshape(-1)
    return x[(slice(None),) * axis + (idx,)]


def _global(fn):
    def h(node, a, opset, dev):
        x = a[0]
        return fn(x, tuple(range(2, x.ndim)), True)
    return h


HANDLERS = {
    "LSTM": _recurrent("LSTM"), "GRU": _recurrent("GRU"), "RNN": _recurrent("RNN"),
    "ConvTranspose": _conv_transpose, "InstanceNormalization": _instance_norm,
    "IsInf": _isinf, "Gelu": _gelu, "PRelu": _prelu, "Celu": _celu,
    "ThresholdedRelu": _thresholded, "Shrink": _shrink, "Trilu": _trilu, "Compress": _compress,
    "HardSwish": _un(lambda x: x * corefw.clamp(x / 6 + 0.5, 0.0, 1.0)),
    "Mish": _un(lambda x: x * corefw.tanh(F.softplus(x))),
    "Add": _bin(corefw.add), "Sub": _bin(corefw.sub), "Mul": _bin(corefw.mul),
    "Div": _bin(lambda x, y: corefw.div(x, y) if x.dtype.is_floating_point else _idiv(x, y)),
    "Pow": _pow, "Max": _variadic(corefw.maximum), "Min": _variadic(corefw.minimum),
    "Sum": _variadic(corefw.add), "Mean": _mean,
    "Equal": _bin(corefw.eq), "Less": _bin(corefw.lt), "LessOrEqual": _bin(corefw.le),
    "Greater": _bin(corefw.gt), "GreaterOrEqual": _bin(corefw.ge),
    "And": _bin(corefw.logical_and), "Or": _bin(corefw.logical_or),
    "Xor": _bin(corefw.bitwise_xor), "Not": _not, "Mod": _mod,
    "BitwiseAnd": _bin(corefw.bitwise_and), "BitwiseOr": _bin(corefw.bitwise_or),
    "BitwiseXor": _bin(corefw.bitwise_xor), "BitwiseNot": _un(corefw.bitwise_not),
    "Neg": _un(corefw.neg), "Exp": _un(corefw.exp), "Log": _un(corefw.log),
    "Sqrt": _un(corefw.sqrt), "Tanh": _un(corefw.tanh), "Sin": _un(corefw.sin),
    "Cos": _un(corefw.cos), "Tan": _un(corefw.tan), "Abs": _un(corefw.abs),
    "Sign": _un(corefw.sign), "Floor": _un(corefw.floor), "Ceil": _un(corefw.ceil),
    "Round": _un(corefw.round), "Erf": _un(corefw.erf), "Sigmoid": _un(corefw.sigmoid),
    "Relu": _un(corefw.relu), "Reciprocal": _un(corefw.reciprocal),
    "Identity": _un(lambda x: x), "IsNaN": _un(corefw.isnan),
    "Softsign": _un(lambda x: x / (1 + corefw.abs(x))), "Softplus": _softplus,
    "LeakyRelu": _leaky, "Elu": _elu, "Selu": _selu, "HardSigmoid": _hard_sigmoid,
    "Clip": _clip, "Where": _where, "Cast": _cast,
    "CastLike": lambda node, a, opset, dev: a[0].to(a[1].dtype),
    **{k: _reduce(v) for k, v in REDUCE.items()},
    "ArgMax": _arg(corefw.argmax), "ArgMin": _arg(corefw.argmin), "CumSum": _cumsum,
    "Softmax": _softmax(corefw.softmax), "LogSoftmax": _softmax(corefw.log_softmax),
    "Reshape": _reshape, "Transpose": _transpose, "Expand": _expand, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Concat": _concat, "Flatten": _flatten, "Shape": _shape,
    "Size": _size, "Slice": _slice, "Gather": _gather, "GatherElements": _gather_elements,
    "ScatterElements": _scatter_elements, "Constant": _constant,
    "ConstantOfShape": _constant_of_shape, "Range": _range, "Pad": _pad, "Split": _split,
    "Tile": _tile, "NonZero": _nonzero, "Einsum": _einsum,
    "MatMul": _matmul, "Gemm": _gemm, "Conv": _conv, "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"), "GlobalAveragePool": _global(_rmean),
    "GlobalMaxPool": _global(_rmax), "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm, "Dropout": _dropout,
}

def check_node(node, opset: int) -> None:
    """Refuse, naming the node, an operator or attribute the handlers do not implement."""
    if node.op_type not in HANDLERS:
        raise UnsupportedOnnxError(f"node {node.name!r}: ONNX operator {node.op_type!r} is not "
                                   f"supported by corefw-onnx (see docs/onnx.md for the list)")
    allowed = ATTRS.get(node.op_type, set())
    for a in node.attribute:
        if a.name not in allowed:
            raise UnsupportedOnnxError(f"node {node.name!r} ({node.op_type}): attribute "
                                       f"{a.name!r} is not supported by corefw-onnx")
        ok = VALUES.get((node.op_type, a.name))
        if ok is not None:
            v = helper.get_attribute_value(a)
            v = v.decode() if isinstance(v, bytes) else v
            if v not in ok:
                raise UnsupportedOnnxError(
                    f"node {node.name!r} ({node.op_type}): attribute {a.name}={v!r} is not "
                    f"supported by corefw-onnx (supported: {sorted(ok, key=str)})")
