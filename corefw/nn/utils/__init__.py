"""Utilities for training networks (PyTorch's ``torch.nn.utils``): gradient clipping,
parameters as one vector, variable-length sequences (:mod:`.rnn`), parametrizations
(:mod:`.parametrize`, :mod:`.parametrizations`) and the hook-based weight/spectral norms."""

from __future__ import annotations

from . import parametrizations, parametrize, rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .weight_norm import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "parametrizations", "parametrize", "remove_spectral_norm",
           "remove_weight_norm", "rnn", "spectral_norm", "vector_to_parameters", "weight_norm"]
