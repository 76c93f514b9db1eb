"""Fused layer ops: ``embedding``, ``dropout`` and ``scaled_dot_product_attention``.

* ``embedding(weight, indices, padding_idx, scale_grad_by_freq)``: ``weight[indices]``. The
  gradient is accumulated into the rows that were looked up; the ``padding_idx`` row gets none;
  ``scale_grad_by_freq`` divides each row's gradient by how often its index occurs.
* ``dropout(x, noise, p)``: ``x / (1 - p)`` where ``noise >= p``, else 0. ``noise`` holds
  uniform samples in [0, 1) drawn by the caller (from the device's RNG), so the op itself stays
  pure: the same operands give the same result on every backend. ``noise`` may broadcast
  against ``x`` (channel dropout).
* ``scaled_dot_product_attention(q, k, v, mask, scale, is_causal)``:
  ``softmax(q @ k^T * scale + mask) @ v``; a bool ``mask`` keeps the positions where it is
  True, a float one is added; ``is_causal`` keeps ``j <= i`` (top-left aligned). Rows with no
  allowed key give NaN, as PyTorch's reference implementation.

Each op has a closed-form VJP written with corefw ops and a decomposition into other ops, the
reference for backends' fused kernels.
"""

from __future__ import annotations

import math

from .._call import apply
from .._creation import arange, ones, zeros
from .activation import softmax
from .elementwise import where
from .indexing import index_put
from .reduction import sum as rsum
from .reduction import sum_to
from .registry import declare
from .shape import reshape, transpose

__all__ = ["causal_mask", "dropout_op", "embedding_op", "sdpa_op"]


# -- embedding ------------------------------------------------------------------------------
def _embedding_decomp(weight, indices, padding_idx=None, scale_grad_by_freq=False):
    return weight[indices]


def _embedding_vjp(ctx, g):
    weight, indices = ctx.inputs
    n, dim = weight.shape
    idx = reshape(indices, (-1,))
    g2 = reshape(g, (-1, dim))
    gw = index_put(zeros((n, dim), dtype=g.dtype, device=g.device), (idx,), g2, accumulate=True)
    if ctx.attrs["scale_grad_by_freq"]:
        counts = index_put(zeros((n,), dtype=g.dtype, device=g.device), (idx,),
                           ones(idx.shape, dtype=g.dtype, device=g.device), accumulate=True)
        gw = gw / where(counts > 0, counts, 1.0).unsqueeze(1)
    pad = ctx.attrs["padding_idx"]
    if pad is not None:
        gw = index_put(gw, (pad,), 0.0)
    return gw, None


_EMBEDDING = declare("embedding", decomposition=_embedding_decomp, vjp=_embedding_vjp,
                         doc="weight[indices], gradient accumulated into the looked-up rows")


def embedding_op(weight, indices, padding_idx: int | None, scale_grad_by_freq: bool):
    """The ``embedding`` op (indices already checked; ``padding_idx`` non-negative or None)."""
    return apply(_EMBEDDING, (weight, indices), {"padding_idx": padding_idx,
                                                 "scale_grad_by_freq": bool(scale_grad_by_freq)})


# -- dropout --------------------------------------------------------------------------------
def _dropout_decomp(x, noise, p):
    return where(noise >= p, x * (1.0 / (1.0 - p)), 0.0)


def _dropout_vjp(ctx, g):
    x, noise = ctx.inputs
    p = ctx.attrs["p"]
    return sum_to(where(noise >= p, g * (1.0 / (1.0 - p)), 0.0), x.shape), None


_DROPOUT = declare("dropout", decomposition=_dropout_decomp, vjp=_dropout_vjp,
                       doc="x / (1 - p) where noise >= p else 0 (noise: uniform [0, 1))")


def dropout_op(x, noise, p: float):
    """The ``dropout`` op; ``0 <= p < 1`` (the caller handles ``p == 1``)."""
    return apply(_DROPOUT, (x, noise), {"p": float(p)})


# -- scaled dot-product attention -----------------------------------------------------------
def causal_mask(n_q: int, n_k: int, device):
    """Bool ``(n_q, n_k)`` mask, True where key ``j <= i`` (PyTorch's ``ones(L, S).tril()``)."""
    return reshape(arange(n_k, device=device), (1, n_k)) <= reshape(
        arange(n_q, device=device), (n_q, 1))


def _scores(q, k, mask, scale, is_causal):
    s = (q @ transpose(k, -1, -2)) * scale
    if is_causal:
        s = where(causal_mask(s.shape[-2], s.shape[-1], q.device), s, -math.inf)
    if mask is not None:
        s = where(mask, s, -math.inf) if mask.dtype.name == "bool" else s + mask
    return s


def _sdpa_decomp(q, k, v, mask, scale, is_causal):
    return softmax(_scores(q, k, mask, scale, is_causal), -1) @ v


def _sdpa_vjp(ctx, g):
    q, k, v, mask = ctx.inputs
    scale, is_causal = ctx.attrs["scale"], ctx.attrs["is_causal"]
    p = softmax(_scores(q, k, mask, scale, is_causal), -1)
    gv = sum_to(transpose(p, -1, -2) @ g, v.shape) if v.requires_grad else None
    dp = g @ transpose(v, -1, -2)
    ds = p * (dp - rsum(dp * p, -1, keepdim=True))
    gq = sum_to((ds @ k) * scale, q.shape) if q.requires_grad else None
    gk = sum_to((transpose(ds, -1, -2) @ q) * scale, k.shape) if k.requires_grad else None
    gm = None
    if mask is not None and mask.requires_grad:
        gm = sum_to(ds, mask.shape)
    return gq, gk, gv, gm


_SDPA = declare("scaled_dot_product_attention", decomposition=_sdpa_decomp, vjp=_sdpa_vjp,
                    doc="softmax(q @ k^T * scale + mask) @ v")


def sdpa_op(q, k, v, mask, scale: float, is_causal: bool):
    """The ``scaled_dot_product_attention`` op (shapes checked by the caller; a float mask in
    ``q``'s dtype)."""
    return apply(_SDPA, (q, k, v, mask), {"scale": float(scale), "is_causal": bool(is_causal)})
