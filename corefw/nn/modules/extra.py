"""``AlphaDropout``, ``FeatureAlphaDropout``, ``MaxUnpool1d/2d/3d`` and
``FractionalMaxPool2d/3d`` over
:mod:`corefw.nn.functional`, with PyTorch's arguments."""

from __future__ import annotations

from .. import functional as F
from ..module import Module
from .dropout import _DropoutNd

__all__ = ["AlphaDropout", "FeatureAlphaDropout", "FractionalMaxPool2d", "FractionalMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


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


class FractionalMaxPool2d(Module):
    """Fractional max pooling (:func:`~corefw.nn.functional.fractional_max_pool2d`): give
    ``output_size`` or ``output_ratio``; the window starts are redrawn at every call unless
    ``_random_samples`` is given."""

    _fn = staticmethod(F.fractional_max_pool2d)

    def __init__(self, kernel_size, output_size=None, output_ratio=None,
                 return_indices: bool = False, _random_samples=None) -> None:
        super().__init__()
        if output_size is None and output_ratio is None:
            raise ValueError(f"{type(self).__name__} requires specifying either an output "
                             f"size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        ratios = () if output_ratio is None else (
            (output_ratio,) if isinstance(output_ratio, (int, float)) else tuple(output_ratio))
        if any(not 0 < r < 1 for r in ratios):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")
        self.kernel_size, self.output_size = kernel_size, output_size
        self.output_ratio, self.return_indices = output_ratio, return_indices
        self.register_buffer("_random_samples", _random_samples)

    def forward(self, input):
        return self._fn(input, self.kernel_size, self.output_size, self.output_ratio,
                        self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool3d(FractionalMaxPool2d):
    """Fractional max pooling of (N, C, T, H, W)."""

    _fn = staticmethod(F.fractional_max_pool3d)
