"""ONNX tensor-manipulation operators (reshape, slicing, gathers and scatters, padding,
constants ...) -> corefw ops; part of :mod:`corefw_onnx._handlers`, same conventions."""

from __future__ import annotations

import math

import numpy as np
from onnx import helper, numpy_helper

import corefw

from ._handler_utils import attrs as _attrs
from ._handler_utils import axes as _axes
from ._handler_utils import const as _const
from ._handler_utils import dt as _dt
from ._handler_utils import ints as _ints
from ._handler_utils import unsupported as _unsupported


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
        name = {"mul": "prod", "max": "amax", "min": "amin"}[red]
        return corefw.scatter_reduce(x, axis, idx, upd, name, include_self=True)
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
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
            "wrap": "circular"}[at.get("mode", "constant")]
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
    if mode == "constant":
        return corefw.pad(x, tuple(flat), value=value)
    # corefw's non-constant modes pad trailing dims only: move the padded dims last
    lead = [d for d in range(x.ndim) if d not in per or per[d] == (0, 0)]
    moved = [d for d in range(x.ndim) if d not in lead]
    y = x.permute(*(lead + moved))
    flat = []
    for d in reversed(moved):
        flat += list(per[d])
    if not flat:
        return x
    y = corefw.pad(y, tuple(flat), mode=mode)
    back = np.argsort(lead + moved).tolist()
    return y.permute(*back)


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
