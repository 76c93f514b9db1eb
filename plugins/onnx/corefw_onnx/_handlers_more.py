"""More ONNX operators met in real models -> corefw ops: TopK, Hardmax, CumProd, GatherND,
ScatterND, OneHot, EyeLike, DepthToSpace/SpaceToDepth, ReverseSequence, the normalisations
(RMS, Group, LRN, Lp, MeanVariance), the losses (NegativeLogLikelihoodLoss,
SoftmaxCrossEntropyLoss), GridSample and the remaining elementwise functions. Part of
:mod:`corefw_onnx._handlers`, same conventions."""

from __future__ import annotations

import math

import numpy as np

import corefw
import corefw.nn.functional as F

from ._handler_utils import attrs as _attrs
from ._handler_utils import ints as _ints
from ._handler_utils import unsupported as _unsupported

__all__ = ["ATTRS", "HANDLERS"]


def _un(fn):
    return lambda node, a, opset, dev: fn(a[0])


def _topk(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    k = int(a[1].reshape(-1)[0].item()) if opset >= 10 else int(at["k"])
    axis = at.get("axis", -1) % x.ndim
    largest = bool(at.get("largest", 1))
    # ONNX breaks ties by the lower index: a stable sort of the values (negated for largest)
    key = -x if largest and x.dtype.is_floating_point else x
    if largest and not x.dtype.is_floating_point:
        key = -(x.to(corefw.int64))
    idx = corefw.argsort(key, dim=axis, stable=True)
    idx = idx[(slice(None),) * axis + (slice(0, k),)]
    return corefw.gather(x, axis, idx), idx


def _hardmax(node, a, opset, dev):
    x = a[0]
    axis = _attrs(node).get("axis", -1 if opset >= 13 else 1) % x.ndim
    if opset < 13:
        shape = x.shape
        return _hardmax_axis(x.reshape(math.prod(shape[:axis]), -1), 1).reshape(shape)
    return _hardmax_axis(x, axis)


def _hardmax_axis(x, axis):
    first = corefw.argmax(x, axis, keepdim=True)  # the first maximum, as ONNX
    pos = corefw.arange(x.shape[axis], device=x.device).reshape(
        [-1 if d == axis else 1 for d in range(x.ndim)])
    return (pos == first).to(x.dtype)


def _cumprod(node, a, opset, dev):
    at = _attrs(node)
    x, axis = a[0], int(a[1].item())
    if at.get("reverse", 0):
        x = corefw.flip(x, [axis])
    y = corefw.cumprod(x, axis).to(x.dtype)
    if at.get("exclusive", 0):
        one = corefw.ones_like(x[(slice(None),) * (axis % x.ndim) + (slice(0, 1),)])
        y = corefw.cat([one, y[(slice(None),) * (axis % x.ndim) + (slice(0, -1),)]], axis)
    return corefw.flip(y, [axis]) if at.get("reverse", 0) else y


def _nd_index(data, idx, batch: int):
    """Flat positions (over data's first ``batch + m`` dims) of GatherND/ScatterND indices."""
    m = idx.shape[-1]
    dims = data.shape[:batch + m]
    idx = corefw.where(idx < 0, idx + corefw.tensor(list(dims[batch:]), device=idx.device),
                       idx)
    strides = [math.prod(dims[i + 1:]) for i in range(len(dims))]
    flat = (idx * corefw.tensor(strides[batch:], device=idx.device)).sum(-1)
    if batch:
        b = corefw.arange(math.prod(dims[:batch]), device=idx.device).reshape(
            tuple(dims[:batch]) + (1,) * (idx.ndim - 1 - batch))
        flat = flat + b * strides[batch - 1]
    return flat, math.prod(dims)


def _gather_nd(node, a, opset, dev):
    data, idx = a
    batch = _attrs(node).get("batch_dims", 0)
    flat, n = _nd_index(data, idx, batch)
    rest = tuple(data.shape[batch + idx.shape[-1]:])
    rows = data.reshape((n,) + rest)
    return corefw.index_select(rows, 0, flat.reshape(-1)).reshape(tuple(flat.shape) + rest)


def _scatter_nd(node, a, opset, dev):
    data, idx, upd = a
    red = _attrs(node).get("reduction", "none")
    flat, n = _nd_index(data, idx, 0)
    rest = tuple(data.shape[idx.shape[-1]:])
    rows = data.reshape((n, math.prod(rest)))
    u = upd.reshape((-1, math.prod(rest)))
    index = flat.reshape(-1, 1).expand(u.shape[0], u.shape[1])
    if red == "none":
        out = corefw.scatter(rows, 0, index, u)
    else:
        name = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}[red]
        out = corefw.scatter_reduce(rows, 0, index, u, name, include_self=True)
    return out.reshape(tuple(data.shape))


def _one_hot(node, a, opset, dev):
    idx, depth, values = a
    axis = _attrs(node).get("axis", -1)
    d = int(depth.reshape(-1)[0].item())
    idx = idx.to(corefw.int64)
    idx = corefw.where(idx < 0, idx + d, idx)
    axis = axis % (idx.ndim + 1)
    pos = corefw.arange(d, device=idx.device).reshape(
        [-1 if i == axis else 1 for i in range(idx.ndim + 1)])
    hot = pos == idx.unsqueeze(axis)
    return corefw.where(hot, values[1], values[0])


def _eye_like(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    from ._handler_utils import dt
    dtype = dt(at["dtype"]) if "dtype" in at else x.dtype
    n, m = x.shape
    k = at.get("k", 0)
    rows = corefw.arange(n, device=x.device).reshape(-1, 1)
    cols = corefw.arange(m, device=x.device).reshape(1, -1)
    return (cols - rows == k).to(dtype)


def _depth_to_space(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    b = at["blocksize"]
    n, c, h, w = x.shape
    if at.get("mode", "DCR") == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (b * b), h * b, w * b)


def _space_to_depth(node, a, opset, dev):
    at = _attrs(node)
    b = at["blocksize"]
    x = a[0]
    n, c, h, w = x.shape
    perm = (0, 3, 5, 1, 2, 4) if at.get("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4)
    y = x.reshape(n, c, h // b, b, w // b, b).permute(*perm)
    return y.reshape(n, c * b * b, h // b, w // b)


def _reverse_sequence(node, a, opset, dev):
    at = _attrs(node)
    x, lens = a
    t_ax, b_ax = at.get("time_axis", 0), at.get("batch_axis", 1)
    t = x.shape[t_ax]
    pos = np.arange(t)
    idx = np.stack([np.where(pos < n, n - 1 - pos, pos) for n in _ints(lens)], axis=b_ax)
    shape = [1] * x.ndim
    shape[t_ax], shape[b_ax] = idx.shape[t_ax], idx.shape[b_ax]
    index = corefw.tensor(idx.reshape(shape), device=x.device).expand(*x.shape)
    return corefw.gather(x, t_ax, index)


def _rms_norm(node, a, opset, dev):
    at = _attrs(node)
    x, scale = a[0], a[1]
    axis = at.get("axis", -1) % x.ndim
    dims = tuple(range(axis, x.ndim))
    inv = corefw.rsqrt(corefw.mean(x * x, dims, keepdim=True) + at.get("epsilon", 1e-5))
    return x * inv * scale


def _group_norm(node, a, opset, dev):
    at = _attrs(node)
    x, scale, bias = a
    g = at["num_groups"]
    n, c = x.shape[:2]
    xs = x.reshape(n, g, -1)
    mean = corefw.mean(xs, 2, keepdim=True)
    cen = xs - mean
    y = (cen * corefw.rsqrt(corefw.mean(cen * cen, 2, keepdim=True) + at.get("epsilon", 1e-5))
         ).reshape(tuple(x.shape))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if scale.shape[0] != c:  # opset 18's per-group scale and bias
        scale, bias = (t.repeat_interleave(c // g) for t in (scale, bias))
    return y * scale.reshape(shape) + bias.reshape(shape)


def _lrn(node, a, opset, dev):
    at = _attrs(node)
    size = at["size"]
    x = a[0]
    sq = (x * x).unsqueeze(1)  # (N, 1, C, ...): pool over channels
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = corefw.pad(sq, (0, 0) * (x.ndim - 2) + (lo, hi))
    win = sum(sq[:, :, i:i + x.shape[1]] for i in range(size)).squeeze(1)
    return x / (at.get("bias", 1.0) + at.get("alpha", 1e-4) / size * win) ** at.get("beta", 0.75)


def _lp_norm(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    axis, p = at.get("axis", -1), at.get("p", 2)
    n = corefw.sum(corefw.abs(x), axis, keepdim=True) if p == 1 else corefw.sqrt(
        corefw.sum(x * x, axis, keepdim=True))
    return corefw.where(n == 0, corefw.zeros_like(x), x / corefw.where(n == 0, 1.0, n))


def _mvn(node, a, opset, dev):
    x = a[0]
    axes = tuple(_attrs(node).get("axes", [0, 2, 3]))
    mean = corefw.mean(x, axes, keepdim=True)
    cen = x - mean
    return cen / (corefw.sqrt(corefw.mean(cen * cen, axes, keepdim=True)) + 1e-9)


def _nll(node, a, opset, dev, log_prob=None):
    at = _attrs(node)
    x, target = a[0], a[1]
    weight = a[2] if len(a) > 2 else None
    ignore = at.get("ignore_index")
    red = at.get("reduction", "mean")
    target = target.to(corefw.int64)
    safe = target if ignore is None else corefw.where(target == ignore, 0, target)
    picked = -corefw.gather(x, 1, safe.unsqueeze(1)).squeeze(1)
    w = corefw.ones_like(picked) if weight is None else weight[safe]
    if ignore is not None:
        w = corefw.where(target == ignore, corefw.zeros_like(w), w)
    loss = picked * w
    if red == "none":
        return loss
    if red == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def _softmax_ce(node, a, opset, dev):
    x = a[0]
    logp = corefw.log_softmax(x, 1)
    loss = _nll(node, [logp] + list(a[1:]), opset, dev)
    return (loss, logp) if len(node.output) > 1 else loss


def _grid_sample(node, a, opset, dev):
    at = _attrs(node)
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(at.get("mode", "linear"),
                                                          at.get("mode", "linear"))
    if a[0].ndim != 4:
        _unsupported(node, f"a {a[0].ndim - 2}-D GridSample")
    if mode == "bicubic":
        _unsupported(node, "mode='cubic' (corefw's grid_sample has bilinear and nearest)")
    return F.grid_sample(a[0], a[1], mode=mode, padding_mode=at.get("padding_mode", "zeros"),
                         align_corners=bool(at.get("align_corners", 0)))


def _heads(x, n):
    """(B, S, n * hs) -> (B, n, S, hs); 4-D inputs are already split into heads."""
    if x.ndim == 4:
        return x
    b, s, _ = x.shape
    return x.reshape(b, s, n, -1).permute(0, 2, 1, 3)


def _attention(node, a, opset, dev):
    """ONNX Attention (opset 23+), as its reference: scaled QK^T (scale split between Q and
    K), softcap, additive or boolean mask, causal mask aligned to the end of the cache,
    grouped-query heads, past key/value concatenation; fully masked rows give zeros."""
    at = _attrs(node)
    a = list(a) + [None] * (7 - len(a))
    q, k, v, mask, past_k, past_v = a[:6]
    if a[6] is not None:
        _unsupported(node, "the nonpad_kv_seqlen input")
    three = q.ndim == 3
    qh = at.get("q_num_heads")
    kvh = at.get("kv_num_heads")
    q, k, v = _heads(q, qh), _heads(k, kvh), _heads(v, kvh)
    scale = at.get("scale", 1.0 / math.sqrt(q.shape[3]))
    if past_k is not None:
        k, v = corefw.cat([past_k, k], 2), corefw.cat([past_v, v], 2)
    present_k, present_v = k, v
    sq, skv = q.shape[2], k.shape[2]
    bias = np.zeros((sq, skv))
    if at.get("is_causal", 0):
        off = past_k.shape[2] if past_k is not None else 0
        allowed = np.arange(skv)[None, :] <= np.arange(sq)[:, None] + off
        bias = np.where(allowed, 0.0, -np.inf)
    bias = corefw.tensor(bias, dtype=q.dtype, device=q.device)
    if mask is not None:
        if mask.shape[-1] < skv:  # a mask for the new keys only: the rest is masked
            pad = (0, skv - mask.shape[-1])
            mask = corefw.pad(mask.to(corefw.float32), pad, value=0.0).bool() if (
                mask.dtype == corefw.bool) else corefw.pad(mask, pad, value=-math.inf)
        if mask.dtype == corefw.bool:
            mask = corefw.where(mask, 0.0, -math.inf).to(q.dtype)
        bias = bias + mask
    if q.shape[1] != k.shape[1]:  # grouped-query attention
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    root = math.sqrt(scale)
    qk = (q * root) @ (k * root).transpose(-1, -2)
    cap = at.get("softcap", 0.0)
    if cap and cap > 0:
        qk = corefw.tanh(qk / cap) * cap
    scores = qk + bias
    dead = corefw.amax(bias.expand(*scores.shape) if bias.ndim < scores.ndim else bias, -1,
                       keepdim=True) == -math.inf
    safe = corefw.where(dead, corefw.zeros_like(scores), scores)
    probs = corefw.where(dead, corefw.zeros_like(scores), corefw.softmax(safe, -1))
    y = probs @ v
    if three:
        y = y.permute(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
    mode = at.get("qk_matmul_output_mode", 0)
    extra = {0: qk, 1: qk, 2: scores, 3: probs}[mode]
    return y, present_k, present_v, extra


def _swish(node, a, opset, dev):
    alpha = _attrs(node).get("alpha", 1.0)
    return a[0] * corefw.sigmoid(a[0] * alpha)


HANDLERS = {
    "TopK": _topk, "Hardmax": _hardmax, "CumProd": _cumprod, "GatherND": _gather_nd,
    "ScatterND": _scatter_nd, "OneHot": _one_hot, "EyeLike": _eye_like,
    "DepthToSpace": _depth_to_space, "SpaceToDepth": _space_to_depth,
    "ReverseSequence": _reverse_sequence, "RMSNormalization": _rms_norm,
    "GroupNormalization": _group_norm, "LRN": _lrn, "LpNormalization": _lp_norm,
    "MeanVarianceNormalization": _mvn, "NegativeLogLikelihoodLoss": _nll,
    "SoftmaxCrossEntropyLoss": _softmax_ce, "Attention": _attention,
    "GridSample": _grid_sample, "Swish": _swish,
    "Sinh": _un(corefw.sinh), "Cosh": _un(corefw.cosh), "Asin": _un(corefw.asin),
    "Acos": _un(corefw.acos), "Atan": _un(corefw.atan), "Asinh": _un(corefw.asinh),
    "Acosh": _un(corefw.acosh), "Atanh": _un(corefw.atanh),
}

ATTRS = {
    "TopK": {"axis", "largest", "sorted", "k"}, "Hardmax": {"axis"},
    "CumProd": {"exclusive", "reverse"}, "GatherND": {"batch_dims"},
    "ScatterND": {"reduction"}, "OneHot": {"axis"}, "EyeLike": {"dtype", "k"},
    "DepthToSpace": {"blocksize", "mode"}, "SpaceToDepth": {"blocksize", "mode"},
    "ReverseSequence": {"time_axis", "batch_axis"}, "RMSNormalization": {"axis", "epsilon",
                                                                          "stash_type"},
    "GroupNormalization": {"num_groups", "epsilon", "stash_type"},
    "LRN": {"size", "alpha", "beta", "bias"}, "LpNormalization": {"axis", "p"},
    "MeanVarianceNormalization": {"axes"},
    "NegativeLogLikelihoodLoss": {"reduction", "ignore_index"},
    "SoftmaxCrossEntropyLoss": {"reduction", "ignore_index"},
    "GridSample": {"mode", "padding_mode", "align_corners"}, "Swish": {"alpha"},
    "Attention": {"is_causal", "kv_num_heads", "q_num_heads", "qk_matmul_output_mode",
                  "scale", "softcap", "softmax_precision"},
}
