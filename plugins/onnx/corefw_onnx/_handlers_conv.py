"""ONNX convolution and pooling operators -> corefw ops, 1-D to 3-D: Conv, ConvTranspose,
MaxPool (with its Indices output), AveragePool, LpPool, GlobalLpPool, MaxUnpool; every
``auto_pad`` mode and asymmetric pads (padded explicitly). Part of
:mod:`corefw_onnx._handlers`, same conventions."""

from __future__ import annotations

import itertools
import math

import corefw
import corefw.nn.functional as F

from ._handler_utils import attrs as _attrs
from ._handler_utils import ints as _ints
from ._handler_utils import unsupported as _unsupported

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _nd(node, x, what: str) -> int:
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        _unsupported(node, f"a {nd}-D {what}")
    return nd


def _pads(node, at, shape, k, strides, dil) -> list[int]:
    """ONNX ``pads`` (begins then ends) with ``auto_pad`` resolved for these sizes."""
    nd = len(k)
    mode = at.get("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for n, kk, s, d in zip(shape, k, strides, dil):
            total = max((-(-n // s) - 1) * s + (kk - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            begins.append(small if mode == "SAME_UPPER" else big)
            ends.append(big if mode == "SAME_UPPER" else small)
        return begins + ends
    if mode == "VALID":
        return [0] * (2 * nd)
    return list(at.get("pads", [0] * (2 * nd)))


def _explicit(x, pads, value=0.0):
    """Pad ``x``'s spatial dims by ONNX ``pads`` (corefw.pad takes the last dim first)."""
    nd = len(pads) // 2
    flat = []
    for i in reversed(range(nd)):
        flat += [pads[i], pads[i + nd]]
    return corefw.pad(x, tuple(flat), value=value) if any(flat) else x


def _geometry(node, at, x, k):
    nd = len(k)
    strides = list(at.get("strides", [1] * nd))
    dil = list(at.get("dilations", [1] * nd))
    return strides, dil, _pads(node, at, x.shape[2:], k, strides, dil)


def _conv(node, a, opset, dev):
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    at = _attrs(node)
    nd = _nd(node, x, "convolution")
    k = list(at.get("kernel_shape", w.shape[2:]))
    strides, dil, pads = _geometry(node, at, x, k)
    if pads[:nd] != pads[nd:]:
        x, pad = _explicit(x, pads), (0,) * nd
    else:
        pad = tuple(pads[:nd])
    return _CONV[nd](x, w, b, stride=tuple(strides), padding=pad, dilation=tuple(dil),
                     groups=at.get("group", 1))


def _conv_transpose(node, a, opset, dev):
    """The full transposed convolution (no padding), then cropped by ``pads`` and extended by
    ``output_padding`` (zeros), then the bias: every pads/output_shape/auto_pad combination."""
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    at = _attrs(node)
    nd = _nd(node, x, "transposed convolution")
    k = list(at.get("kernel_shape", w.shape[2:]))
    strides = list(at.get("strides", [1] * nd))
    dil = list(at.get("dilations", [1] * nd))
    outpad = list(at.get("output_padding", [0] * nd))
    full = [(n - 1) * s + (kk - 1) * d + 1 for n, s, kk, d in zip(x.shape[2:], strides, k, dil)]
    mode = at.get("auto_pad", "NOTSET")
    if "output_shape" in at or mode in ("SAME_UPPER", "SAME_LOWER"):
        want = list(at["output_shape"])[-nd:] if "output_shape" in at else [
            n * s for n, s in zip(x.shape[2:], strides)]
        begins, ends = [], []
        for f, o, p in zip(full, want, outpad):
            total = f + p - o
            small, big = total // 2, total - total // 2
            upper = mode == "SAME_UPPER"
            begins.append(small if upper else big)
            ends.append(big if upper else small)
        pads = begins + ends
    elif mode == "VALID":
        pads = [0] * (2 * nd)
    else:
        pads = list(at.get("pads", [0] * (2 * nd)))
    y = _CONVT[nd](x, w, None, stride=tuple(strides), groups=at.get("group", 1),
                   dilation=tuple(dil))
    grow = [max(pads[nd + i] - outpad[i], 0) for i in range(nd)]
    extra = [max(outpad[i] - pads[nd + i], 0) for i in range(nd)]
    y = _explicit(y, [0] * nd + extra)
    key = (slice(None), slice(None)) + tuple(
        slice(pads[i], y.shape[2 + i] - grow[i]) for i in range(nd))
    y = y[key]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nd)
    return y


def _pool(kind):
    def h(node, a, opset, dev):
        at = _attrs(node)
        x = a[0]
        nd = _nd(node, x, "pooling")
        k = list(at["kernel_shape"])
        strides, dil, pads = _geometry(node, at, x, k)
        ceil = bool(at.get("ceil_mode", 0))
        if kind == "max":
            return _max(node, x, k, strides, dil, pads, ceil)
        include = bool(at.get("count_include_pad", 0))
        half = [kk // 2 for kk in k]
        if any(d != 1 for d in dil):
            ones = corefw.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
            mask = _explicit(ones, pads, value=1.0 if include else 0.0)
            return (_window_sum(_explicit(x, pads), k, strides, dil, ceil)
                    / _window_sum(mask, k, strides, dil, ceil))
        if pads[:nd] == pads[nd:] and all(p <= hh for p, hh in zip(pads, half)):
            return _AVG[nd](x, tuple(k), tuple(strides), tuple(pads[:nd]), ceil_mode=ceil,
                            count_include_pad=include)
        # pads the layer cannot take: pool the zero-padded input; the divisor is the pooled
        # count of real (or, with count_include_pad, padded) positions
        xp = _explicit(x, pads)
        ones = corefw.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        mask = _explicit(ones, pads, value=1.0 if include else 0.0)
        num = _AVG[nd](xp, tuple(k), tuple(strides), 0, ceil_mode=ceil, count_include_pad=True)
        den = _AVG[nd](mask, tuple(k), tuple(strides), 0, ceil_mode=ceil,
                       count_include_pad=True)
        return num / den
    return h


def _window_sum(x, k, strides, dil, ceil):
    """Sum over each (dilated) pooling window of an already padded ``x``: one strided slice
    per kernel offset. With ``ceil``, a last window that starts inside ``x`` is summed over the
    part inside."""
    nd = len(k)
    spans = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
    sizes = x.shape[2:]
    outs = []
    for n, sp, s in zip(sizes, spans, strides):
        o = (n - sp + (s - 1 if ceil else 0)) // s + 1
        if ceil and (o - 1) * s >= n:
            o -= 1
        outs.append(o)
    grow = [max((o - 1) * s + sp - n, 0) for o, s, sp, n in zip(outs, strides, spans, sizes)]
    x = _explicit(x, [0] * nd + grow)
    total = None
    for offset in itertools.product(*(range(kk) for kk in k)):
        key = (slice(None), slice(None)) + tuple(
            slice(j * d, j * d + (o - 1) * s + 1, s)
            for j, d, o, s in zip(offset, dil, outs, strides))
        total = x[key] if total is None else total + x[key]
    return total


def _max(node, x, k, strides, dil, pads, ceil):
    nd = len(k)
    half = [kk // 2 for kk in k]
    indices = len(node.output) > 1 and node.output[1]
    if pads[:nd] != pads[nd:] or any(p > hh for p, hh in zip(pads, half)):
        if indices:
            _unsupported(node, f"the Indices output with pads {pads}")
        # pad with -inf explicitly, then pool unpadded
        x, pads = _explicit(x, pads, value=-math.inf), [0] * (2 * nd)
    if not x.dtype.is_floating_point:  # integer pools: exact in float64, then back
        y = _max(node, x.to(corefw.float64), k, strides, dil, pads, ceil)
        return (y[0].to(x.dtype), y[1]) if isinstance(y, tuple) else y.to(x.dtype)
    out = _MAX[nd](x, tuple(k), tuple(strides), tuple(pads[:nd]), tuple(dil), ceil_mode=ceil,
                   return_indices=bool(indices))
    if not indices:
        return out
    y, idx = out
    # corefw's indices count within one (n, c) plane; ONNX's over the whole tensor
    plane = math.prod(x.shape[2:])
    if _attrs(node).get("storage_order", 0):  # column-major positions within the plane
        if nd != 2:
            _unsupported(node, f"storage_order=1 in a {nd}-D MaxPool")
        idx = (idx % x.shape[3]) * x.shape[2] + idx // x.shape[3]
    base = corefw.arange(x.shape[0] * x.shape[1], device=x.device).reshape(
        (x.shape[0], x.shape[1]) + (1,) * nd) * plane
    return y, idx + base


def _lp_pool(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    _nd(node, x, "LpPool")
    p = float(at.get("p", 2))
    k = list(at["kernel_shape"])
    strides, dil, pads = _geometry(node, at, x, k)
    xp = _explicit(corefw.abs(x) ** p, pads)
    return _window_sum(xp, k, strides, dil, bool(at.get("ceil_mode", 0))) ** (1.0 / p)


def _global_lp_pool(node, a, opset, dev):
    x = a[0]
    p = float(_attrs(node).get("p", 2))
    dims = tuple(range(2, x.ndim))
    return corefw.sum(corefw.abs(x) ** p, dims, keepdim=True) ** (1.0 / p)


def _max_unpool(node, a, opset, dev):
    """Scatter each value to its (whole-tensor) flat index in a zero output."""
    at = _attrs(node)
    x, idx = a[0], a[1]
    nd = _nd(node, x, "MaxUnpool")
    k = list(at["kernel_shape"])
    strides = list(at.get("strides", [1] * nd))
    pads = list(at.get("pads", [0] * (2 * nd)))
    shape = tuple(x.shape[:2]) + tuple(
        (n - 1) * s - pads[i] - pads[i + nd] + kk
        for i, (n, s, kk) in enumerate(zip(x.shape[2:], strides, k)))
    out = corefw.zeros(math.prod(shape), dtype=x.dtype, device=x.device)
    out = corefw.scatter(out, 0, idx.reshape(-1), x.reshape(-1)).reshape(shape)
    if len(a) > 2 and a[2] is not None:  # a larger output_shape: zeros after each axis
        want = _ints(a[2])[2:]
        out = _explicit(out, [0] * nd + [w - n for w, n in zip(want, shape[2:])])
    return out


HANDLERS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"), "LpPool": _lp_pool, "GlobalLpPool": _global_lp_pool,
    "MaxUnpool": _max_unpool,
}

_GEOMETRY = {"pads", "strides", "dilations", "kernel_shape", "auto_pad"}
ATTRS = {
    "Conv": _GEOMETRY | {"group"},
    "ConvTranspose": _GEOMETRY | {"group", "output_padding", "output_shape"},
    "MaxPool": _GEOMETRY | {"ceil_mode", "storage_order"},
    "AveragePool": _GEOMETRY | {"ceil_mode", "count_include_pad"},
    "LpPool": _GEOMETRY | {"ceil_mode", "p"}, "GlobalLpPool": {"p"},
    "MaxUnpool": {"kernel_shape", "pads", "strides"},
}
