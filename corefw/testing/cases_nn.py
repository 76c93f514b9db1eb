"""Cases for the layer library's composite ops (losses, embedding, dropout, attention,
convolution, pooling, normalisation)."""

from __future__ import annotations
