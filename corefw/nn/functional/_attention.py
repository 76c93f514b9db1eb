"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

Masks follow PyTorch. For ``scaled_dot_product_attention`` a bool ``attn_mask`` marks the
positions that *take part* (True = attend), a float mask is added to the scores. For
``multi_head_attention_forward`` (and :class:`~corefw.nn.MultiheadAttention`) a bool
``attn_mask`` or ``key_padding_mask`` marks the positions to *ignore* (True = masked out), a
float one is added. A query row whose keys are all masked gives NaN, as in PyTorch.
"""

from __future__ import annotations

import math

from ..._creation import zeros
from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.activation import softmax
from ...ops.elementwise import where
from ...ops.linalg import linear
from ...ops.nn_misc import causal_mask, sdpa_op
from ...ops.shape import cat, chunk, expand, pad, reshape, transpose
from ._dropout import dropout

__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]


def _repeat_heads(x, times: int):
    """Repeat each head ``times`` times along dim -3 (grouped-query attention)."""
    shape = x.shape
    x = expand(x.unsqueeze(-3), shape[:-3] + (shape[-3], times) + shape[-2:])
    return reshape(x, shape[:-3] + (shape[-3] * times,) + shape[-2:])


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False):
    """``softmax(query @ key^T * scale + mask) @ value``, as PyTorch's function.

    Shapes: query ``(..., L, E)``, key ``(..., S, E)``, value ``(..., S, Ev)``; result
    ``(..., L, Ev)``. ``attn_mask`` broadcasts to ``(..., L, S)``: bool (True = attend) or float
    (added). ``is_causal`` applies a lower-triangular mask (key ``j`` visible to query ``i`` iff
    ``j <= i``) and excludes ``attn_mask``. ``scale`` defaults to ``1 / sqrt(E)``.
    ``dropout_p`` drops attention weights (always, as PyTorch: pass 0 in evaluation).
    ``enable_gqa`` lets key/value have fewer heads (dim -3) than the query.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise ShapeError(f"scaled_dot_product_attention: {name} must be a tensor of at least "
                             f"2 dims (..., length, features), got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query {query.shape}, key {key.shape} "
                         f"and value {value.shape} do not fit: need query (..., L, E), key "
                         f"(..., S, E), value (..., S, Ev)")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or "
                         "is_causal=True, not both")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        if query.shape[-3] % key.shape[-3]:
            raise ShapeError(f"scaled_dot_product_attention: {query.shape[-3]} query heads are "
                             f"not a multiple of {key.shape[-3]} key/value heads")
        times = query.shape[-3] // key.shape[-3]
        key, value = _repeat_heads(key, times), _repeat_heads(value, times)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise DTypeError(f"scaled_dot_product_attention: attn_mask must be a bool or float "
                             f"tensor, got {type(attn_mask).__name__}")
        if attn_mask.dtype.name != "bool" and attn_mask.dtype is not query.dtype:
            attn_mask = attn_mask.to(query.dtype)
    if dropout_p > 0.0:
        s = (query @ transpose(key, -1, -2)) * scale
        if is_causal:
            s = where(causal_mask(s.shape[-2], s.shape[-1], s.device), s, -math.inf)
        if attn_mask is not None:
            s = where(attn_mask, s, -math.inf) if attn_mask.dtype.name == "bool" else s + attn_mask
        return dropout(softmax(s, -1), dropout_p, True) @ value
    return sdpa_op(query, key, value, attn_mask, scale, is_causal)


def _canonical_mask(mask, name: str, dtype):
    """A mask as a float additive mask in ``dtype`` (bool True -> -inf), or None."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise DTypeError(f"multi_head_attention_forward: {name} must be a tensor, got "
                         f"{type(mask).__name__}")
    if mask.dtype.name == "bool":
        return where(mask, -math.inf, 0.0).to(dtype)
    if not mask.dtype.is_floating_point:
        raise DTypeError(f"multi_head_attention_forward: only bool and floating types of "
                         f"{name} are supported, got {mask.dtype}")
    return mask if mask.dtype is dtype else mask.to(dtype)


def _project(query, key, value, embed_dim, in_proj_weight, in_proj_bias, separate,
             q_proj_weight, k_proj_weight, v_proj_weight):
    if in_proj_bias is not None:
        b_q, b_k, b_v = chunk(in_proj_bias, 3)
    else:
        b_q = b_k = b_v = None
    if separate:
        return (linear(query, q_proj_weight, b_q), linear(key, k_proj_weight, b_k),
                linear(value, v_proj_weight, b_v))
    if query is key and key is value:  # self-attention: one packed projection
        return chunk(linear(query, in_proj_weight, in_proj_bias), 3, -1)
    w_q, w_k, w_v = chunk(in_proj_weight, 3)
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def _check_mha_masks(attn_mask, key_padding_mask, tgt_len, src_len, bsz, num_heads):
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if attn_mask.shape != (tgt_len, src_len):
                raise ShapeError(f"multi_head_attention_forward: the shape of the 2-D "
                                 f"attn_mask is {attn_mask.shape}, but should be "
                                 f"{(tgt_len, src_len)}")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if attn_mask.shape != (bsz * num_heads, tgt_len, src_len):
                raise ShapeError(f"multi_head_attention_forward: the shape of the 3-D "
                                 f"attn_mask is {attn_mask.shape}, but should be "
                                 f"{(bsz * num_heads, tgt_len, src_len)}")
        else:
            raise ShapeError(f"multi_head_attention_forward: attn_mask must be 2-D or 3-D, got "
                             f"shape {attn_mask.shape}")
    if key_padding_mask is not None and key_padding_mask.shape != (bsz, src_len):
        raise ShapeError(f"multi_head_attention_forward: key_padding_mask should have shape "
                         f"{(bsz, src_len)}, got {key_padding_mask.shape}")
    return attn_mask


def multi_head_attention_forward(
        query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
        in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float, out_proj_weight,
        out_proj_bias, training: bool = True, key_padding_mask=None, need_weights: bool = True,
        attn_mask=None, use_separate_proj_weight: bool = False, q_proj_weight=None,
        k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
        average_attn_weights: bool = True, is_causal: bool = False):
    """PyTorch's multi-head attention, sequence-first: query ``(L, N, E)`` (or ``(L, E)``),
    key ``(S, N, kdim)``, value ``(S, N, vdim)``.

    Returns ``(output (L, N, E), weights)``; ``weights`` is ``(N, L, S)`` averaged over heads,
    ``(N, num_heads, L, S)`` with ``average_attn_weights=False``, or None unless
    ``need_weights``. ``attn_mask``: ``(L, S)`` or ``(N * num_heads, L, S)``;
    ``key_padding_mask``: ``(N, S)``; bool masks are True where attention is *not* allowed.
    ``is_causal`` without ``attn_mask`` builds the causal mask.
    """
    batched = query.ndim == 3
    if not batched:
        if query.ndim != 2 or key.ndim != 2 or value.ndim != 2:
            raise ShapeError(f"multi_head_attention_forward: expected query, key, value all "
                             f"3-D (batched) or all 2-D (unbatched), got {query.shape}, "
                             f"{key.shape}, {value.shape}")
        same_kv = key is value
        same_qk = query is key
        query = query.unsqueeze(1)
        key = query if same_qk else key.unsqueeze(1)
        value = key if same_kv else value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    if embed_dim != embed_dim_to_check:
        raise ShapeError(f"multi_head_attention_forward: was expecting embedding dimension of "
                         f"{embed_dim_to_check}, but got {embed_dim}")
    if embed_dim % num_heads:
        raise ShapeError(f"multi_head_attention_forward: embed_dim {embed_dim} is not "
                         f"divisible by num_heads {num_heads}")
    if key.ndim != 3 or key.shape[:2] != value.shape[:2] or key.shape[1] != bsz:
        raise ShapeError(f"multi_head_attention_forward: key {key.shape} and value "
                         f"{value.shape} must be (S, N, features) with N = {bsz}")
    head_dim = embed_dim // num_heads
    dtype = query.dtype
    if is_causal and attn_mask is None:
        attn_mask = ~causal_mask(tgt_len, key.shape[0], query.device)
    attn_mask = _canonical_mask(attn_mask, "attn_mask", dtype)
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", dtype)

    q, k, v = _project(query, key, value, embed_dim, in_proj_weight, in_proj_bias,
                       use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight)
    src_len = key.shape[0]
    attn_mask = _check_mha_masks(attn_mask, key_padding_mask, tgt_len, src_len, bsz,
                                 num_heads)
    if bias_k is not None and bias_v is not None:
        k = cat([k, expand(bias_k, (1, bsz, embed_dim))])
        v = cat([v, expand(bias_v, (1, bsz, embed_dim))])
        attn_mask = pad(attn_mask, (0, 1)) if attn_mask is not None else None
        key_padding_mask = pad(key_padding_mask, (0, 1)) if key_padding_mask is not None \
            else None
    elif (bias_k is None) != (bias_v is None):
        raise ValueError("multi_head_attention_forward: bias_k and bias_v must both be given "
                         "or both be None")

    q = transpose(reshape(q, (tgt_len, bsz * num_heads, head_dim)), 0, 1)
    k = static_k if static_k is not None else transpose(
        reshape(k, (k.shape[0], bsz * num_heads, head_dim)), 0, 1)
    v = static_v if static_v is not None else transpose(
        reshape(v, (v.shape[0], bsz * num_heads, head_dim)), 0, 1)
    if add_zero_attn:
        zero = zeros((bsz * num_heads, 1, head_dim), dtype=dtype, device=q.device)
        k, v = cat([k, zero], 1), cat([v, zero], 1)
        attn_mask = pad(attn_mask, (0, 1)) if attn_mask is not None else None
        key_padding_mask = pad(key_padding_mask, (0, 1)) if key_padding_mask is not None \
            else None
    src_len = k.shape[1]
    if key_padding_mask is not None:
        kpm = reshape(expand(reshape(key_padding_mask, (bsz, 1, 1, src_len)),
                             (bsz, num_heads, 1, src_len)), (bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * math.sqrt(1.0 / head_dim)) @ transpose(k, -2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = weights @ v  # (N * H, L, hd)
        weights = reshape(weights, (bsz, num_heads, tgt_len, src_len))
        if average_attn_weights:
            weights = weights.mean(1)
    else:
        weights = None
        if attn_mask is not None:
            attn_mask = reshape(attn_mask, (-1, num_heads, attn_mask.shape[-2], src_len)) \
                if attn_mask.shape[0] != 1 else attn_mask.unsqueeze(0)
        q4 = reshape(q, (bsz, num_heads, tgt_len, head_dim))
        k4 = reshape(k, (bsz, num_heads, src_len, head_dim))
        v4 = reshape(v, (bsz, num_heads, src_len, head_dim))
        out = reshape(scaled_dot_product_attention(q4, k4, v4, attn_mask, dropout_p),
                      (bsz * num_heads, tgt_len, head_dim))
    out = reshape(transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
    out = reshape(linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
    if not batched:
        out = out.squeeze(1)
        weights = weights.squeeze(0) if weights is not None else None
    return out, weights
