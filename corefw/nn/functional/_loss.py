"""Loss functions with PyTorch's signatures, defaults and formulas.

``reduction`` is ``"none"`` (per-element losses), ``"mean"`` or ``"sum"``; the deprecated
``size_average``/``reduce`` arguments are honoured as in PyTorch. ``cross_entropy`` and
``nll_loss`` run as fused ops (:mod:`corefw.ops.nn_loss`), stable for logits in the thousands;
the others are written with corefw ops, so every loss runs and differentiates on every backend.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..._tensor import Tensor
from ...compiler import is_compiling
from ...errors import CorefwIndexError, DTypeError, ShapeError
from ...ops.activation import log_softmax
from ...ops.elementwise import abs as _abs
from ...ops.elementwise import exp, log, softplus, where
from ...ops.nn_loss import (
    binary_cross_entropy_elementwise,
    cross_entropy_indices,
    nll_loss_indices,
)
from ...ops.reduction import sum as _sum
from ...ops.shape import movedim, reshape

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "huber_loss", "kl_div", "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(fn: str, size_average, reduce, reduction: str, allowed=_REDUCTIONS) -> str:
    """The effective reduction (PyTorch's legacy ``size_average``/``reduce`` rules first)."""
    if size_average is not None or reduce is not None:
        warnings.warn(f"{fn}: size_average and reduce are deprecated, use "
                      f"reduction='mean'/'sum'/'none' instead", DeprecationWarning, stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"{fn}: reduction must be one of {names}, got {reduction!r}")
    return reduction


def _apply_reduction(loss, reduction: str):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _float_input(fn: str, name: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a corefw.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point {name}, got {x.dtype} with shape "
                         f"{x.shape}; cast it with .float()")


# -- class-index losses ---------------------------------------------------------------------
def _index_shape(input) -> tuple[int, ...]:
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def _check_weight(fn: str, weight, input):
    if weight is None:
        return None
    n_classes = input.shape[0 if input.ndim == 1 else 1]
    if not isinstance(weight, Tensor) or weight.ndim != 1 or weight.shape[0] != n_classes:
        shape = getattr(weight, "shape", type(weight).__name__)
        raise ShapeError(f"{fn}: weight must be a 1-D tensor with one entry per class "
                         f"({n_classes}), got {shape}")
    return weight if weight.dtype is input.dtype else weight.to(input.dtype)


def _check_indices(fn: str, input, target, ignore_index: int, allow_probs: bool):
    """Validate an index target; returns the flattened ``(M, C)`` input and ``(M,)`` target."""
    if input.ndim == 0:
        raise ShapeError(f"{fn}: input must have a class dim: shape (C,), (N, C) or "
                         f"(N, C, d1, ...), got a 0-d tensor")
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: target must be a corefw.Tensor, got {type(target).__name__}")
    expected = _index_shape(input)
    bad_dtype = target.dtype.np.kind not in ("i", "u")
    bad_shape = tuple(target.shape) != expected
    if bad_dtype or bad_shape:
        probs = (f", or float class probabilities with the input's shape {input.shape}"
                 if allow_probs else "")
        raise (DTypeError if bad_dtype and not bad_shape else ShapeError)(
            f"{fn}: for input of shape {input.shape}, expected target of shape {expected} "
            f"with integer class indices (int64){probs}; got {target.dtype} with shape "
            f"{target.shape}")
    n_classes = input.shape[0 if input.ndim == 1 else 1]
    # meta tensors have no values to check; a capture skips the host read (see docs/compile.md)
    if target.numel() and not target.is_meta and not is_compiling():
        lo, hi = int(target.amin().item()), int(target.amax().item())
        if lo < 0 or hi >= n_classes:
            bad = target[(target != ignore_index) & ((target < 0) | (target >= n_classes))]
            if bad.numel():
                raise CorefwIndexError(
                    f"{fn}: target {int(bad[0].item())} is out of bounds for {n_classes} "
                    f"classes (valid: 0..{n_classes - 1}, or ignore_index={ignore_index})")
    if input.ndim == 1:
        return reshape(input, (1, n_classes)), reshape(target, (1,))
    if input.ndim > 2:
        input = reshape(movedim(input, 1, -1), (-1, n_classes))
    return input, reshape(target, (-1,))


def _finish(out, reduction: str, target_shape: tuple[int, ...]):
    return reshape(out, target_shape) if reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean"):
    """Negative log likelihood of class indices ``target`` under log-probabilities ``input``.

    ``input`` is ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)`` (class dim 1); ``target`` holds
    integer class indices of shape ``()``, ``(N,)`` or ``(N, d1, ...)``. ``loss_i =
    -weight[y_i] * input[i, y_i]``, 0 where ``y_i == ignore_index``; "mean" divides the sum by
    ``sum(weight[y_i])`` over the samples not ignored (NaN when every sample is ignored).
    """
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    _float_input("nll_loss", "input", input)
    x, t = _check_indices("nll_loss", input, target, ignore_index, allow_probs=False)
    weight = _check_weight("nll_loss", weight, input)
    return _finish(nll_loss_indices(x, t, weight, ignore_index, reduction), reduction,
                   _index_shape(input))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross entropy between logits ``input`` and class indices or class probabilities.

    Shapes as :func:`nll_loss`. With integer ``target`` (class indices) the loss is
    ``(1 - eps) * nll(log_softmax(input), target) + eps / C * (-sum_c weight[c] *
    log_softmax(input)[c])`` with ``eps = label_smoothing``; ``ignore_index`` samples count for
    nothing and "mean" divides by the summed weight of the other samples. With a float
    ``target`` of the input's shape (class probabilities, smoothed to ``target * (1 - eps) +
    eps / C``) the loss is ``-sum_c weight[c] * target[c] * log_softmax(input)[c]`` and "mean"
    divides by the number of samples. Computed stably (logits of any magnitude).
    """
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    _float_input("cross_entropy", "input", input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    weight = _check_weight("cross_entropy", weight, input) if input.ndim else weight
    if (isinstance(target, Tensor) and target.dtype.is_floating_point
            and input.ndim and tuple(target.shape) == tuple(input.shape)):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing)
    x, t = _check_indices("cross_entropy", input, target, ignore_index, allow_probs=True)
    out = cross_entropy_indices(x, t, weight, ignore_index, label_smoothing, reduction)
    return _finish(out, reduction, _index_shape(input))


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing):
    if ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index ({ignore_index}) is only supported for "
                         f"class-index targets, not class probabilities")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    if target.dtype is not input.dtype:
        target = target.to(input.dtype)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    prod = log_softmax(input, class_dim) * target
    if weight is not None:
        prod = prod * reshape(weight, (n_classes,) + (1,) * (input.ndim - class_dim - 1))
    loss = -_sum(prod, class_dim)
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / (input.numel() // max(n_classes, 1))


# -- regression losses ----------------------------------------------------------------------
def _pair(fn: str, input, target):
    """Check and broadcast ``input``/``target`` as PyTorch does (with its warning)."""
    _float_input(fn, "input", input)
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: target must be a corefw.Tensor, got {type(target).__name__}")
    if tuple(target.shape) != tuple(input.shape):
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ShapeError(f"{fn}: input of shape {input.shape} and target of shape "
                             f"{target.shape} cannot be broadcast together; give the target "
                             f"the input's shape") from None
        warnings.warn(f"{fn}: using a target size {target.shape} that is different to the "
                      f"input size {input.shape}; they will be broadcast, which is likely "
                      f"not what you want. Give the target the input's shape.", stacklevel=3)
    return input, target


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None):
    """Mean squared error ``(input - target)^2`` (optionally times ``weight``)."""
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    input, target = _pair("mse_loss", input, target)
    d = input - target
    loss = d * d
    return _apply_reduction(loss if weight is None else loss * weight, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Mean absolute error ``|input - target|``."""
    reduction = _reduction("l1_loss", size_average, reduce, reduction)
    input, target = _pair("l1_loss", input, target)
    return _apply_reduction(_abs(input - target), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0):
    """``0.5 * d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (``d = input -
    target``); ``beta = 0`` is the L1 loss."""
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair("smooth_l1_loss", input, target)
    d = input - target
    z = _abs(d)
    if beta == 0:
        return _apply_reduction(z, reduction)
    return _apply_reduction(where(z < beta, (0.5 / beta) * d * d, z - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """``0.5 * d^2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``."""
    reduction = _reduction("huber_loss", None, None, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair("huber_loss", input, target)
    d = input - target
    z = _abs(d)
    loss = where(z < delta, 0.5 * d * d, delta * (z - 0.5 * delta))
    return _apply_reduction(loss if weight is None else loss * weight, reduction)


# -- binary and distribution losses ---------------------------------------------------------
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """``-weight * (t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x`` in [0, 1].

    As in PyTorch the logs are clamped at -100, so ``x`` of exactly 0 or 1 gives a finite loss
    and gradient; ``target`` must have the input's shape. Prefer
    :func:`binary_cross_entropy_with_logits` on logits: it is stable everywhere.
    """
    reduction = _reduction("binary_cross_entropy", size_average, reduce, reduction)
    _float_input("binary_cross_entropy", "input", input)
    if not isinstance(target, Tensor) or tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"binary_cross_entropy: target of shape "
                         f"{getattr(target, 'shape', None)} differs from the input's shape "
                         f"{input.shape}; give the target the input's shape")
    if input.numel() and not input.is_meta and not is_compiling():
        lo, hi = input.detach().amin().item(), input.detach().amax().item()
        if lo < 0 or hi > 1:
            raise ValueError(f"binary_cross_entropy: all elements of input should be between "
                             f"0 and 1, found values in [{lo}, {hi}]; apply sigmoid first or "
                             f"use binary_cross_entropy_with_logits")
    if target.dtype is not input.dtype:
        target = target.to(input.dtype)
    loss = binary_cross_entropy_elementwise(input, target)
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight=None):
    """Sigmoid + binary cross entropy in one stable expression.

    ``loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * log(1 + exp(-x))``, times ``weight``;
    ``pos_weight`` (broadcast along the last dim, one entry per class) weighs the positive
    term. Finite and exact for logits of any magnitude.
    """
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _float_input(fn, "input", input)
    if not isinstance(target, Tensor) or tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"{fn}: target size ({getattr(target, 'shape', None)}) must be the "
                         f"same as input size ({input.shape})")
    if target.dtype is not input.dtype:
        target = target.to(input.dtype)
    log_one_plus = softplus(-input)  # -log(sigmoid(x)), stable
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + log_weight * log_one_plus
    else:
        loss = (1 - target) * input + log_one_plus
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False):
    """Kullback-Leibler divergence with ``input`` the log-probabilities of the model.

    Pointwise ``target * (log(target) - input)`` (0 where ``target == 0``), or with
    ``log_target=True`` ``exp(target) * (target - input)``. ``reduction="batchmean"`` divides
    the sum by the batch size (the mathematically correct KL); "mean" divides by the number of
    elements, as PyTorch (which warns about it).
    """
    allowed = _REDUCTIONS + ("batchmean",)
    reduction = _reduction("kl_div", size_average, reduce, reduction, allowed)
    input, target = _pair("kl_div", input, target)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        pos = target > 0
        safe = where(pos, target, 1.0)
        loss = where(pos, target * (log(safe) - input), 0.0)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides the total loss by both the batch size "
                      "and the support size; 'batchmean' divides only by the batch size and "
                      "matches the KL divergence's definition", stacklevel=2)
    return _apply_reduction(loss, reduction)

