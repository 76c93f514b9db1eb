"""``AlphaDropout``, ``FeatureAlphaDropout`` and ``MaxUnpool1d/2d/3d`` over
:mod:`corefw.nn.functional`, with PyTorch's arguments."""

from __future__ import annotations

from .. import functional as F
from ..module import Module
from .dropout import _DropoutNd

__all__ = ["AlphaDropout", "FeatureAlphaDropout", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU's self-normalisation (:func:`~corefw.nn.functional.
    alpha_dropout`), active in training mode only."""

    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels."""

    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)


class _MaxUnpoolNd(Module):
    _fn = staticmethod(F.max_unpool2d)

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input, indices, output_size=None):
        return self._fn(input, indices, self.kernel_size, self.stride, self.padding,
                        output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of :class:`~corefw.nn.MaxPool1d`."""

    _fn = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of :class:`~corefw.nn.MaxPool2d`: values to their indices, zeros
    elsewhere."""


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of :class:`~corefw.nn.MaxPool3d`."""

    _fn = staticmethod(F.max_unpool3d)
