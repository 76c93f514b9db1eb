"""The remaining losses of ``torch.nn.functional`` with PyTorch's signatures and formulas:
margin and ranking losses, multi-label losses, triplet losses, Poisson and Gaussian negative
log-likelihoods. All are compositions of corefw ops; ``reduction`` is "none", "mean" or "sum"
(the deprecated ``size_average``/``reduce`` are honoured where PyTorch still takes them).
"""

from __future__ import annotations

import math

import numpy as np

import corefw

from ..._tensor import Tensor
from ...errors import CorefwIndexError, DTypeError, ShapeError
from ._activation import logsigmoid, relu, softplus
from ._activation_more import pairwise_distance
from ._loss import _apply_reduction, _float_input, _pair, _reduction
from ._sparse import one_hot

__all__ = ["cosine_embedding_loss", "ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss",
           "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss",
           "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss",
           "triplet_margin_loss", "triplet_margin_with_distance_loss"]


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """``log(1 + exp(-y * x))`` for targets ``y`` in {-1, 1}."""
    reduction = _reduction("soft_margin_loss", size_average, reduce, reduction)
    input, target = _pair("soft_margin_loss", input, target)
    return _apply_reduction(softplus(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean"):
    """``-mean_c(y_c * logsigmoid(x_c) + (1 - y_c) * logsigmoid(-x_c))`` per sample (C is the
    last dim), optionally weighted per class."""
    fn = "multilabel_soft_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    input, target = _pair(fn, input, target)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(input.ndim - 1) / input.shape[-1]
    return _apply_reduction(loss, reduction)


def _class_input(fn, input, target):
    _float_input(fn, "input", input)
    if not isinstance(target, Tensor) or target.dtype.is_floating_point:
        raise DTypeError(f"{fn}: target must be an integer tensor of class indices, got "
                         f"{getattr(target, 'dtype', type(target).__name__)}")
    if input.ndim not in (1, 2):
        raise ShapeError(f"{fn}: expected a 1-D (C) or 2-D (N, C) input, got shape "
                         f"{tuple(input.shape)}")


def multilabel_margin_loss(input, target, size_average=None, reduce=None,
                           reduction: str = "mean"):
    """``sum_{j in y} sum_{i not in y} max(0, 1 - (x[j] - x[i])) / C`` per sample, ``y`` the
    class indices at the start of each target row, up to the first -1."""
    fn = "multilabel_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _class_input(fn, input, target)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"{fn}: target of shape {tuple(target.shape)} must have the input's "
                         f"shape {tuple(input.shape)}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    n, c = x.shape
    pairs = np.zeros((n, c, c))  # [n, j, i] = 1 where j is a target and i is not
    # (meta tensors have no labels: the placeholder mask still gives the result's shape)
    t = np.full((n, c), -1) if target.is_meta else target.detach().cpu().numpy().reshape(n, c)
    for k in range(n):
        labels = []
        for v in t[k]:
            if v < 0:
                break
            if v >= c:
                raise CorefwIndexError(f"{fn}: target index {v} is out of range for {c} "
                                       f"classes")
            labels.append(int(v))
        is_target = np.zeros(c, bool)
        is_target[labels] = True
        for j in labels:
            pairs[k, j] += ~is_target
    mask = corefw.tensor(pairs, dtype=x.dtype, device=x.device)
    hinge = relu(1 - (x.unsqueeze(2) - x.unsqueeze(1)))  # [n, j, i]
    loss = (hinge * mask).sum((1, 2)) / c
    if input.ndim == 1:
        loss = loss.squeeze(0)
    return _apply_reduction(loss, reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,
                      size_average=None, reduce=None, reduction: str = "mean"):
    """``sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / C`` per sample (p is 1 or 2)."""
    fn = "multi_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{fn}: only p == 1 and p == 2 supported, got p={p}")
    _class_input(fn, input, target)
    x = input if input.ndim == 2 else input.unsqueeze(0)
    n, c = x.shape
    y = target.reshape(-1)
    if y.shape[0] != n:
        raise ShapeError(f"{fn}: inconsistent target size {tuple(target.shape)} for input of "
                         f"shape {tuple(input.shape)}")
    if n and not y.is_meta and (int(y.amin().item()) < 0 or int(y.amax().item()) >= c):
        raise CorefwIndexError(f"{fn}: target values must be in [0, {c - 1}]")
    picked = x.gather(1, y.unsqueeze(1))  # (n, 1)
    z = relu(margin - picked + x)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.index_select(0, y).unsqueeze(1)
    other = one_hot(y, c).to(x.dtype)
    loss = (z * (1 - other)).sum(1) / c
    if input.ndim == 1:
        loss = loss.squeeze(0)
    return _apply_reduction(loss, reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """``x`` where ``y == 1``, ``max(0, margin - x)`` where ``y == -1`` (PyTorch adds both
    terms for other target values)."""
    fn = "hinge_embedding_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    input, target = _pair(fn, input, target)
    zero = input * 0.0
    out = corefw.where(target != 1, relu(margin - input), zero) + \
        corefw.where(target != -1, input, zero)
    return _apply_reduction(out, reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                          reduce=None, reduction: str = "mean"):
    """``1 - cos(x1, x2)`` where ``y == 1``, ``max(0, cos(x1, x2) - margin)`` where
    ``y == -1``; the cosine along the last dim with ``1e-12`` added to each squared norm."""
    fn = "cosine_embedding_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _float_input(fn, "input1", input1)
    _float_input(fn, "input2", input2)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise ShapeError(f"{fn}: expected 1-D or 2-D inputs of the same shape, got "
                         f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    if tuple(target.shape) != tuple(input1.shape[:-1]):
        raise ShapeError(f"{fn}: target of shape {tuple(target.shape)} must have shape "
                         f"{tuple(input1.shape[:-1])} (one label per pair)")
    d = input1.ndim - 1
    eps = 1e-12
    denom = (((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)).sqrt()
    cos = (input1 * input2).sum(d) / denom
    zero = cos * 0.0
    out = corefw.where(target == 1, 1 - cos, zero) + \
        corefw.where(target == -1, relu(cos - margin), zero)
    return _apply_reduction(out, reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None,
                        reduce=None, reduction: str = "mean"):
    """``max(0, -y * (x1 - x2) + margin)``."""
    fn = "margin_ranking_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _float_input(fn, "input1", input1)
    _float_input(fn, "input2", input2)
    if not (tuple(input1.shape) == tuple(input2.shape) == tuple(target.shape)):
        raise ShapeError(f"{fn}: input1 {tuple(input1.shape)}, input2 {tuple(input2.shape)} "
                         f"and target {tuple(target.shape)} must have the same shape")
    return _apply_reduction(relu(-target * (input1 - input2) + margin), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean"):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` = ``distance_function`` (default
    :func:`pairwise_distance`); ``swap`` uses ``min(d(a, n), d(p, n))``."""
    fn = "triplet_margin_with_distance_loss"
    reduction = _reduction(fn, None, None, reduction)
    if margin <= 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _float_input(fn, name, t)
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = corefw.minimum(d_neg, dist(positive, negative))
    return _apply_reduction(relu(margin + d_pos - d_neg), reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """:func:`triplet_margin_with_distance_loss` with ``pairwise_distance(., ., p, eps)``."""
    fn = "triplet_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    ndims = {t.ndim for t in (anchor, positive, negative)}
    if len(ndims) != 1 or anchor.ndim not in (1, 2):
        raise ShapeError(f"{fn}: anchor, positive and negative must all be 1-D or all 2-D, got "
                         f"shapes {tuple(anchor.shape)}, {tuple(positive.shape)}, "
                         f"{tuple(negative.shape)}")
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _float_input(fn, name, t)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = corefw.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _apply_reduction(relu(margin + d_pos - d_neg), reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean"):
    """``exp(x) - y * x`` (``log_input``) or ``x - y * log(x + eps)``; ``full`` adds the
    Stirling term ``y * log(y) - y + 0.5 * log(2 * pi * y)`` where ``y > 1``."""
    fn = "poisson_nll_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    input, target = _pair(fn, input, target)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target > 1
        safe = corefw.where(big, target, corefw.ones_like(target))
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + corefw.where(big, stirling, stirling * 0.0)
    return _apply_reduction(loss, reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean"):
    """``0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps))`` (+ ``0.5 *
    log(2 * pi)`` with ``full``). ``var`` has the input's shape, or one dim less, or a last dim
    of 1; as PyTorch the clamp at ``eps`` passes the gradient through unchanged."""
    fn = "gaussian_nll_loss"
    reduction = _reduction(fn, None, None, reduction)
    _float_input(fn, "input", input)
    if isinstance(var, (int, float)):
        var = corefw.full_like(input, float(var))
    _float_input(fn, "var", var)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ShapeError(f"{fn}: var of shape {tuple(var.shape)} is of incorrect size for "
                             f"input {tuple(input.shape)}")
    if var.numel() and not var.is_meta and float(var.detach().amin().item()) < 0:
        raise ValueError(f"{fn}: var has negative entry/entries")
    var = var + (var.clamp(min=eps) - var).detach()
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(loss, reduction)


_NEG = -1e30  # "log 0" kept finite so that logsumexp and its gradient stay NaN-free


def _lengths(fn, name, v, n):
    vals = v.detach().cpu().numpy().tolist() if isinstance(v, Tensor) else list(v)
    vals = [int(x) for x in np.ravel(vals)]
    if len(vals) != n:
        raise ShapeError(f"{fn}: {name} must have one entry per batch element ({n}), got "
                         f"{len(vals)}")
    return vals


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False):
    """Connectionist temporal classification loss, as ``F.ctc_loss``.

    ``log_probs`` (T, N, C) or (T, C) are log-softmax outputs; ``targets`` (N, S) padded or the
    1-D concatenation of all targets; ``input_lengths`` / ``target_lengths`` one per sample.
    The loss is ``-log`` of the summed probability of every alignment that collapses (merge
    repeats, drop blanks) to the target, by the forward (alpha) recursion in log space; its
    gradient comes from the recursion's ops. "mean" divides each loss by its target length,
    then averages; an impossible alignment gives ``inf`` (0 with ``zero_infinity``).
    """
    fn = "ctc_loss"
    reduction = _reduction(fn, None, None, reduction)
    _float_input(fn, "log_probs", log_probs)
    if log_probs.ndim not in (2, 3):
        raise ShapeError(f"{fn}: log_probs must be (T, N, C) or (T, C), got shape "
                         f"{tuple(log_probs.shape)}")
    if log_probs.is_meta:
        raise ShapeError(f"{fn}: the alignment depends on the target values, which meta "
                         f"tensors do not have")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    t_max, n, c = lp.shape
    if not 0 <= blank < c:
        raise ValueError(f"{fn}: blank must be in label range [0, {c}), got {blank}")
    in_len = _lengths(fn, "input_lengths", input_lengths, n)
    tg_len = _lengths(fn, "target_lengths", target_lengths, n)
    if max(in_len) > t_max or min(in_len) < 0:
        raise ShapeError(f"{fn}: input_lengths {in_len} must be within the {t_max} time steps "
                         f"of log_probs")
    tg = np.asarray(targets.detach().cpu().numpy() if isinstance(targets, Tensor)
                    else targets).astype(np.int64)
    if unbatched or tg.ndim == 1:
        flat, offs = tg.reshape(-1), np.concatenate([[0], np.cumsum(tg_len)])
        if not unbatched and offs[-1] > len(flat):
            raise ShapeError(f"{fn}: target_lengths {tg_len} sum to more than the "
                             f"{len(flat)} concatenated targets")
        rows = [flat[offs[i]:offs[i + 1]] for i in range(n)]
    else:
        rows = [tg[i, :tg_len[i]] for i in range(n)]
    width = 2 * max(tg_len + [0]) + 1
    ext = np.full((n, width), blank, dtype=np.int64)
    skip = np.zeros((n, width), bool)  # s may come from s - 2
    for i, row in enumerate(rows):
        if len(row) != tg_len[i] or (len(row) and (row.min() < 0 or row.max() >= c)):
            raise ShapeError(f"{fn}: target {i} must hold target_lengths[{i}] = {tg_len[i]} "
                             f"labels in [0, {c})")
        ext[i, 1:2 * len(row):2] = row
        skip[i, 3:2 * len(row):2] = row[1:] != row[:-1]
    dev, dt = lp.device, lp.dtype
    idx = corefw.tensor(ext, device=dev).unsqueeze(0).expand(t_max, n, width)
    emit = lp.gather(2, idx)  # (T, N, width)
    skip_t = corefw.tensor(skip, device=dev)
    start = np.full((n, width), _NEG)
    start[:, 0] = 0.0
    start[np.array(tg_len) > 0, 1] = 0.0
    alpha = corefw.tensor(start, dtype=dt, device=dev) + emit[0]
    neg = corefw.full((n, 1), _NEG, dtype=dt, device=dev)
    neg2 = corefw.full((n, 2), _NEG, dtype=dt, device=dev)
    lens = corefw.tensor(in_len, device=dev).reshape(n, 1)
    for t in range(1, t_max):
        one = corefw.cat([neg, alpha[:, :-1]], 1)
        two = corefw.where(skip_t, corefw.cat([neg2, alpha[:, :-2]], 1), neg)
        new = corefw.stack([alpha, one, two], 0).logsumexp(0) + emit[t]
        alpha = corefw.where(lens > t, new, alpha)
    last = corefw.tensor([[2 * k, max(2 * k - 1, 0)] for k in tg_len], device=dev)
    ends = alpha.gather(1, last)
    ends = corefw.where(corefw.tensor([[True, k > 0] for k in tg_len], device=dev), ends,
                        corefw.full_like(ends, _NEG))
    loss = -ends.logsumexp(1)
    # no input frames: probability 1 for an empty target, 0 (loss "infinite") for any other
    no_frames = corefw.tensor([k == 0 for k in in_len], device=dev)
    empty_target = corefw.tensor([k == 0 for k in tg_len], device=dev)
    loss = corefw.where(no_frames, corefw.where(empty_target, loss * 0.0, loss * 0.0 - _NEG),
                        loss)
    impossible = loss > -_NEG / 10
    loss = corefw.where(impossible, loss * 0.0 + (0.0 if zero_infinity else math.inf), loss)
    if reduction == "mean":
        denom = corefw.tensor([max(k, 1) for k in tg_len], dtype=dt, device=dev)
        return (loss / denom).mean()
    if unbatched and reduction == "none":
        return loss.squeeze(0)
    return _apply_reduction(loss, reduction)
