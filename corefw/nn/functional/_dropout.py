"""Dropout: ``dropout`` (elementwise) and ``dropout1d/2d/3d`` (whole channels).

The random mask comes from the input's device RNG (:func:`corefw.rand_like`), so
``corefw.manual_seed`` makes it reproducible; kept elements are scaled by ``1 / (1 - p)`` so
the expectation is unchanged. The masking itself is the fused ``dropout`` op
(:mod:`corefw.ops.nn_misc`).
"""

from __future__ import annotations

from ..._random import rand
from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.inplace import _inplace
from ...ops.nn_misc import dropout_op

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]


def _check(fn: str, input, p: float) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a corefw.Tensor, got {type(input).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: dropout probability has to be between 0 and 1, but got {p}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: expected a floating point input, got {input.dtype}")


def _masked(input, noise_shape: tuple[int, ...], p: float, inplace: bool, name: str):
    def compute(x):
        if p == 1.0:
            return x * 0.0
        noise = rand(noise_shape, dtype=x.dtype, device=x.device)
        return dropout_op(x, noise, p)

    return _inplace(input, name, compute) if inplace else compute(input)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Identity when ``training`` is False or ``p == 0``; all zeros when ``p == 1``.
    """
    _check("dropout", input, p)
    if not training or p == 0.0:
        return input
    return _masked(input, input.shape, p, inplace, "dropout_")


def _feature_dropout(fn: str, input, p: float, training: bool, inplace: bool,
                     spatial: int):
    _check(fn, input, p)
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(f"{fn}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D "
                         f"(batched) input, got shape {input.shape}")
    if not training or p == 0.0:
        return input
    lead = input.ndim - spatial  # (N, C) or (C,)
    noise_shape = input.shape[:lead] + (1,) * spatial
    return _masked(input, noise_shape, p, inplace, f"{fn}_")


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input with probability ``p``."""
    return _feature_dropout("dropout1d", input, p, training, inplace, 1)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of ``(N, C, H, W)`` or ``(C, H, W)`` input with probability ``p``."""
    return _feature_dropout("dropout2d", input, p, training, inplace, 2)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input."""
    return _feature_dropout("dropout3d", input, p, training, inplace, 3)
