"""Cases for the layer library's public functions (``F.conv2d`` with ``"same"``/``"valid"``/int
padding, ``F.conv1d``, ``F.conv_transpose2d``, the 1-D/2-D/adaptive pools, ``F.batch_norm`` in
training and eval, ``F.layer_norm``, ``F.group_norm``, ``F.scaled_dot_product_attention``) and
activation modules: their argument handling on top of the ops of
:mod:`corefw.testing.cases_nn`, against the same float64 references. Checked in float32 and
float64 (the ops' own rows cover float16).
"""

from __future__ import annotations

import numpy as np

import corefw.nn.functional as F
from corefw import nn

from . import reference as R
from . import reference_nn as RN
from .cases import OpCase, Sample, register_case
from .cases import values as V

_F = ("float32", "float64")
#: the costly references (Python loops over windows) run once, in float64: the ops' own rows
#: cover every dtype of the same kernels
_F64 = ("float64",)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def fcase(op, name, specs, make, fn, ref, **kw):
    """A case of ``F.<name>`` reaching ``op``; ``make(rng, spec, dtype) -> Sample``."""
    return register_case(OpCase(
        op, lambda rng, variant, dtype, env: make(rng, specs[variant], dtype), fn, ref,
        kinds=kw.pop("kinds", _F), variants=tuple(specs), name=name, **kw))


# -- convolution ------------------------------------------------------------------------------
_CONV = {  # x shape, weight shape, stride, padding, dilation, groups
    "basic": ((2, 2, 5, 4), (3, 2, 3, 3), 1, 0, 1, 1),
    "stride-pad": ((1, 3, 7, 6), (2, 3, 3, 2), 2, 1, 1, 1),
    "groups-dilation": ((1, 4, 7, 6), (4, 2, 3, 3), (2, 1), (1, 2), (2, 1), 2),
    "depthwise": ((1, 4, 5, 5), (4, 1, 3, 3), 1, 1, 1, 4),
    "same-even-kernel": ((1, 2, 6, 7), (3, 2, 2, 4), 1, "same", (1, 2), 1),
    "valid": ((1, 2, 6, 7), (3, 2, 3, 3), 1, "valid", 1, 1),
    "1x1-stride": ((1, 2, 5, 5), (2, 2, 1, 1), 3, 0, 1, 1),
    "kernel-over-input": ((2, 1, 4, 4), (2, 1, 5, 5), 1, 2, 1, 1),
    "noncontig": ((1, 2, 4, 5), (2, 2, 3, 3), 1, 1, 1, 1),
}


def _conv_pads(padding, kernel, dilation):
    """F.conv2d's ``padding`` argument as the op's ((top, bottom), (left, right))."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":  # PyTorch puts the odd pixel at the end
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _pair(padding))


def _conv_make(rng, spec, dtype):
    xs, ws, stride, padding, dilation, groups = spec
    return Sample((V(rng, xs, dtype), V(rng, ws, dtype) * np.asarray(0.5, dtype),
                   V(rng, (ws[0],), dtype)),
                  {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups},
                  grad=(0, 1, 2))


def _conv_ref(x, w, b, *, stride, padding, dilation, groups):
    return RN.conv2d(x, w, b, _pair(stride), _conv_pads(padding, w.shape[2:], _pair(dilation)),
                     _pair(dilation), groups)


fcase("conv2d", "F.conv2d", _CONV, _conv_make,
      lambda x, w, b, **a: F.conv2d(x, w, b, a["stride"], a["padding"], a["dilation"],
                                    a["groups"]), _conv_ref, grad=(0, 1, 2), tol=4.0,
      gradgrad=True, kinds=_F64)
_CONV1D = {"basic": ((2, 4, 11), (6, 2, 3), 2, 2, 2, 2), "same": ((2, 4, 11), (6, 2, 2), 1,
                                                                   "same", 1, 2)}


def _conv1d_ref(x, w, b, *, stride, padding, dilation, groups):
    pads = _conv_pads(padding, (1,) + w.shape[2:], (1, dilation))
    return RN.conv2d(x[:, :, None], w[:, :, None], b, (1, stride), ((0, 0), pads[1]),
                     (1, dilation), groups)[:, :, 0]


fcase("conv2d", "F.conv1d", _CONV1D, _conv_make,
      lambda x, w, b, **a: F.conv1d(x, w, b, a["stride"], a["padding"], a["dilation"],
                                    a["groups"]), _conv1d_ref, grad=(0, 1, 2), tol=4.0)
_CONVT = {  # stride, padding, output_padding, dilation, groups
    "basic": (1, 0, 0, 1, 1), "stride-pad": (2, 1, 1, 1, 1),
    "groups": ((2, 3), (0, 1), (1, 2), 1, 2), "dilation": (1, 1, 1, 2, 1),
}


def _convt_make(rng, spec, dtype):
    stride, padding, output_padding, dilation, groups = spec
    return Sample((V(rng, (1, 2, 3, 3), dtype), V(rng, (2, 2, 3, 2), dtype) * np.asarray(
        0.5, dtype), V(rng, (2 * groups,), dtype)),
        {"stride": stride, "padding": padding, "output_padding": output_padding,
         "dilation": dilation, "groups": groups}, grad=(0, 1, 2))


fcase("conv2d_grad_input", "F.conv_transpose2d", _CONVT, _convt_make,
      lambda x, w, b, **a: F.conv_transpose2d(x, w, b, a["stride"], a["padding"],
                                              a["output_padding"], a["groups"], a["dilation"]),
      lambda x, w, b, **a: RN.conv_transpose2d(
          x, w, b, _pair(a["stride"]), _pair(a["padding"]), _pair(a["output_padding"]),
          a["groups"], _pair(a["dilation"])), grad=(0, 1, 2), tol=4.0, gradgrad=True,
      kinds=_F64)

# -- pooling ----------------------------------------------------------------------------------
_MAX = {  # shape, kernel, stride, padding, dilation, ceil_mode
    "basic": ((2, 2, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),
    "pad": ((1, 1, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),
    "ceil": ((1, 1, 7, 9), (3, 2), (2, 3), (1, 1), (1, 1), True),
    "dilation": ((1, 1, 9, 8), (3, 2), (1, 2), (1, 0), (2, 3), False),
    "ceil-even": ((2, 1, 6, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),
    "kernel-over-input": ((1, 1, 5, 5), (4, 4), (3, 3), (2, 2), (1, 1), True),
}


def _max_make(rng, spec, dtype):
    shape, k, s, p, d, ceil = spec
    return Sample((V(rng, shape, dtype, "distinct"),), {"kernel_size": k, "stride": s,
                                                        "padding": p, "dilation": d,
                                                        "ceil_mode": ceil})


def _max_fn(indices):
    def fn(x, kernel_size, stride, padding, dilation, ceil_mode):
        out = F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
                           return_indices=indices)
        return out[1] if indices else out
    return fn


fcase("max_pool2d", "F.max_pool2d", _MAX, _max_make, _max_fn(False), RN.max_pool2d,
      gradgrad=True, kinds=_F64)
fcase("max_pool2d_indices", "F.max_pool2d(return_indices)", _MAX, _max_make, _max_fn(True),
      RN.max_pool2d_indices, grad=(), out_dtype="int64", kinds=_F64)
_AVG = {  # shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    "basic": ((2, 2, 4, 4), (2, 2), (2, 2), (0, 0), False, True, None),
    "pad": ((1, 1, 7, 9), (3, 3), (2, 2), (1, 1), False, True, None),
    "ceil-uncounted": ((1, 1, 7, 9), (3, 3), (2, 2), (1, 1), True, False, None),
    "ceil": ((1, 1, 7, 8), (3, 2), (2, 3), (1, 1), True, True, None),
    "divisor": ((1, 1, 5, 6), (2, 3), (1, 2), (1, 0), False, True, 5),
}


def _avg_make(rng, spec, dtype):
    shape, k, s, p, ceil, cip, div = spec
    return Sample((V(rng, shape, dtype),), {"kernel_size": k, "stride": s, "padding": p,
                                            "ceil_mode": ceil, "count_include_pad": cip,
                                            "divisor_override": div})


fcase("avg_pool2d", "F.avg_pool2d", _AVG, _avg_make,
      lambda x, **a: F.avg_pool2d(x, a["kernel_size"], a["stride"], a["padding"],
                                  a["ceil_mode"], a["count_include_pad"],
                                  a["divisor_override"]), RN.avg_pool2d, gradgrad=True,
      kinds=_F64)
_ADAPTIVE = {"basic": ((7, 9), (3, 4)), "even": ((8, 8), (4, 2)), "global": ((5, 6), (1, 1)),
             "upsample": ((4, 5), (6, 5)), "keep-height": ((6, 7), (None, 3))}


def _adaptive_make(rng, spec, dtype):
    size, out = spec
    return Sample((V(rng, (2, 3) + size, dtype),), {"output_size": out})


fcase("matmul", "F.adaptive_avg_pool2d", {k: v for k, v in _ADAPTIVE.items()
                                          if k not in ("global", "even")},
      _adaptive_make, lambda x, output_size: F.adaptive_avg_pool2d(x, output_size),
      lambda x, output_size: RN.adaptive_avg_pool2d(x, tuple(
          n if o is None else o for n, o in zip(x.shape[2:], output_size))), kinds=_F64)
fcase("avg_pool2d", "F.adaptive_avg_pool2d(divisible)", {"even": _ADAPTIVE["even"]},
      _adaptive_make, lambda x, output_size: F.adaptive_avg_pool2d(x, output_size),
      lambda x, output_size: RN.adaptive_avg_pool2d(x, output_size))
fcase("sum", "F.adaptive_avg_pool2d(1)", {"global": _ADAPTIVE["global"]}, _adaptive_make,
      lambda x, output_size: F.adaptive_avg_pool2d(x, output_size),
      lambda x, output_size: RN.adaptive_avg_pool2d(x, output_size))
_POOL1D = {"basic": (2, 3, 11)}
fcase("max_pool2d", "F.max_pool1d", _POOL1D,
      lambda rng, shape, dtype: Sample((V(rng, shape, dtype, "distinct"),)),
      lambda x: F.max_pool1d(x, 3, 2, 1),
      lambda x: RN.max_pool2d(x[:, :, None], (1, 3), (1, 2), (0, 1), (1, 1), False)[:, :, 0])
fcase("avg_pool2d", "F.avg_pool1d", _POOL1D,
      lambda rng, shape, dtype: Sample((V(rng, shape, dtype),)),
      lambda x: F.avg_pool1d(x, 4, 3, 2, count_include_pad=False),
      lambda x: RN.avg_pool2d(x[:, :, None], (1, 4), (1, 3), (0, 2), False, False,
                              None)[:, :, 0])
fcase("matmul", "F.adaptive_avg_pool1d", _POOL1D,
      lambda rng, shape, dtype: Sample((V(rng, shape, dtype),)),
      lambda x: F.adaptive_avg_pool1d(x, 4),
      lambda x: RN.adaptive_avg_pool2d(x[:, :, None], (1, 4))[:, :, 0])

# -- normalisation ----------------------------------------------------------------------------


def _norm_make(pshape):
    def make(rng, spec, dtype):
        shape = spec[0]
        p = pshape(spec)
        return Sample((V(rng, shape, dtype), V(rng, p, dtype, "pos"), V(rng, p, dtype)),
                      {"arg": spec[1]}, grad=(0, 1, 2))
    return make


fcase("batch_norm", "F.batch_norm(training)", {
    "2d": ((4, 3), None), "3d": ((4, 3, 5), None), "4d": ((2, 3, 4, 5), None)},
    _norm_make(lambda spec: (spec[0][1],)),
    lambda x, w, b, arg: F.batch_norm(x, None, None, w, b, training=True),
    lambda x, w, b, arg: RN.batch_norm(x, w, b, 1e-5), tol=2.0, gradgrad=True)
fcase("layer_norm", "F.layer_norm", {
    "last": ((3, 5), (5,)), "two-dims": ((2, 3, 4), (3, 4)), "all": ((2, 3, 4), (2, 3, 4))},
    _norm_make(lambda spec: spec[1]),
    lambda x, w, b, arg: F.layer_norm(x, arg, w, b),
    lambda x, w, b, arg: RN.layer_norm(x, w, b, len(arg), 1e-5), tol=2.0, gradgrad=True)
fcase("group_norm", "F.group_norm", {
    "4d": ((2, 6, 3, 3), 3), "one-group": ((3, 4, 5), 1), "per-channel": ((2, 4), 4)},
    _norm_make(lambda spec: (spec[0][1],)),
    lambda x, w, b, arg: F.group_norm(x, arg, w, b),
    lambda x, w, b, arg: RN.group_norm(x, w, b, arg, 1e-5), tol=2.0)
fcase("layer_norm", "F.layer_norm(no affine)", {"basic": ((2, 2, 3, 4), (4,))},
      lambda rng, spec, dtype: Sample((V(rng, spec[0], dtype),), {"shape": spec[1]}),
      lambda x, shape: F.layer_norm(x, shape),
      lambda x, shape: RN.layer_norm(x, None, None, len(shape), 1e-5), tol=2.0)
fcase("batch_norm", "F.batch_norm(training, eps)", {"basic": ((4, 3, 5), None)},
      lambda rng, spec, dtype: Sample((V(rng, spec[0], dtype),)),
      lambda x: F.batch_norm(x, None, None, training=True, eps=0.1),
      lambda x: RN.batch_norm(x, None, None, 0.1), tol=2.0)


def _bn_eval_make(rng, spec, dtype):
    c = spec[1]
    return Sample((V(rng, spec, dtype), V(rng, (c,), dtype), V(rng, (c,), dtype, "pos"),
                   V(rng, (c,), dtype), V(rng, (c,), dtype)), grad=(0, 3, 4))


def _bn_eval_ref(x, mean, var, w, b):
    """``(x - running_mean) / sqrt(running_var + eps) * w + b`` per channel (dim 1)."""
    s = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + 1e-3) * w.reshape(s) + b.reshape(s)


fcase("rsqrt", "F.batch_norm(eval)", {"4d": (3, 4, 2, 2), "2d": (5, 3)}, _bn_eval_make,
      lambda x, mean, var, w, b: F.batch_norm(x, mean, var, w, b, training=False, eps=1e-3),
      _bn_eval_ref, grad=(0, 3, 4))

# -- attention --------------------------------------------------------------------------------
_SDPA = {  # q, k, v shapes, mask (None, "bool" or a float mask shape), scale, causal, gqa
    "default-scale": ((2, 4, 3), (2, 5, 3), (2, 5, 4), None, None, False, False),
    "scale": ((2, 4, 3), (2, 5, 3), (2, 5, 4), None, 0.3, False, False),
    "bool-mask": ((2, 4, 3), (2, 5, 3), (2, 5, 4), "bool", None, False, False),
    "float-mask-broadcast": ((3, 2, 4, 2), (3, 2, 5, 2), (3, 2, 5, 2), (2, 1, 5), None, False,
                             False),
    "causal-rectangular": ((2, 3, 2), (2, 5, 2), (2, 5, 2), None, 0.7, True, False),
    "broadcast-batch": ((2, 2, 2), (1, 3, 2), (2, 3, 2), None, None, False, False),
    "gqa": ((1, 4, 3, 2), (1, 2, 5, 2), (1, 2, 5, 2), None, None, False, True),
}


def _sdpa_make(rng, spec, dtype):
    qs, ks, vs, mask, scale, causal, gqa = spec
    grad = (0, 1, 2)
    if mask == "bool":
        mask = rng.random((qs[-2], ks[-2])) < 0.6
        mask[:, 0] = True  # every query sees a key
    elif mask is not None:
        mask, grad = V(rng, mask, dtype), (0, 1, 2, 3)
    return Sample((V(rng, qs, dtype), V(rng, ks, dtype), V(rng, vs, dtype), mask),
                  {"scale": scale, "is_causal": causal, "enable_gqa": gqa}, grad=grad)


def _sdpa_ref(q, k, v, mask, scale, is_causal, enable_gqa):
    if enable_gqa:  # query head h reads key/value head h // (Hq / Hkv)
        k, v = (np.repeat(a, q.shape[-3] // a.shape[-3], axis=-3) for a in (k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    return RN.scaled_dot_product_attention(q, k, v, mask, scale, is_causal)


fcase("scaled_dot_product_attention", "F.scaled_dot_product_attention", _SDPA, _sdpa_make,
      lambda q, k, v, m, **a: F.scaled_dot_product_attention(q, k, v, attn_mask=m, **a),
      _sdpa_ref, grad=(0, 1, 2), tol=2.0)

# -- activation modules -----------------------------------------------------------------------
_ACT = {  # module name -> (op it reaches, module factory, float64 reference)
    "ReLU": ("relu", lambda: nn.ReLU(), lambda x: np.maximum(x, 0.0)),
    "ReLU6": ("clamp", lambda: nn.ReLU6(), lambda x: np.minimum(np.maximum(x, 0.0), 6.0)),
    "LeakyReLU": ("leaky_relu", lambda: nn.LeakyReLU(0.2), lambda x: R.leaky_relu(x, 0.2)),
    "ELU": ("elu", lambda: nn.ELU(0.7), lambda x: R.elu(x, 0.7)),
    "GELU": ("gelu", lambda: nn.GELU(), R.gelu),
    "GELU(tanh)": ("gelu", lambda: nn.GELU("tanh"), lambda x: R.gelu(x, "tanh")),
    "SiLU": ("silu", lambda: nn.SiLU(), R.silu),
    "Sigmoid": ("sigmoid", lambda: nn.Sigmoid(), R.sigmoid),
    "Tanh": ("tanh", lambda: nn.Tanh(), np.tanh),
    "Hardtanh": ("clamp", lambda: nn.Hardtanh(-0.5, 2.0),
                 lambda x: np.minimum(np.maximum(x, -0.5), 2.0)),
    "Softplus": ("softplus", lambda: nn.Softplus(beta=2.0, threshold=3.0),
                 lambda x: R.softplus(x, 2.0, 3.0)),
    "LogSigmoid": ("softplus", lambda: nn.LogSigmoid(), lambda x: np.log(R.sigmoid(x))),
    "Softmax(dim=1)": ("softmax", lambda: nn.Softmax(dim=1), lambda x: R.softmax(x, 1)),
    "Softmax(dim=0)": ("softmax", lambda: nn.Softmax(dim=0), lambda x: R.softmax(x, 0)),
    "LogSoftmax": ("log_softmax", lambda: nn.LogSoftmax(dim=-1),
                   lambda x: R.log_softmax(x, -1)),
    "Softmin": ("softmax", lambda: nn.Softmin(dim=1), lambda x: R.softmax(-x, 1)),
    "PReLU": ("where", lambda: nn.PReLU(), lambda x: np.where(x >= 0, x, 0.25 * x)),
}


def _act_make(rng, shape, dtype):
    """Values in [-7, 7] at least 0.05 away from the kinks at 0, -0.5, 1.5, 2 and 6."""
    x = rng.uniform(-7, 7, shape)
    for k in (0.0, -0.5, 1.5, 2.0, 6.0):
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return Sample((x.astype(dtype),))


def _module_fn(factory):
    def fn(x):
        return factory().to(x.device).to(x.dtype)(x)
    return fn


for _name, (_op, _factory, _ref) in _ACT.items():
    fcase(_op, f"nn.{_name}", {"basic": (3, 4, 2), "noncontig": (3, 4)}, _act_make,
          _module_fn(_factory), _ref)
