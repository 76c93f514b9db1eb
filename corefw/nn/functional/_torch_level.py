"""The layer functions PyTorch also has at the top level (``torch.conv2d``,
``torch.layer_norm``, ``torch.dropout`` ...): ``corefw.<name>`` answers them from here. Most
are :mod:`corefw.nn.functional`'s functions themselves; where ``torch.*``'s signature differs
from ``torch.nn.functional``'s (``torch.batch_norm``'s argument order, ``torch.embedding``'s
weight first, the losses' integer ``reduction``), a wrapper takes PyTorch's top-level form."""

from __future__ import annotations

from .. import functional as F

#: torch.* names that are the functional's own function
SAME = """adaptive_avg_pool1d adaptive_max_pool1d alpha_dropout avg_pool1d bilinear celu
channel_shuffle conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d
cosine_similarity dropout feature_alpha_dropout group_norm hardshrink layer_norm max_pool1d
max_pool2d max_pool3d pairwise_distance pdist pixel_shuffle pixel_unshuffle prelu rms_norm
rrelu selu threshold""".split()

_REDUCTION = {0: "none", 1: "mean", 2: "sum"}


def _r(reduction) -> str:
    """torch.*'s losses take ``reduction`` as an int (0 none, 1 mean, 2 sum)."""
    return _REDUCTION[reduction] if isinstance(reduction, int) else reduction


# -- the losses in torch.*'s signatures (no size_average/reduce; integer reduction) ----------
def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None,
                                     reduction=1):
    return F.binary_cross_entropy_with_logits(input, target, weight, reduction=_r(reduction),
                                              pos_weight=pos_weight)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, reduction=1):
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_r(reduction))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction=1,
             zero_infinity: bool = False):
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, _r(reduction),
                      zero_infinity)


def hinge_embedding_loss(input, target, margin: float = 1.0, reduction=1):
    return F.hinge_embedding_loss(input, target, margin, reduction=_r(reduction))


def kl_div(input, target, reduction=1, log_target: bool = False):
    return F.kl_div(input, target, reduction=_r(reduction), log_target=log_target)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, reduction=1):
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_r(reduction))


def poisson_nll_loss(input, target, log_input: bool, full: bool, eps: float, reduction):
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps,
                              reduction=_r(reduction))


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, reduction=1):
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                 reduction=_r(reduction))


LOSSES = ["binary_cross_entropy_with_logits", "cosine_embedding_loss", "ctc_loss",
          "hinge_embedding_loss", "kl_div", "margin_ranking_loss", "poisson_nll_loss",
          "triplet_margin_loss"]


def batch_norm(input, weight, bias, running_mean, running_var, training: bool,
               momentum: float, eps: float, cudnn_enabled: bool = True):
    """``torch.batch_norm``: :func:`F.batch_norm` with the affine parameters first."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                        eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats: bool,
                  momentum: float, eps: float, cudnn_enabled: bool = True):
    """``torch.instance_norm``: :func:`F.instance_norm` with the affine parameters first."""
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                           momentum, eps)


def embedding(weight, input, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False):
    """``torch.embedding``: the weight first; ``padding_idx=-1`` means none."""
    return F.embedding(input, weight, None if padding_idx < 0 else padding_idx,
                       scale_grad_by_freq=scale_grad_by_freq)


def embedding_bag(weight, input, offsets=None, scale_grad_by_freq: bool = False,
                  mode: int = 0, sparse: bool = False, per_sample_weights=None,
                  include_last_offset: bool = False, padding_idx=None):
    """``torch.embedding_bag``: the weight first, ``mode`` 0/1/2 for sum/mean/max; returns
    the bags (PyTorch also returns three bookkeeping tensors of its kernel)."""
    return F.embedding_bag(input, weight, offsets, mode={0: "sum", 1: "mean", 2: "max"}[mode],
                           per_sample_weights=per_sample_weights,
                           include_last_offset=include_last_offset, padding_idx=padding_idx)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False):
    """``(output, indices)`` of :func:`F.max_pool1d`."""
    return F.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode,
                        return_indices=True)


NAMES = SAME + LOSSES + ["batch_norm", "embedding", "embedding_bag", "instance_norm",
                         "max_pool1d_with_indices"]
__all__ = list(NAMES)

globals().update({n: getattr(F, n) for n in SAME})
