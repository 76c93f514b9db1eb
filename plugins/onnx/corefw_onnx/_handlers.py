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
import onnx
from onnx import helper

import corefw
import corefw.nn.functional as F

from . import _handlers_control, _handlers_conv, _handlers_more, _handlers_resize
from ._handler_utils import ATTRS, VALUES
from ._handler_utils import attrs as _attrs
from ._handler_utils import axes as _axes
from ._handler_utils import dt as _dt
from ._handlers_nn import (
    _batch_norm,
    _celu,
    _dropout,
    _elu,
    _gelu,
    _gemm,
    _hard_sigmoid,
    _instance_norm,
    _layer_norm,
    _leaky,
    _prelu,
    _recurrent,
    _selu,
    _shrink,
    _softplus,
    _thresholded,
)
from ._handlers_tensor import (
    _compress,
    _concat,
    _constant,
    _constant_of_shape,
    _expand,
    _flatten,
    _gather,
    _gather_elements,
    _pad,
    _range,
    _reshape,
    _scatter_elements,
    _shape,
    _size,
    _slice,
    _split,
    _squeeze,
    _tile,
    _transpose,
    _trilu,
    _unsqueeze,
)
from .errors import UnsupportedOnnxError

__all__ = ["ATTRS", "HANDLERS", "check_node"]


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


def _empty_reduce(x, d, k, largest: bool):
    """ONNX reduces an empty axis to the identity: -inf (max) or +inf (min), the dtype's
    extreme for integers, False/True for bool; corefw's amax/amin refuse it, as PyTorch."""
    shape = tuple(1 if i in d else n for i, n in enumerate(x.shape) if k or i not in d)
    if x.dtype == corefw.bool:
        fill = not largest
    elif x.dtype.is_floating_point:
        fill = -math.inf if largest else math.inf
    else:
        info = np.iinfo(np.dtype(x.dtype.name))
        fill = int(info.min if largest else info.max)
    return corefw.full(shape, fill, dtype=x.dtype, device=x.device)


def _rmax(x, d, k):
    if x.ndim and any(x.shape[i] == 0 for i in d):
        return _empty_reduce(x, d, k, largest=True)
    return corefw.amax(x, d, keepdim=k) if x.ndim else x


def _rmin(x, d, k):
    if x.ndim and any(x.shape[i] == 0 for i in d):
        return _empty_reduce(x, d, k, largest=False)
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
        axis, keep = at.get("axis", 0) % max(a[0].ndim, 1), bool(at.get("keepdims", 1))
        if at.get("select_last_index", 0):  # the first hit from the end, counted from the start
            i = fn(corefw.flip(a[0], [axis]), axis, keepdim=keep)
            return (a[0].shape[axis] - 1) - i
        return fn(a[0], axis, keepdim=keep)
    return h


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


def _global(fn):
    def h(node, a, opset, dev):
        x = a[0]
        return fn(x, tuple(range(2, x.ndim)), True)
    return h


HANDLERS = {
    "LSTM": _recurrent("LSTM"), "GRU": _recurrent("GRU"), "RNN": _recurrent("RNN"),
    "InstanceNormalization": _instance_norm,
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
    "MatMul": _matmul, "Gemm": _gemm, "GlobalAveragePool": _global(_rmean),
    "GlobalMaxPool": _global(_rmax), "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm, "Dropout": _dropout,
}

# the other families, each with its handlers and the attributes they understand
for _family in (_handlers_conv, _handlers_resize, _handlers_control, _handlers_more):
    HANDLERS.update(_family.HANDLERS)
    ATTRS.update(_family.ATTRS)


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
        if a.type == onnx.AttributeProto.GRAPH:  # a subgraph's nodes are checked too
            for inner in a.g.node:
                check_node(inner, opset)
