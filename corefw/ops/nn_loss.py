"""Fused classification losses over class indices: ``nll_loss`` and ``cross_entropy``.

Both ops take a 2-D input ``(M, C)`` (the functional wrappers in
:mod:`corefw.nn.functional._loss` move the class dim last and flatten the rest), a 1-D integer
target ``(M,)`` and an optional class-weight vector ``(C,)`` (``None`` when absent). Attributes:
``ignore_index`` (int), ``reduction`` ("none", "mean" or "sum") and, for cross_entropy,
``label_smoothing`` (float). With ``w_i = weight[y_i]`` (0 where ``y_i == ignore_index``):

* ``nll_loss``: ``l_i = -w_i * x[i, y_i]``; "mean" is ``sum(l_i) / sum(w_i)``.
* ``cross_entropy``: with ``lp = log_softmax(x)``, ``eps = label_smoothing``,
  ``l_i = (1 - eps) * (-w_i * lp[i, y_i]) + eps / C * (-sum_c weight[c] * lp[i, c])``
  (the smoothing term also 0 for ignored samples); "mean" divides both terms by ``sum(w_i)``,
  exactly PyTorch's definition.

The VJPs are closed forms written with corefw ops (``softmax(x) - onehot``), so they run on every
backend and can be differentiated again; the decompositions are the reference the fast kernels
are tested against. Gradients flow to the input only (like PyTorch); the functional wrappers
differentiate the decomposition when the class weights require grad.
"""

from __future__ import annotations

from .._call import apply
from .._creation import arange, zeros_like
from .activation import log_softmax, softmax
from .elementwise import clamp, log, where
from .indexing import gather, scatter_add
from .reduction import sum as rsum
from .registry import declare

__all__ = ["binary_cross_entropy_elementwise", "cross_entropy_indices", "nll_loss_indices"]


def _sample_weights(target, weight, ignore_index, dtype):
    """``(safe_target, w_i, keep)``: targets with ignored entries set to 0, per-sample weights
    (0 for ignored samples) and the bool keep mask."""
    keep = target != ignore_index
    safe = where(keep, target, 0)
    if weight is None:
        w = keep.to(dtype)
    else:
        w = where(keep, gather(weight, 0, safe), 0.0)
    return safe, w, keep


def _reduce(per_sample, w, reduction):
    if reduction == "none":
        return per_sample
    total = rsum(per_sample)
    return total if reduction == "sum" else total / rsum(w)


def _coefficient(g, w, reduction):
    """d(reduced loss) / d(per-sample loss), as an ``(M,)`` tensor (or broadcastable)."""
    return g / rsum(w) if reduction == "mean" else g


# -- nll_loss -------------------------------------------------------------------------------
def _nll_decomp(logp, target, weight, ignore_index, reduction):
    safe, w, _ = _sample_weights(target, weight, ignore_index, logp.dtype)
    picked = gather(logp, 1, safe.unsqueeze(1)).squeeze(1)
    return _reduce(-picked * w, w, reduction)


def _nll_vjp(ctx, g):
    logp, target, weight = ctx.inputs
    a = ctx.attrs
    safe, w, _ = _sample_weights(target, weight, a["ignore_index"], logp.dtype)
    coef = _coefficient(g, w, a["reduction"]) * w
    grad = scatter_add(zeros_like(logp), 1, safe.unsqueeze(1), (-coef).unsqueeze(1))
    return grad, None, None


# -- cross_entropy --------------------------------------------------------------------------
def _ce_decomp(x, target, weight, ignore_index, label_smoothing, reduction):
    logp = log_softmax(x, 1)
    nll = _nll_decomp(logp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    n_classes = x.shape[1]
    safe, w, keep = _sample_weights(target, weight, ignore_index, x.dtype)
    smooth = -rsum(logp * weight, 1) if weight is not None else -rsum(logp, 1)
    smooth = where(keep, smooth, 0.0)
    smooth = _reduce(smooth, w, reduction)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_classes)


def _ce_vjp(ctx, g):
    x, target, weight = ctx.inputs
    a = ctx.attrs
    eps = a["label_smoothing"]
    n_classes = x.shape[1]
    safe, w, keep = _sample_weights(target, weight, a["ignore_index"], x.dtype)
    c = _coefficient(g, w, a["reduction"])
    p = softmax(x, 1)
    onehot = arange(n_classes, device=x.device) == safe.unsqueeze(1)
    grad = ((1 - eps) * c * w).unsqueeze(1) * where(onehot, p - 1, p)
    if eps:
        b = (where(keep, c, 0.0) * (eps / n_classes)).unsqueeze(1)
        if weight is None:
            grad = grad + b * (p * n_classes - 1)
        else:
            grad = grad + b * (p * rsum(weight) - weight)
    return grad, None, None


_NLL = declare("nll_loss", decomposition=_nll_decomp, vjp=_nll_vjp,
                   doc="negative log likelihood over class indices (input (M, C), target (M,))")
_CE = declare("cross_entropy", decomposition=_ce_decomp, vjp=_ce_vjp,
                  doc="log_softmax + nll_loss with label smoothing (input (M, C), target (M,))")


def _weight_needs_grad(weight) -> bool:
    if weight is None or not weight.requires_grad:
        return False
    from .._graph.grad_mode import is_grad_enabled

    return is_grad_enabled()


def nll_loss_indices(logp, target, weight, ignore_index: int, reduction: str):
    """The ``nll_loss`` op on an ``(M, C)`` input and ``(M,)`` int64 target (no checks).

    Differentiates the decomposition instead when ``weight`` requires grad (the fused VJP
    gives the input's gradient only).
    """
    attrs = {"ignore_index": int(ignore_index), "reduction": reduction}
    if _weight_needs_grad(weight):
        return _nll_decomp(logp, target, weight, **attrs)
    return apply(_NLL, (logp, target, weight), attrs)


def cross_entropy_indices(x, target, weight, ignore_index: int, label_smoothing: float,
                          reduction: str):
    """The ``cross_entropy`` op on ``(M, C)`` logits and an ``(M,)`` int64 target (no checks);
    like :func:`nll_loss_indices` for class weights that require grad."""
    attrs = {"ignore_index": int(ignore_index), "label_smoothing": float(label_smoothing),
             "reduction": reduction}
    if _weight_needs_grad(weight):
        return _ce_decomp(x, target, weight, **attrs)
    return apply(_CE, (x, target, weight), attrs)


# -- binary_cross_entropy -------------------------------------------------------------------
def _bce_decomp(x, t):
    return -(t * clamp(log(x), min=-100.0) + (1 - t) * clamp(log(1 - x), min=-100.0))


def _bce_vjp(ctx, g):
    x, t = ctx.inputs
    gx = g * (x - t) / clamp((1 - x) * x, min=1e-12) if x.requires_grad else None
    gt = None
    if getattr(t, "requires_grad", False):
        gt = g * (clamp(log(1 - x), min=-100.0) - clamp(log(x), min=-100.0))
    return gx, gt


_BCE = declare("binary_cross_entropy", decomposition=_bce_decomp, vjp=_bce_vjp,
                   doc="elementwise -(t*log(x) + (1-t)*log(1-x)), logs clamped at -100")


def binary_cross_entropy_elementwise(x, t):
    """The elementwise ``binary_cross_entropy`` op (same shapes, no reduction, no checks).

    The gradient is PyTorch's ``(x - t) / max((1 - x) * x, 1e-12)``, finite at 0 and 1.
    """
    return apply(_BCE, (x, t))
