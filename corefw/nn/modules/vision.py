"""Padding, upsampling and rearranging layers over :mod:`corefw.nn.functional`, with PyTorch's
names, attributes and reprs: ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``,
``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``, ``CircularPad1d/2d/3d``, ``Upsample``,
``UpsamplingNearest2d``, ``UpsamplingBilinear2d``, ``PixelShuffle``, ``PixelUnshuffle``,
``ChannelShuffle``, ``Fold``, ``Unfold``."""

from __future__ import annotations

from ...errors import ShapeError
from .. import functional as F
from ..module import Module

__all__ = ["ChannelShuffle", "CircularPad1d", "CircularPad2d", "CircularPad3d",
           "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "Fold", "PixelShuffle",
           "PixelUnshuffle", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "Unfold", "Upsample",
           "UpsamplingBilinear2d", "UpsamplingNearest2d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d"]


class _PadNd(Module):
    """``padding``: an int (every side) or ``2 * nd`` ints (left, right, top, bottom, front,
    back), as ``F.pad``; inputs are ``(N, C, *spatial)`` or ``(C, *spatial)``."""

    _nd = 1
    _mode = "constant"

    def __init__(self, padding, value: float = 0.0) -> None:
        super().__init__()
        n = 2 * self._nd
        pads = (int(padding),) * n if isinstance(padding, int) else tuple(int(p) for p in padding)
        if len(pads) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} "
                             f"ints, got {padding!r}")
        self.padding = pads
        if self._mode == "constant":
            self.value = value

    def forward(self, input):
        if input.ndim not in (self._nd + 1, self._nd + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {self._nd + 1}-D or "
                             f"{self._nd + 2}-D input, got shape {tuple(input.shape)}")
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        s = f"{self.padding}"
        return s + (f", value={self.value}" if self._mode == "constant" else "")


class ZeroPad1d(_PadNd):
    """Pads (N, C, W) with zeros; ``padding`` an int or 2 ints."""

    _nd = 1

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pads with the constant ``value``; ``padding`` an int or 2 ints."""

    _nd = 1

    def __init__(self, padding, value: float) -> None:
        super().__init__(padding, value)


class ReflectionPad1d(_PadNd):
    """Pads with the reflection of the input (edge not repeated); ``padding`` an int or 2 ints."""

    _nd = 1
    _mode = "reflect"


class ReplicationPad1d(_PadNd):
    """Pads by repeating the edge values; ``padding`` an int or 2 ints."""

    _nd = 1
    _mode = "replicate"


class CircularPad1d(_PadNd):
    """Pads by wrapping the input around (periodic); ``padding`` an int or 2 ints."""

    _nd = 1
    _mode = "circular"


class ZeroPad2d(_PadNd):
    """Pads (N, C, H, W) with zeros; ``padding`` an int or 4 ints."""

    _nd = 2

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad2d(_PadNd):
    """Pads with the constant ``value``; ``padding`` an int or 4 ints."""

    _nd = 2

    def __init__(self, padding, value: float) -> None:
        super().__init__(padding, value)


class ReflectionPad2d(_PadNd):
    """Pads with the reflection of the input (edge not repeated); ``padding`` an int or 4 ints."""

    _nd = 2
    _mode = "reflect"


class ReplicationPad2d(_PadNd):
    """Pads by repeating the edge values; ``padding`` an int or 4 ints."""

    _nd = 2
    _mode = "replicate"


class CircularPad2d(_PadNd):
    """Pads by wrapping the input around (periodic); ``padding`` an int or 4 ints."""

    _nd = 2
    _mode = "circular"


class ZeroPad3d(_PadNd):
    """Pads (N, C, D, H, W) with zeros; ``padding`` an int or 6 ints."""

    _nd = 3

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ConstantPad3d(_PadNd):
    """Pads with the constant ``value``; ``padding`` an int or 6 ints."""

    _nd = 3

    def __init__(self, padding, value: float) -> None:
        super().__init__(padding, value)


class ReflectionPad3d(_PadNd):
    """Pads with the reflection of the input (edge not repeated); ``padding`` an int or 6 ints."""

    _nd = 3
    _mode = "reflect"


class ReplicationPad3d(_PadNd):
    """Pads by repeating the edge values; ``padding`` an int or 6 ints."""

    _nd = 3
    _mode = "replicate"


class CircularPad3d(_PadNd):
    """Pads by wrapping the input around (periodic); ``padding`` an int or 6 ints."""

    _nd = 3
    _mode = "circular"


class Upsample(Module):
    """:func:`~corefw.nn.functional.interpolate` as a layer: ``Upsample(size=None,
    scale_factor=None, mode='nearest', align_corners=None, recompute_scale_factor=None)``.

    Example::

        up = corefw.nn.Upsample(scale_factor=2, mode="bilinear")
        y = up(corefw.randn(1, 3, 4, 4))   # shape (1, 3, 8, 8)
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else (tuple(float(s) for s in scale_factor) if scale_factor else None)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None \
            else f"size={self.size!r}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with ``align_corners=True``."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Regroup the channels of (N, C, *): ``(groups, C / groups)`` -> ``(C / groups,
    groups)``."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Unfold(Module):
    """im2col, :func:`~corefw.nn.functional.unfold`: (N, C, H, W) -> (N, C * kh * kw, L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """col2im, :func:`~corefw.nn.functional.fold`: (N, C * kh * kw, L) -> (N, C,
    *output_size), overlapping values summed."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
