"""Cases for the public loss functions (``F.cross_entropy`` with index and probability targets
in every layout, ``F.nll_loss``, the binary cross entropies, the regression losses, ``F.kl_div``)
over reductions, class weights, ignored targets and label smoothing, against the float64
references of :mod:`corefw.testing.reference_nn`. Checked in float32 and float64."""

from __future__ import annotations

import numpy as np

import corefw.nn.functional as F

from . import reference_nn as RN
from .cases import OpCase, Sample, register_case
from .cases import values as V

_F = ("float32", "float64")


def lcase(op, name, specs, make, fn, ref, **kw):
    """A case of ``F.<name>`` reaching ``op``; ``make(rng, spec, dtype) -> Sample``."""
    return register_case(OpCase(
        op, lambda rng, variant, dtype, env: make(rng, specs[variant], dtype), fn, ref,
        kinds=_F, variants=tuple(specs), name=name, **kw))


# -- cross entropy and nll with class indices, any layout ------------------------------------
_CE = {  # input shape, reduction, weighted, ignore_index used, label smoothing
    "NC-mean": ((5, 4), "mean", False, False, 0.0), "NC-sum-weight": ((5, 4), "sum", True,
                                                                       False, 0.0),
    "NC-ignore-smoothing": ((5, 4), "mean", True, True, 0.25),
    "C-none": ((4,), "none", False, False, 0.0), "C-smoothing": ((4,), "mean", True, False,
                                                                 0.25),
    "NCdd-none-ignore": ((3, 4, 2, 3), "none", False, True, 0.0),
    "NCdd-mean-weight-smoothing": ((3, 4, 2, 3), "mean", True, True, 0.25),
}


def _ce_make(log_probs):
    def make(rng, spec, dtype):
        shape, reduction, weighted, ignore, eps = spec
        c = shape[0] if len(shape) == 1 else shape[1]
        tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
        x = V(rng, shape, dtype) * np.asarray(2, dtype)
        if log_probs:
            x = RN.log_softmax(x.astype(np.float64), 0 if len(shape) == 1 else 1).astype(dtype)
        t = rng.integers(0, c, size=tshape)
        if ignore and t.ndim:
            t.flat[0] = 1  # a real class, so some samples are ignored
        w = V(rng, (c,), dtype, "pos") if weighted else None
        attrs = {"ignore_index": 1 if ignore else -100, "reduction": reduction}
        if not log_probs:
            attrs["label_smoothing"] = eps
        return Sample((x, t, w), attrs, grad=(0,))
    return make


lcase("cross_entropy", "F.cross_entropy", _CE, _ce_make(False),
      lambda x, t, w, **a: F.cross_entropy(x, t, weight=w, **a),
      lambda x, t, w, **a: RN.cross_entropy_any(x, t, w, a["ignore_index"],
                                                a["label_smoothing"], a["reduction"]),
      gradgrad=True)
lcase("nll_loss", "F.nll_loss", {k: v for k, v in _CE.items() if v[4] == 0.0}, _ce_make(True),
      lambda x, t, w, **a: F.nll_loss(x, t, weight=w, **a),
      lambda x, t, w, **a: RN.nll_loss_any(x, t, w, a["ignore_index"], a["reduction"]))
_PROBS = {"NC-mean": ((4, 3), "mean", False, 0.0), "NC-sum-weight-smoothing": ((4, 3), "sum",
                                                                              True, 0.1),
          "C-none": ((3,), "none", True, 0.0), "NCdd-mean-smoothing": ((2, 3, 2, 2), "mean",
                                                                       False, 0.1)}


def _probs_make(rng, spec, dtype):
    shape, reduction, weighted, eps = spec
    axis = 0 if len(shape) == 1 else 1
    p = rng.uniform(0.1, 1.0, shape)
    p = (p / p.sum(axis=axis, keepdims=True)).astype(dtype)
    w = V(rng, (shape[axis],), dtype, "pos") if weighted else None
    return Sample((V(rng, shape, dtype) * np.asarray(2, dtype), p, w),
                  {"reduction": reduction, "label_smoothing": eps}, grad=(0, 1))


lcase("log_softmax", "F.cross_entropy(probabilities)", _PROBS, _probs_make,
      lambda x, p, w, **a: F.cross_entropy(x, p, weight=w, **a),
      lambda x, p, w, **a: RN.cross_entropy_probs(x, p, w, a["label_smoothing"],
                                                  a["reduction"]))

# -- binary cross entropies -------------------------------------------------------------------
_BCE = {"none": ("none", False), "mean-weight": ("mean", True), "sum": ("sum", False)}


def _bce_make(rng, spec, dtype):
    reduction, weighted = spec
    return Sample((V(rng, (3, 4), dtype, "prob"), V(rng, (3, 4), dtype, "prob"),
                   V(rng, (4,), dtype, "pos") if weighted else None),
                  {"reduction": reduction}, grad=(0, 1))


def _bce_ref(x, y, w, reduction):
    loss = RN.binary_cross_entropy(x, y)
    return RN.reduce(loss if w is None else loss * w, reduction)


lcase("binary_cross_entropy", "F.binary_cross_entropy", _BCE, _bce_make,
      lambda x, y, w, reduction: F.binary_cross_entropy(x, y, weight=w, reduction=reduction),
      _bce_ref)
_BCEL = {"none": ("none", False, False), "mean-weight": ("mean", True, False),
         "sum-pos-weight": ("sum", False, True), "mean-both": ("mean", True, True)}


def _bcel_make(rng, spec, dtype):
    reduction, weighted, pos = spec
    return Sample((V(rng, (3, 4), dtype) * np.asarray(2, dtype), V(rng, (3, 4), dtype, "prob"),
                   V(rng, (3, 1), dtype, "pos") if weighted else None,
                   V(rng, (4,), dtype, "pos") if pos else None),
                  {"reduction": reduction}, grad=(0, 1))


lcase("softplus", "F.binary_cross_entropy_with_logits", _BCEL, _bcel_make,
      lambda x, y, w, pw, reduction: F.binary_cross_entropy_with_logits(
          x, y, weight=w, reduction=reduction, pos_weight=pw),
      lambda x, y, w, pw, reduction: RN.bce_with_logits(x, y, w, pw, reduction))

# -- regression losses and kl_div ------------------------------------------------------------
_RED = {"none": "none", "mean": "mean", "sum": "sum"}


def _pair_make(rng, reduction, dtype):
    return Sample((V(rng, (4, 5), dtype, "nonzero") * np.asarray(2, dtype),
                   V(rng, (4, 5), dtype, "nonzero")), {"reduction": reduction}, grad=(0, 1))


lcase("sub", "F.mse_loss", _RED, _pair_make,
      lambda x, y, reduction: F.mse_loss(x, y, reduction=reduction),
      lambda x, y, reduction: RN.reduce((x - y) ** 2, reduction), gradgrad=True)
lcase("abs", "F.l1_loss", _RED, _pair_make,
      lambda x, y, reduction: F.l1_loss(x, y, reduction=reduction),
      lambda x, y, reduction: RN.reduce(np.abs(x - y), reduction))
for _beta in (0.7, 0.0):
    lcase("where" if _beta else "abs", f"F.smooth_l1_loss(beta={_beta})", _RED, _pair_make,
          (lambda b: lambda x, y, reduction: F.smooth_l1_loss(x, y, reduction=reduction,
                                                              beta=b))(_beta),
          (lambda b: lambda x, y, reduction: RN.smooth_l1(x, y, b, reduction))(_beta))
lcase("where", "F.huber_loss", _RED, _pair_make,
      lambda x, y, reduction: F.huber_loss(x, y, reduction=reduction, delta=1.3),
      lambda x, y, reduction: RN.huber(x, y, 1.3, reduction))
_KL = {"none": ("none", False), "sum": ("sum", False), "batchmean": ("batchmean", False),
       "log-target-sum": ("sum", True), "log-target-batchmean": ("batchmean", True)}


def _kl_make(rng, spec, dtype):
    reduction, log_target = spec
    logq = RN.log_softmax(V(rng, (3, 4), "float64"), 1).astype(dtype)
    p = rng.uniform(0.1, 1.0, (3, 4))
    p /= p.sum(axis=1, keepdims=True)
    target = np.log(p) if log_target else p
    return Sample((logq, target.astype(dtype)), {"reduction": reduction,
                                                 "log_target": log_target}, grad=(0, 1))


lcase("mul", "F.kl_div", _KL, _kl_make,
      lambda q, t, reduction, log_target: F.kl_div(q, t, reduction=reduction,
                                                   log_target=log_target),
      lambda q, t, reduction, log_target: RN.kl_div(q, t, reduction, log_target))
