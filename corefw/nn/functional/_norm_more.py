"""More normalisation and bag lookups with PyTorch's signatures: instance_norm, rms_norm,
local_response_norm, embedding_bag.

``instance_norm`` is training-mode batch normalisation of the ``(1, N * C, ...)`` view (one
"channel" per sample and channel), as PyTorch computes it; the others are compositions of corefw
ops, so all run and differentiate on every backend.
"""

from __future__ import annotations

import numpy as np

import corefw

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ...errors import CorefwIndexError, ShapeError
from ._activation import pad
from ._conv import _fmt
from ._norm import _check_float, _check_param, _normalized_shape, batch_norm
from ._sparse import _check_indices, _padding_idx, _renorm_

__all__ = ["embedding_bag", "instance_norm", "local_response_norm", "rms_norm"]


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel of each sample over its spatial positions (biased variance),
    then apply per-channel ``weight`` and ``bias``.

    With ``use_input_stats`` and running statistics given, these are updated in place with the
    batch average of the per-instance mean and unbiased variance (as PyTorch);
    ``use_input_stats=False`` normalises with ``running_mean``/``running_var`` instead.
    """
    fn = "instance_norm"
    _check_float(fn, input)
    if input.ndim < 3:
        raise ShapeError(f"{fn}: expected an input of at least 3 dims (N, C, *spatial), got "
                         f"shape {_fmt(input.shape)}")
    n, c = input.shape[:2]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(fn, name, t, (c,), input)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{fn}: running_mean and running_var must be given when "
                             f"use_input_stats=False")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    spatial = input.numel() // max(n * c, 1)
    if spatial <= 1:
        raise ValueError(f"{fn}: expected more than 1 spatial element when training, got input "
                         f"of shape {_fmt(input.shape)}")
    if running_mean is not None or running_var is not None:
        dims = tuple(range(2, input.ndim))
        with no_grad():
            x = input.detach()
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(x.mean(dims).mean(0), alpha=momentum)
            if running_var is not None:
                var = x.var(dims, correction=1).mean(0)
                running_var.mul_(1 - momentum).add_(var, alpha=momentum)
    flat = input.reshape(1, n * c, *input.shape[2:])
    y = batch_norm(flat, None, None, None, None, True, momentum, eps).reshape(input.shape)
    shape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing dims ``normalized_shape``;
    ``eps=None`` is the machine epsilon of the input's dtype, as PyTorch."""
    fn = "rms_norm"
    shape = _normalized_shape(fn, input, normalized_shape)
    k = len(shape)
    _check_param(fn, "weight", weight, shape, input)
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0):
    """``x / (k + alpha / size * sum of x^2 over the size neighbouring channels)^beta``,
    the window ``[c - size // 2, c + (size - 1) // 2]`` zero-padded at the ends."""
    fn = "local_response_norm"
    _check_float(fn, input)
    if input.ndim < 3:
        raise ShapeError(f"{fn}: expected 3D or higher dimensionality input (got "
                         f"{input.ndim} dimensions, shape {_fmt(input.shape)})")
    if int(size) < 1:
        raise ValueError(f"{fn}: size must be positive, got {size}")
    c = input.shape[1]
    sq = input * input
    pads = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    sq = pad(sq, pads)
    total = None
    for i in range(size):
        part = sq[:, i:i + c]
        total = part if total is None else total + part
    div = (total * (alpha / size) + k).pow(beta)
    return input / div


def _bags(fn, input, offsets, include_last_offset):
    """(flat indices, per-bag (start, end) list) from 2-D input or 1-D input + offsets."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{fn}: if input is 2D, then offsets has to be None, as input is "
                             f"treated is a mini-batch of fixed length sequences")
        b, length = input.shape
        return input.reshape(-1), [(i * length, (i + 1) * length) for i in range(b)]
    if input.ndim != 1:
        raise ShapeError(f"{fn}: input has to be 1D or 2D, got shape {_fmt(input.shape)}")
    if offsets is None or offsets.ndim != 1:
        raise ValueError(f"{fn}: offsets has to be a 1D tensor when input is 1D, got "
                         f"{getattr(offsets, 'shape', None)}")
    if offsets.is_meta:
        raise ShapeError(f"{fn}: the bags given by offsets depend on their values, which meta "
                         f"tensors do not have")
    off = [int(v) for v in offsets.detach().cpu().numpy()]
    total = input.shape[0]
    if off and (off[0] != 0 or any(a > b for a, b in zip(off, off[1:])) or off[-1] > total):
        raise CorefwIndexError(f"{fn}: offsets {off} must start at 0, be non-decreasing and "
                               f"at most the input length {total}")
    ends = off[1:] if include_last_offset else off[1:] + [total]
    starts = off[:-1] if include_last_offset else off
    return input, list(zip(starts, ends))


def embedding_bag(input, weight, offsets=None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean",
                  sparse: bool = False, per_sample_weights=None,
                  include_last_offset: bool = False, padding_idx: int | None = None):
    """Sums, means or maxima of bags of embedding rows, as ``F.embedding_bag``.

    Bags are the rows of a 2-D ``input``, or the slices ``input[offsets[i]:offsets[i + 1]]``
    of a 1-D one. Entries equal to ``padding_idx`` are left out (and not counted by "mean");
    an empty bag gives zeros. ``per_sample_weights`` (``mode="sum"`` only) scale each entry.
    """
    fn = "embedding_bag"
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ShapeError(f"{fn}: weight must be a 2-D (num_embeddings, embedding_dim) tensor, "
                         f"got {getattr(weight, 'shape', type(weight).__name__)}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{fn}: mode has to be one of sum, mean or max, got {mode!r}")
    n, dim = weight.shape
    _check_indices(fn, input, n)
    pad = _padding_idx(padding_idx, n)
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{fn}: per_sample_weights was not None; it is only "
                                      f"supported for mode='sum' (got mode={mode!r})")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ShapeError(f"{fn}: per_sample_weights of shape "
                             f"{_fmt(per_sample_weights.shape)} must have the input's shape "
                             f"{_fmt(input.shape)}")
    flat, bags = _bags(fn, input, offsets, include_last_offset)
    if max_norm is not None:
        _renorm_(weight, flat, float(max_norm), float(norm_type))
    rows = weight.index_select(0, flat)  # (E, D)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    if input.ndim == 2 and pad is None:  # fixed-length bags: a plain reduction (meta-safe)
        bags3 = rows.reshape(input.shape[0], input.shape[1], dim)
        if input.shape[1] == 0:
            return weight.new_zeros((input.shape[0], dim))
        return {"sum": bags3.sum, "mean": bags3.mean, "max": bags3.amax}[mode](1)
    if flat.is_meta:
        raise ShapeError(f"{fn}: bags given by offsets or padding_idx depend on the index "
                         f"values, which meta tensors do not have")
    ids = flat.detach().cpu().numpy()
    keep = np.ones(len(ids), bool) if pad is None else ids != pad
    if mode == "max":
        out = []
        for s, e in bags:
            sel = np.nonzero(keep[s:e])[0] + s
            if len(sel) == 0:
                out.append(weight.new_zeros((1, dim)))
                continue
            part = rows.index_select(0, corefw.tensor(sel, dtype=corefw.int64,
                                                      device=weight.device))
            out.append(part.amax(0, keepdim=True))
        return corefw.cat(out, 0) if out else corefw.zeros(0, dim, dtype=weight.dtype,
                                                            device=weight.device)
    # sum/mean: a segment sum (scatter_add of each entry, weighted, into its bag's row)
    bag_of = np.zeros(len(ids), dtype=np.int64)
    scale = np.zeros(len(ids))  # entries in no bag (past the last offset) count for none
    for b, (s, e) in enumerate(bags):
        bag_of[s:e] = b
        count = keep[s:e].sum()
        scale[s:e] = keep[s:e] / (count if mode == "mean" and count else 1)
    dev = weight.device
    src = rows * corefw.tensor(scale, dtype=weight.dtype, device=dev).reshape(-1, 1)
    index = corefw.tensor(bag_of, device=dev).reshape(-1, 1).expand(len(ids), dim)
    out = corefw.zeros(len(bags), dim, dtype=weight.dtype, device=dev)
    return out.scatter_add(0, index, src) if len(ids) else out
