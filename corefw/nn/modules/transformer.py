"""``TransformerEncoderLayer`` and ``TransformerEncoder`` with PyTorch's submodule names
(``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``dropout1``,
``dropout2``; ``layers.<i>.`` and ``norm`` for the stack), so state_dicts carry over."""

from __future__ import annotations

import copy
from collections.abc import Callable

from .. import functional as F
from ..containers import ModuleList
from ..module import Module
from .attention import MultiheadAttention
from .dropout import Dropout
from .linear import Linear

__all__ = ["TransformerEncoder", "TransformerEncoderLayer"]


def _layer_norm_class() -> type:
    try:
        from .normalization import LayerNorm
    except ImportError as exc:  # the normalization layers ship in the same package
        raise ImportError("TransformerEncoderLayer needs corefw.nn.LayerNorm "
                          "(corefw/nn/modules/normalization.py), which is not available: "
                          f"{exc}") from exc
    return LayerNorm


def _activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"TransformerEncoderLayer: activation should be 'relu' or 'gelu' or a "
                     f"callable, not {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention followed by a feed-forward block, each with a residual and LayerNorm.

    ``norm_first=False`` (post-norm, the default)::

        x = norm1(x + dropout1(self_attn(x, x, x)))
        x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

    ``norm_first=True`` (pre-norm) normalises before each block instead. Inputs are
    ``(S, N, E)``, or ``(N, S, E)`` with ``batch_first=True``, or unbatched ``(S, E)``.
    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: masks as in
    :class:`MultiheadAttention` (bool True = not attended).

    Example::

        layer = corefw.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32,
                                                  batch_first=True)
        out = layer(corefw.randn(2, 7, 16))   # shape (2, 7, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = F.relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        layer_norm = _layer_norm_class()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = layer_norm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = layer_norm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal: bool):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``
    ...), followed by the optional ``norm``.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)`` passes the masks to
    every layer.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        return self.norm(out) if self.norm is not None else out
