"""Cases for the training ops: ``linear`` and the fused optimizer updates ``sgd_step_`` and
``adam_step_`` (in place; the case runs them on copies and returns the updated tensors stacked,
so the kit compares every tensor the op writes)."""

from __future__ import annotations

import numpy as np

import corefw

from . import reference as R
from .cases import OpCase, Sample, register_case
from .cases import values as V

# -- linear -----------------------------------------------------------------------------------
_LINEAR = {  # input shape, out features, bias
    "basic": ((3, 4), 5, True), "no-bias": ((3, 4), 5, False), "batched": ((2, 3, 4), 5, True),
    "vector": ((4,), 3, True), "empty": ((0, 4), 5, True), "noncontig": ((4, 5), 3, True),
    "large": ((64, 128), 96, True),
}


def _linear_make(rng, variant, dtype, env):
    shape, out, bias = _LINEAR[variant]
    arrays = (V(rng, shape, dtype), V(rng, (out, shape[-1]), dtype),
              V(rng, (out,), dtype) if bias else None)
    return Sample(arrays, grad=(0, 1, 2) if bias else (0, 1))


def _linear_fn(x, w, b):
    from corefw.ops.linalg import linear

    return linear(x, w, b)


def _linear_ref(x, w, b):
    out = np.matmul(x, w.T)
    return out if b is None else out + b


register_case(OpCase("linear", _linear_make, _linear_fn, _linear_ref,
                     variants=tuple(_LINEAR), grad=(0, 1, 2), tol=2.0,
                     gradgrad=("basic", "batched", "vector")))

# -- fused optimizer updates ------------------------------------------------------------------
_SGD = {  # momentum, dampening, weight_decay, nesterov, maximize, first step, shape
    "basic": (0.0, 0.0, 0.0, False, False, False, (3, 4)),
    "momentum-first": (0.9, 0.0, 0.0, False, False, True, (3, 4)),
    "momentum": (0.9, 0.25, 0.0, False, False, False, (3, 4)),
    "nesterov-decay-maximize": (0.5, 0.0, 0.1, True, True, False, (3, 4)),
    "0-d": (0.9, 0.0, 0.1, False, False, False, ()),
    "empty": (0.9, 0.0, 0.0, False, False, False, (0, 3)),
    "large": (0.9, 0.0, 0.0, False, False, False, (257, 259)),
}


def _sgd_make(rng, variant, dtype, env):
    m, d, wd, nesterov, maximize, first, shape = _SGD[variant]
    arrays = (V(rng, shape, dtype), V(rng, shape, dtype), V(rng, shape, dtype))
    return Sample(arrays, dict(lr=0.1, momentum=m, dampening=d, weight_decay=wd,
                               nesterov=nesterov, maximize=maximize, is_first_step=first))


def _sgd_fn(p, g, buf, **attrs):
    from corefw.ops.inplace import sgd_step_

    p, buf = p.clone(), buf.clone()
    with corefw.no_grad():
        sgd_step_(p, g, buf, **attrs)
    return corefw.stack([p, buf])


def _sgd_ref(p, g, buf, **attrs):
    return np.stack(R.sgd_step(p, g, buf, **attrs))


register_case(OpCase("sgd_step_", _sgd_make, _sgd_fn, _sgd_ref, variants=tuple(_SGD),
                     grad=(), doc="in place; the case returns stack([param, buffer])"))

_ADAM = {  # weight_decay, decoupled, maximize, step, shape
    "basic": (0.0, False, False, 1, (3, 4)), "later-step": (0.0, False, False, 7, (3, 4)),
    "decay": (0.1, False, True, 3, (3, 4)), "decoupled": (0.1, True, False, 2, (3, 4)),
    "0-d": (0.0, False, False, 2, ()), "empty": (0.0, False, False, 1, (0, 3)),
    "large": (0.0, True, False, 5, (257, 259)),
}


def _adam_make(rng, variant, dtype, env):
    wd, decoupled, maximize, step, shape = _ADAM[variant]
    m = np.asarray(V(rng, shape, dtype) * 0.1, dtype=dtype)  # an array also when 0-d
    arrays = (V(rng, shape, dtype), V(rng, shape, dtype), m, V(rng, shape, dtype, "pos"))
    return Sample(arrays, dict(lr=0.05, beta1=0.8, beta2=0.9, eps=1e-3, weight_decay=wd,
                               decoupled=decoupled, maximize=maximize, step=step))


def _adam_fn(p, g, m, v, **attrs):
    from corefw.ops.inplace import adam_step_

    p, m, v = p.clone(), m.clone(), v.clone()
    with corefw.no_grad():
        adam_step_(p, g, m, v, **attrs)
    return corefw.stack([p, m, v])


def _adam_ref(p, g, m, v, **attrs):
    return np.stack(R.adam_step(p, g, m, v, **attrs))


register_case(OpCase("adam_step_", _adam_make, _adam_fn, _adam_ref, variants=tuple(_ADAM),
                     grad=(), tol=2.0, doc="in place; the case returns stack([param, m, v])"))

# -- cross_entropy_grad (a case for when the op is registered) -------------------------------
_CE_GRAD = {  # reduction, class weights, ignore_index used, label smoothing
    "mean": ("mean", False, False, 0.0), "sum": ("sum", False, False, 0.0),
    "none": ("none", False, False, 0.0), "weight-ignore": ("mean", True, True, 0.0),
    "smoothing": ("mean", False, False, 0.1), "smoothing-weight": ("sum", True, True, 0.2),
    "empty": ("mean", False, False, 0.0),
}


def _ce_grad_make(rng, variant, dtype, env):
    reduction, weighted, ignore, smoothing = _CE_GRAD[variant]
    m, c = (0 if variant == "empty" else 6), 4
    target = rng.integers(0, c, size=m)
    target[:2] = 1
    g = V(rng, (m,), dtype) if reduction == "none" else np.asarray(V(rng, (), dtype), dtype)
    arrays = (V(rng, (m, c), dtype), target, V(rng, (c,), dtype, "pos") if weighted else None, g)
    return Sample(arrays, dict(ignore_index=1 if ignore else -100, label_smoothing=smoothing,
                               reduction=reduction), grad=(0, 3))


def _ce_grad_ref(x, target, weight, g, *, ignore_index, label_smoothing, reduction):
    """d/dx of PyTorch's cross entropy (log-softmax, class weights, ignored samples, label
    smoothing), times the upstream gradient ``g``."""
    m, c = x.shape
    p = np.exp(x - x.max(1, keepdims=True)) if m else x
    p = p / p.sum(1, keepdims=True) if m else p
    wc = np.ones(c) if weight is None else weight
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    w = np.where(keep, wc[safe], 0.0)
    coef = np.broadcast_to(g, (m,)) / (w.sum() if reduction == "mean" and m else 1.0)
    grad = ((1 - label_smoothing) * coef * w)[:, None] * (p - np.eye(c)[safe])
    if label_smoothing:
        grad = grad + (keep * coef * label_smoothing / c)[:, None] * (p * wc.sum() - wc)
    return grad


def _register_ce_grad() -> None:
    import corefw.ops.nn_loss  # noqa: F401 - registers the loss ops
    from corefw.ops import OPS
    from corefw.plugins import call_op

    if "cross_entropy_grad" in OPS:
        register_case(OpCase(
            "cross_entropy_grad", _ce_grad_make,
            lambda *ops, **attrs: call_op("cross_entropy_grad", *ops, **attrs), _ce_grad_ref,
            variants=tuple(_CE_GRAD), grad=(0, 3),
            forward_only=("empty",)))  # d/dg of g / sum(w) over no samples is 0 / 0


_register_ce_grad()
