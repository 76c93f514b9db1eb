"""Normalisation with PyTorch's signatures: batch_norm, layer_norm, group_norm.

Training-mode batch norm, layer norm and group norm run on the ops of :mod:`corefw.ops.nn_norm`;
eval-mode batch norm is a per-channel affine map built from the running statistics.
"""

from __future__ import annotations

import math

from ..._call import apply
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ...errors import DTypeError, ShapeError
from ...ops.nn_norm import BATCH_NORM, GROUP_NORM, LAYER_NORM
from ._checks import torch_name
from ._conv import _fmt

__all__ = ["batch_norm", "group_norm", "layer_norm"]


def _check_float(fn, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: expected a corefw tensor, got {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {input.dtype}")


def _check_param(fn, name, t, shape, input=None):
    if t is not None and tuple(t.shape) != tuple(shape):
        raise ShapeError(f"{fn}: expected {name} of shape {_fmt(shape)}, got {_fmt(t.shape)}")
    if t is not None and input is not None and t.dtype is not input.dtype:
        raise DTypeError(f"{fn}: expected {name} of dtype {torch_name(input.dtype)} (the "
                         f"input's), but found {torch_name(t.dtype)}; convert the input (e.g. "
                         f".float()) or the layer (e.g. .double()) so that they match")


def _normalized_shape(fn, input, normalized_shape) -> tuple[int, ...]:
    """Check a float ``input`` ending in ``normalized_shape``; return that shape as a tuple."""
    _check_float(fn, input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"{fn}: given normalized_shape={list(shape)}, expected input with "
                         f"shape [*, {', '.join(map(str, shape))}], but got input of size "
                         f"{_fmt(input.shape)}")
    return shape


def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation over every dim but dim 1 (channels), as PyTorch.

    ``training=True``: normalise with the batch mean and biased variance, and, when running
    statistics are given, update them in place (without recording a graph)::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * unbiased_var

    ``training=False``: normalise with ``running_mean`` and ``running_var``.
    ``weight`` and ``bias`` (shape (C,)) scale and shift the result.
    """
    _check_float("batch_norm", input)
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got "
                         f"shape {_fmt(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param("batch_norm", name, t, (c,), input)
    shape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // max(c, 1)
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {_fmt(input.shape)}")
        if running_mean is not None or running_var is not None:
            dims = (0,) + tuple(range(2, input.ndim))
            with no_grad():
                x = input.detach()
                if running_mean is not None:
                    mean = x.mean(dims)
                    running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype),
                                                         alpha=momentum)
                if running_var is not None:
                    var = x.var(dims, correction=1)
                    running_var.mul_(1 - momentum).add_(var.to(running_var.dtype),
                                                        alpha=momentum)
        return apply(BATCH_NORM, (input, weight, bias), {"eps": float(eps)})
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var must be given when "
                         "training=False (or pass training=True to use batch statistics)")
    scale = (running_var + eps).rsqrt()
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(shape) + shift.reshape(shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise over the trailing dims ``normalized_shape`` (biased variance), then scale by
    ``weight`` and shift by ``bias`` (both of shape ``normalized_shape``)."""
    shape = _normalized_shape("layer_norm", input, normalized_shape)
    k = len(shape)
    _check_param("layer_norm", "weight", weight, shape, input)
    _check_param("layer_norm", "bias", bias, shape, input)
    return apply(LAYER_NORM, (input, weight, bias), {"ndim": k, "eps": float(eps)})


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalise each of ``num_groups`` channel groups of every sample (over its channels and
    spatial positions), then apply per-channel ``weight`` and ``bias`` (shape (C,))."""
    _check_float("group_norm", input)
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected an input of at least 2 dims (N, C, ...), got "
                         f"shape {_fmt(input.shape)}")
    c = input.shape[1]
    if num_groups < 1 or c % num_groups:
        raise ShapeError(f"group_norm: expected the number of channels ({c}) of input "
                         f"{_fmt(input.shape)} to be divisible by num_groups={num_groups}")
    _check_param("group_norm", "weight", weight, (c,), input)
    _check_param("group_norm", "bias", bias, (c,), input)
    if math.prod(input.shape) == 0:
        return input * 1.0
    return apply(GROUP_NORM, (input, weight, bias), {"num_groups": int(num_groups),
                                                     "eps": float(eps)})
