"""Cases for the layer library's composite ops: convolution, pooling, normalisation, losses,
embedding, dropout and attention, each with its gradient ops.

They call the ops through :func:`corefw.plugins.call_op` with the ops' own attribute
conventions (the contract a backend's fused kernel implements), not through
:mod:`corefw.nn.functional`, whose argument handling has its own tests.
"""

from __future__ import annotations

import numpy as np

from corefw.plugins import call_op

from . import reference_nn as RN
from .cases import OpCase, Sample, register_case
from .cases import values as V


def _op(name):
    return lambda *operands, **attrs: call_op(name, *operands, **attrs)


def case(op, variants, make, ref, **kw):
    """An op case; ``make(rng, spec, dtype) -> Sample`` gets the variant's spec."""
    return register_case(OpCase(
        op, lambda rng, variant, dtype, env: make(rng, variants[variant], dtype), _op(op), ref,
        variants=tuple(variants), **kw))


# -- convolution ------------------------------------------------------------------------------
_P1 = ((1, 1), (1, 1))
_CONV = {  # x shape, w shape, bias, stride, padding, dilation, groups
    "basic": ((2, 2, 5, 5), (3, 2, 3, 3), True, (1, 1), _P1, (1, 1), 1),
    "stride": ((1, 2, 6, 5), (2, 2, 3, 2), False, (2, 1), ((0, 0), (1, 0)), (1, 1), 1),
    "dilation": ((1, 1, 7, 7), (2, 1, 3, 3), True, (1, 1), ((2, 2), (2, 2)), (2, 2), 1),
    "groups": ((1, 4, 4, 4), (4, 2, 2, 2), True, (1, 1), ((0, 1), (1, 0)), (1, 1), 2),
    "noncontig": ((1, 2, 4, 4), (2, 2, 3, 3), True, (1, 1), _P1, (1, 1), 1),
    "empty": ((0, 2, 5, 5), (3, 2, 3, 3), True, (1, 1), _P1, (1, 1), 1),
    "large": ((4, 8, 16, 16), (16, 8, 3, 3), True, (1, 1), _P1, (1, 1), 1),
    # small images in a big batch: cpu's batch-last im2col, and its dense-matrix GEMM
    "batch-last": ((64, 1, 4, 4), (2, 1, 2, 2), True, (1, 1), ((0, 1), (1, 0)), (1, 1), 1),
    "dense": ((64, 2, 3, 3), (2, 2, 3, 3), True, (1, 1), _P1, (1, 1), 1),
}


def _geo(spec):
    _, _, _, stride, padding, dilation, groups = spec
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def _conv_make(rng, spec, dtype):
    xs, ws, bias = spec[:3]
    arrays = (V(rng, xs, dtype), V(rng, ws, dtype) * np.asarray(0.5, dtype),
              V(rng, (ws[0],), dtype) if bias else None)
    return Sample(arrays, _geo(spec), grad=(0, 1, 2) if bias else (0, 1))


case("conv2d", _CONV, _conv_make, RN.conv2d, tol=4.0)


def _out_size(spec):
    xs, ws, _, stride, padding, dilation, _ = spec
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1 for n, k, s, (lo, hi), d in
                 zip(xs[2:], ws[2:], stride, padding, dilation))


def _grad_input_make(rng, spec, dtype):
    xs, ws = spec[0], spec[1]
    size = spec[7] if len(spec) > 7 else xs[2:]
    g = V(rng, (xs[0], ws[0]) + _out_size(spec[:7]), dtype)
    return Sample((g, V(rng, ws, dtype)), {"input_size": tuple(size), **_geo(spec[:7])},
                  grad=(0, 1))


_GRAD_INPUT = {k: _CONV[k] for k in ("basic", "stride", "dilation", "groups", "noncontig",
                                     "batch-last", "dense")}
_GRAD_INPUT["output-padding"] = ((1, 2, 6, 6), (2, 2, 3, 3), False, (2, 2), _P1, (1, 1), 1,
                                 (6, 6))
case("conv2d_grad_input", _GRAD_INPUT, _grad_input_make, RN.conv2d_grad_input, tol=4.0)


def _grad_weight_make(rng, spec, dtype):
    xs, ws = spec[0], spec[1]
    g = V(rng, (xs[0], ws[0]) + _out_size(spec), dtype)
    return Sample((V(rng, xs, dtype), g), {"kernel_size": tuple(ws[2:]), **_geo(spec)},
                  grad=(0, 1))


case("conv2d_grad_weight", {k: _CONV[k] for k in ("basic", "stride", "dilation", "groups",
                                                  "noncontig")},
     _grad_weight_make, RN.conv2d_grad_weight, tol=4.0)

# -- pooling ----------------------------------------------------------------------------------
_MAXPOOL = {  # x shape, kernel, stride, padding, dilation, ceil_mode
    "basic": ((2, 3, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),
    "overlap": ((1, 2, 4, 5), (3, 3), (1, 1), (1, 1), (1, 1), False),
    "ceil": ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),
    "dilation": ((1, 1, 6, 6), (2, 2), (1, 1), (0, 0), (2, 2), False),
    "noncontig": ((1, 2, 4, 4), (2, 2), (1, 2), (1, 0), (1, 1), False),
    "large": ((8, 16, 32, 32), (2, 2), (2, 2), (0, 0), (1, 1), False),
}


def _pool_attrs(spec):
    _, kernel, stride, padding, dilation, ceil = spec
    return {"kernel_size": kernel, "stride": stride, "padding": padding,
            "dilation": dilation, "ceil_mode": ceil}


case("max_pool2d", _MAXPOOL, lambda rng, spec, dtype: Sample(
    (V(rng, spec[0], dtype, "distinct"),), _pool_attrs(spec)), RN.max_pool2d)
case("max_pool2d_indices", _MAXPOOL, lambda rng, spec, dtype: Sample(
    (V(rng, spec[0], dtype, "distinct"),), _pool_attrs(spec)), RN.max_pool2d_indices,
     grad=(), out_dtype="int64")


def _maxpool_grad_make(rng, spec, dtype):
    x = V(rng, spec[0], dtype, "distinct")
    out = RN.max_pool2d(x, *list(_pool_attrs(spec).values())).astype(dtype)
    return Sample((x, out, V(rng, out.shape, dtype)), _pool_attrs(spec), grad=(2,))


case("max_pool2d_grad_input", {k: v for k, v in _MAXPOOL.items() if k != "large"},
     _maxpool_grad_make, RN.max_pool2d_grad_input)
_AVGPOOL = {  # x shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor
    "basic": ((2, 3, 4, 4), (2, 2), (2, 2), (0, 0), False, True, None),
    "pad": ((1, 2, 5, 5), (3, 3), (2, 2), (1, 1), False, True, None),
    "pad-uncounted": ((1, 2, 5, 5), (3, 3), (2, 2), (1, 1), False, False, None),
    "ceil": ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0), True, True, None),
    "divisor": ((1, 2, 4, 4), (2, 2), (1, 1), (0, 0), False, True, 3),
    "noncontig": ((1, 2, 4, 4), (2, 2), (1, 2), (1, 0), False, True, None),
    "large": ((8, 16, 32, 32), (2, 2), (2, 2), (0, 0), False, True, None),
}


def _avg_attrs(spec):
    _, kernel, stride, padding, ceil, count, divisor = spec
    return {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil,
            "count_include_pad": count, "divisor_override": divisor}


case("avg_pool2d", _AVGPOOL, lambda rng, spec, dtype: Sample((V(rng, spec[0], dtype),),
                                                              _avg_attrs(spec)), RN.avg_pool2d)


def _avg_grad_make(rng, spec, dtype):
    x = np.zeros(spec[0])
    out = RN.avg_pool2d(x, **_avg_attrs(spec))
    return Sample((V(rng, out.shape, dtype),), {"input_size": spec[0][2:], **_avg_attrs(spec)})


case("avg_pool2d_grad_input", {k: v for k, v in _AVGPOOL.items() if k != "large"},
     _avg_grad_make, RN.avg_pool2d_grad_input)

# -- normalisation ----------------------------------------------------------------------------


def _norm_make(pshape_of, attrs_of):
    def make(rng, spec, dtype):
        shape, affine = spec[0], spec[1]
        pshape = pshape_of(shape, spec)
        x = V(rng, shape, dtype)
        w = (V(rng, pshape, dtype, "pos") if affine else None)
        b = (V(rng, pshape, dtype) if affine else None)
        return Sample((x, w, b), attrs_of(spec), grad=(0, 1, 2) if affine else (0,))
    return make


_BN = {"basic": ((4, 3), True), "4d": ((2, 3, 2, 2), True), "no-affine": ((5, 2), False),
       "noncontig": ((3, 4, 3), True), "large": ((32, 16, 8, 8), True)}
case("batch_norm", _BN, _norm_make(lambda s, spec: (s[1],), lambda spec: {"eps": 1e-5}),
     RN.batch_norm, tol=2.0)
_LN = {"basic": ((3, 4), True, 1), "2dims": ((2, 3, 4), True, 2),
       "no-affine": ((2, 5), False, 1), "noncontig": ((3, 4), True, 1),
       "large": ((256, 512), True, 1)}
case("layer_norm", _LN, _norm_make(lambda s, spec: s[len(s) - spec[2]:],
                                   lambda spec: {"ndim": spec[2], "eps": 1e-5}),
     RN.layer_norm, tol=2.0)
_GN = {"basic": ((2, 4, 3), True, 2), "one-group": ((2, 3, 2, 2), True, 1),
       "no-affine": ((1, 6, 2), False, 3), "large": ((8, 32, 16, 16), True, 4)}
case("group_norm", _GN, _norm_make(lambda s, spec: (s[1],),
                                   lambda spec: {"num_groups": spec[2], "eps": 1e-5}),
     RN.group_norm, tol=2.0)

# -- losses -----------------------------------------------------------------------------------
_LOSS = {  # reduction, with class weights, ignore_index used, label smoothing
    "mean": ("mean", False, False, 0.0), "sum": ("sum", False, False, 0.0),
    "none": ("none", False, False, 0.0), "weight": ("mean", True, False, 0.0),
    "ignore": ("mean", False, True, 0.0), "weight-ignore": ("mean", True, True, 0.0),
    "smoothing": ("mean", False, False, 0.1), "smoothing-weight": ("sum", True, True, 0.2),
}


def _loss_make(log_probs):
    def make(rng, spec, dtype):
        reduction, weighted, ignore, smoothing = spec
        m, ncls = 6, 4
        x = V(rng, (m, ncls), dtype)
        if log_probs:
            x64 = x.astype(np.float64)
            x = (x64 - np.log(np.exp(x64).sum(1, keepdims=True))).astype(dtype)
        target = rng.integers(0, ncls, size=m)
        target[:2] = (1, 1)
        weight = V(rng, (ncls,), dtype, "pos") if weighted else None
        attrs = {"ignore_index": 1 if ignore else -100, "reduction": reduction}
        if not log_probs:
            attrs["label_smoothing"] = smoothing
        return Sample((x, target, weight), attrs, grad=(0,))
    return make


case("nll_loss", {k: v for k, v in _LOSS.items() if v[3] == 0.0}, _loss_make(True),
     RN.nll_loss)
case("cross_entropy", _LOSS, _loss_make(False), RN.cross_entropy)
_BCE = {"basic": (3, 4), "0-d": (), "empty": (0, 3), "noncontig": (4, 5), "large": (257, 259)}
case("binary_cross_entropy", _BCE, lambda rng, shape, dtype: Sample(
    (V(rng, shape, dtype, "prob"), V(rng, shape, dtype, "prob")), grad=(0, 1)),
    RN.binary_cross_entropy)

# -- embedding, dropout, attention ------------------------------------------------------------
_EMB = {"basic": ((2, 4), None, False), "padding": ((2, 4), 2, False),
        "scale": ((2, 4), None, True), "padding-scale": ((7,), 0, True),
        "empty": ((0,), None, False), "0-d": ((), None, False), "2d": ((2, 3), 1, False)}


def _emb_make(rng, spec, dtype):
    ishape, padding_idx, scale = spec
    idx = rng.integers(0, 6, size=ishape)
    if idx.size >= 3:
        idx.reshape(-1)[:3] = (2, 2, 0)  # repeats, and the padding row is looked up
    return Sample((V(rng, (6, 3), dtype), idx),
                  {"padding_idx": padding_idx, "scale_grad_by_freq": scale})


case("embedding", _EMB, _emb_make, RN.embedding, vjp_ref=lambda w, idx, v, **a: {
    0: RN.embedding_vjp(w, idx, v, **a)})
_DROP = {"basic": ((3, 4), (3, 4), 0.3), "p0": ((3, 4), (3, 4), 0.0),
         "broadcast": ((3, 4), (3, 1), 0.5), "0-d": ((), (), 0.25),
         "empty": ((0, 3), (0, 3), 0.3), "large": ((257, 259), (257, 259), 0.3)}


def _drop_make(rng, spec, dtype):
    xs, ns, p = spec
    noise = rng.uniform(0.0, 1.0, ns)
    noise = np.where(np.abs(noise - p) < 0.02, (noise + 0.5) % 1.0, noise)  # no ties with p
    return Sample((V(rng, xs, dtype), noise.astype(dtype)), {"p": p})


case("dropout", _DROP, _drop_make, RN.dropout)
_SDPA = {  # q, k, v shapes, mask kind, causal
    "basic": ((2, 3, 4), (2, 5, 4), (2, 5, 3), None, False),
    "causal": ((1, 4, 3), (1, 4, 3), (1, 4, 2), None, True),
    "bool-mask": ((2, 3, 4), (2, 5, 4), (2, 5, 3), "bool", False),
    "float-mask": ((1, 3, 2), (1, 4, 2), (1, 4, 2), "float", False),
    "heads": ((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 2), None, False),
    "large": ((4, 64, 32), (4, 64, 32), (4, 64, 32), None, True),
}


def _sdpa_make(rng, spec, dtype):
    qs, ks, vs, mask_kind, causal = spec
    mask, grad = None, (0, 1, 2)
    if mask_kind == "bool":
        mask = rng.random((qs[-2], ks[-2])) < 0.7
        mask[:, 0] = True  # every query keeps a key
    elif mask_kind == "float":
        mask, grad = V(rng, (qs[-2], ks[-2]), dtype), (0, 1, 2, 3)
    return Sample((V(rng, qs, dtype), V(rng, ks, dtype), V(rng, vs, dtype), mask),
                  {"scale": 1.0 / np.sqrt(qs[-1]), "is_causal": causal}, grad=grad)


case("scaled_dot_product_attention", _SDPA, _sdpa_make, RN.scaled_dot_product_attention,
     tol=2.0)
