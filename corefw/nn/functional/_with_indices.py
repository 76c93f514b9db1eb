"""PyTorch's ``*_with_indices`` pooling functions (the pooling with ``return_indices=True``)
and ``linear_cross_entropy`` (a linear layer followed by cross-entropy, in one call)."""

from __future__ import annotations

from ._extra import fractional_max_pool2d, fractional_max_pool3d
from ._loss import cross_entropy
from ._pool import max_pool1d, max_pool2d
from ._pool_nd import adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d, max_pool3d

__all__ = ["adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "fractional_max_pool2d_with_indices",
           "fractional_max_pool3d_with_indices", "linear_cross_entropy",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices"]


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``(output, indices)`` of :func:`max_pool1d`."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``(output, indices)`` of :func:`max_pool2d`."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``(output, indices)`` of :func:`max_pool3d`."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices: bool = True):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices: bool = True):
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices: bool = True):
    return adaptive_max_pool3d(input, output_size, True)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None,
                                       output_ratio=None, return_indices: bool = True,
                                       _random_samples=None):
    return fractional_max_pool2d(input, kernel_size, output_size, output_ratio, True,
                                 _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None,
                                       output_ratio=None, return_indices: bool = True,
                                       _random_samples=None):
    return fractional_max_pool3d(input, kernel_size, output_size, output_ratio, True,
                                 _random_samples)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction: str = "mean", ignore_index: int | None = None,
                         label_smoothing: float = 0.0, options=None):
    """``cross_entropy(input @ linear_weight.T + linear_bias, target, ...)``: the logits of
    a classifier head and their loss in one call (``ignore_index=None`` means -100, as in
    PyTorch; ``options``, PyTorch's kernel choices, changes nothing here)."""
    logits = input @ linear_weight.mT
    if linear_bias is not None:
        logits = logits + linear_bias
    return cross_entropy(logits, target, weight=weight,
                         ignore_index=-100 if ignore_index is None else ignore_index,
                         reduction=reduction, label_smoothing=label_smoothing)
