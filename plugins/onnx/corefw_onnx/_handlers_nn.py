"""ONNX neural-network operators -> corefw ops (Gemm, Conv, pooling, normalisation,
activations); the other half of :mod:`corefw_onnx._handlers`, same conventions."""

from __future__ import annotations

import corefw
import corefw.nn.functional as F

from ._handler_utils import attrs as _attrs
from ._handler_utils import unsupported as _unsupported


def _gemm(node, a, opset, dev):
    at = _attrs(node)
    x, w = a[0], a[1]
    if at.get("transA", 0):
        x = x.t()
    if at.get("transB", 0):
        w = w.t()
    y = (x @ w) * at.get("alpha", 1.0) if at.get("alpha", 1.0) != 1.0 else x @ w
    if len(a) > 2 and a[2] is not None:
        c = a[2] * at.get("beta", 1.0) if at.get("beta", 1.0) != 1.0 else a[2]
        y = y + c
    return y


def _batch_norm(node, a, opset, dev):
    at = _attrs(node)
    if at.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        _unsupported(node, "training_mode (only inference BatchNormalization)")
    x, scale, bias, mean, var = a[:5]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = corefw.rsqrt(var.reshape(shape) + at.get("epsilon", 1e-5))
    return (x - mean.reshape(shape)) * inv * scale.reshape(shape) + bias.reshape(shape)


def _layer_norm(node, a, opset, dev):
    at = _attrs(node)
    x, scale = a[0], a[1]
    bias = a[2] if len(a) > 2 else None
    axis = at.get("axis", -1) % x.ndim
    shape = tuple(x.shape[axis:])
    if len(node.output) > 1:  # Mean and InvStdDev wanted too: spell the statistics out
        dims = tuple(range(axis, x.ndim))
        mean = corefw.mean(x, dims, keepdim=True)
        centered = x - mean
        inv = corefw.rsqrt(corefw.mean(centered * centered, dims, keepdim=True)
                           + at.get("epsilon", 1e-5))
        y = centered * inv * scale
        return (y if bias is None else y + bias), mean, inv
    s = scale.expand(*shape) if tuple(scale.shape) != shape else scale
    b = bias.expand(*shape) if bias is not None and tuple(bias.shape) != shape else bias
    return F.layer_norm(x, shape, s, b, eps=at.get("epsilon", 1e-5))


def _dropout(node, a, opset, dev):
    if len(a) > 2 and a[2] is not None and bool(a[2].item()):
        _unsupported(node, "Dropout with training_mode=True (random masks differ per runtime)")
    outs = [a[0]]
    if len(node.output) > 1:
        outs.append(corefw.ones_like(a[0]).bool())
    return tuple(outs)


def _leaky(node, a, opset, dev):
    return F.leaky_relu(a[0], _attrs(node).get("alpha", 0.01))


def _elu(node, a, opset, dev):
    return F.elu(a[0], _attrs(node).get("alpha", 1.0))


def _selu(node, a, opset, dev):
    at = _attrs(node)
    al, ga = at.get("alpha", 1.67326319217681884765625), at.get("gamma", 1.05070102214813232421875)
    return ga * F.elu(a[0], al)


def _hard_sigmoid(node, a, opset, dev):
    at = _attrs(node)
    return corefw.clamp(a[0] * at.get("alpha", 0.2) + at.get("beta", 0.5), 0.0, 1.0)


def _gelu(node, a, opset, dev):
    return F.gelu(a[0], approximate=_attrs(node).get("approximate", "none"))


def _prelu(node, a, opset, dev):
    x, slope = a
    return corefw.where(x < 0, x * slope, x)


def _celu(node, a, opset, dev):
    al = _attrs(node).get("alpha", 1.0)
    return corefw.where(a[0] > 0, a[0], al * corefw.expm1(a[0] / al))


def _thresholded(node, a, opset, dev):
    al = _attrs(node).get("alpha", 1.0)
    return corefw.where(a[0] > al, a[0], 0.0)


def _shrink(node, a, opset, dev):
    at = _attrs(node)
    lam, bias = at.get("lambd", 0.5), at.get("bias", 0.0)
    x = a[0]
    return corefw.where(x < -lam, x + bias, corefw.where(x > lam, x - bias, 0.0)).to(x.dtype)


def _softplus(node, a, opset, dev):
    return F.softplus(a[0])


def _instance_norm(node, a, opset, dev):
    x, scale, bias = a
    dims = tuple(range(2, x.ndim))
    mean = corefw.mean(x, dims, keepdim=True)
    centered = x - mean
    inv = corefw.rsqrt(corefw.mean(centered * centered, dims, keepdim=True)
                       + _attrs(node).get("epsilon", 1e-5))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return centered * inv * scale.reshape(shape) + bias.reshape(shape)


_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _cell(kind, x_t, h, c, w, r, wb, rb, lbr):
    """One time step of an ONNX LSTM (gates i, o, f, c), GRU (z, r, h) or RNN."""
    if kind == "RNN":
        return corefw.tanh(x_t @ w.t() + h @ r.t() + wb + rb), None
    if kind == "LSTM":
        g = x_t @ w.t() + h @ r.t() + wb + rb
        i, o, f, cand = corefw.chunk(g, 4, -1)
        c = corefw.sigmoid(f) * c + corefw.sigmoid(i) * corefw.tanh(cand)
        return corefw.sigmoid(o) * corefw.tanh(c), c
    hs = h.shape[-1]
    gx = x_t @ w.t() + wb
    z = corefw.sigmoid(gx[..., :hs] + h @ r[:hs].t() + rb[:hs])
    rr = corefw.sigmoid(gx[..., hs:2 * hs] + h @ r[hs:2 * hs].t() + rb[hs:2 * hs])
    if lbr:
        n = corefw.tanh(gx[..., 2 * hs:] + rr * (h @ r[2 * hs:].t() + rb[2 * hs:]))
    else:
        n = corefw.tanh(gx[..., 2 * hs:] + (rr * h) @ r[2 * hs:].t() + rb[2 * hs:])
    return (1 - z) * n + z * h, None


def _recurrent(kind):
    def h(node, a, opset, dev):
        at = _attrs(node)
        a = list(a) + [None] * (8 - len(a))
        x, w, r, b, seq_lens, h0, c0 = a[:7]
        if at.get("clip") is not None or "activations" in at or (
                kind == "LSTM" and (a[7] is not None or at.get("input_forget", 0))):
            _unsupported(node, "clip, custom activations, peepholes or input_forget")
        batch_first = bool(at.get("layout", 0))
        if batch_first:  # (batch, seq, ...) and (batch, dirs, H): swap to the default layout
            x = x.transpose(0, 1)
            h0 = h0.transpose(0, 1) if h0 is not None else None
            c0 = c0.transpose(0, 1) if c0 is not None else None
        if seq_lens is not None and len(set(seq_lens.tolist())) > 1:
            _unsupported(node, "sequence_lens that differ within the batch")
        hs, n, batch = at["hidden_size"], _GATES[kind], x.shape[1]
        dirs = w.shape[0]
        reverse = at.get("direction", "forward") == "reverse"
        ys, hn, cn = [], [], []
        for d in range(dirs):
            bias = b[d] if b is not None else corefw.zeros(2 * n * hs, dtype=x.dtype,
                                                          device=x.device)
            wb, rb = bias[: n * hs], bias[n * hs:]
            hh = h0[d] if h0 is not None else corefw.zeros(batch, hs, dtype=x.dtype,
                                                         device=x.device)
            cc = c0[d] if c0 is not None else corefw.zeros_like(hh)
            steps = range(x.shape[0] - 1, -1, -1) if (d == 1 or reverse) else range(x.shape[0])
            outs = {}
            for t in steps:
                hh, cc = _cell(kind, x[t], hh, cc, w[d], r[d], wb, rb,
                               at.get("linear_before_reset", 0))
                outs[t] = hh
            ys.append(corefw.stack([outs[t] for t in range(x.shape[0])], 0))
            hn.append(hh)
            cn.append(cc)
        res = [corefw.stack(ys, 1), corefw.stack(hn, 0)] + (
            [corefw.stack(cn, 0)] if kind == "LSTM" else [])
        if batch_first:  # Y (batch, seq, dirs, H); Y_h, Y_c (batch, dirs, H)
            res = [res[0].permute(2, 0, 1, 3)] + [t.transpose(0, 1) for t in res[1:]]
        return tuple(res)
    return h
