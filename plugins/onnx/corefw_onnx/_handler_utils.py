"""Shared helpers of the ONNX operator handlers."""

from __future__ import annotations

import numpy as np
from onnx import helper

import corefw

from .errors import UnsupportedOnnxError

__all__ = ["ATTRS", "VALUES", "attrs", "axes", "const", "dt", "ints", "unsupported"]


def attrs(node) -> dict:
    """A node's attributes as Python values (strings decoded)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def ints(t) -> list[int]:
    return [int(v) for v in np.asarray(t.tolist(), np.int64).reshape(-1)]


def const(arr, dev):
    return corefw.tensor(np.asarray(arr), device=dev)


def dt(onnx_type: int):
    np_dt = helper.tensor_dtype_to_np_dtype(onnx_type)
    try:
        return getattr(corefw, np.dtype(np_dt).name)
    except AttributeError:
        raise TypeError(f"ONNX dtype {np.dtype(np_dt).name} has no corefw dtype") from None


def axes(node, a, opset, at, pos=1):
    if "axes" in at:
        return list(at["axes"])
    if len(a) > pos and a[pos] is not None:
        return ints(a[pos])
    return None


def unsupported(node, what: str):
    """Raise UnsupportedOnnxError naming the node."""
    raise UnsupportedOnnxError(f"node {node.name!r} ({node.op_type}): {what} is not supported "
                               f"by corefw-onnx")


#: Attributes each operator's handler understands (anything else is refused at load).
ATTRS: dict[str, set[str]] = {
    "Gemm": {"alpha", "beta", "transA", "transB"},
    "BatchNormalization": {"epsilon", "momentum", "training_mode", "spatial"},
    "LayerNormalization": {"axis", "epsilon", "stash_type"},
    "Softmax": {"axis"}, "LogSoftmax": {"axis"}, "Cast": {"to", "saturate"},
    "Reshape": {"allowzero"}, "Transpose": {"perm"}, "Squeeze": {"axes"},
    "Unsqueeze": {"axes"}, "Concat": {"axis"}, "Flatten": {"axis"}, "Shape": {"start", "end"},
    "Slice": {"starts", "ends", "axes"}, "Gather": {"axis"}, "GatherElements": {"axis"},
    "ScatterElements": {"axis", "reduction"},
    "Constant": {"value", "value_float", "value_int", "value_floats", "value_ints"},
    "ConstantOfShape": {"value"}, "Pad": {"mode", "pads", "value"},
    "Split": {"axis", "split", "num_outputs"}, "Clip": {"min", "max"},
    "ArgMax": {"axis", "keepdims", "select_last_index"},
    "ArgMin": {"axis", "keepdims", "select_last_index"}, "CumSum": {"exclusive", "reverse"},
    "LeakyRelu": {"alpha"}, "Elu": {"alpha"}, "Selu": {"alpha", "gamma"},
    "HardSigmoid": {"alpha", "beta"}, "Mod": {"fmod"}, "Einsum": {"equation"},
    **{k: {"hidden_size", "direction", "layout", "clip", "activations", "activation_alpha",
           "activation_beta", "linear_before_reset", "input_forget"}
       for k in ("LSTM", "GRU", "RNN")},
    "Dropout": {"ratio", "seed"}, "InstanceNormalization": {"epsilon"},
    "IsInf": {"detect_positive", "detect_negative"},
    "Gelu": {"approximate"}, "Celu": {"alpha"}, "ThresholdedRelu": {"alpha"},
    "Shrink": {"lambd", "bias"}, "Trilu": {"upper"}, "Compress": {"axis"},
    **{k: {"axes", "keepdims", "noop_with_empty_axes"} for k in (
        "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceSumSquare",
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp")},
}


#: Attribute values the handlers implement, where not every value is (checked at load).
VALUES: dict[tuple[str, str], set] = {
    ("Pad", "mode"): {"constant", "reflect", "edge", "wrap"},
    ("BatchNormalization", "training_mode"): {0},
}
