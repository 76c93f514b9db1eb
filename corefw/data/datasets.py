"""Real datasets that ship inside the package, so nothing is downloaded at run time.

:func:`digits` is the UCI "Optical Recognition of Handwritten Digits" test set (the one
scikit-learn ships as ``load_digits``): 1,797 grayscale 8x8 images of the digits 0-9 by 13
writers, each pixel the count (0..16) of set pixels in a 4x4 block of a 32x32 bitmap.
E. Alpaydin and C. Kaynak, UCI Machine Learning Repository, CC BY 4.0 (see
``corefw/data/DIGITS_LICENSE.md``).
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

import numpy as np

import corefw
from corefw._dtype import to_dtype
from corefw.errors import DTypeError

from .dataset import DataError, TensorDataset

__all__ = ["DIGITS_CLASS_COUNTS", "digits"]

_DIGITS_FILE = "digits.csv.gz"
_DIGITS_SHAPE = (1797, 65)  # 64 pixels, then the label
DIGITS_CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
"""How many images of each digit 0..9 :func:`digits` holds."""


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The parsed file as read-only (pixels uint8 (1797, 64) in 0..16, labels int64)."""
    raw = resources.files(__package__).joinpath(_DIGITS_FILE).read_bytes()
    text = gzip.decompress(raw).decode("ascii").strip().replace("\n", ",")
    values = np.fromstring(text, dtype=np.int64, sep=",")  # ~3 ms; np.loadtxt takes ~20
    if values.size != _DIGITS_SHAPE[0] * _DIGITS_SHAPE[1]:
        raise DataError(f"digits: {_DIGITS_FILE} holds {values.size} numbers, expected "
                        f"{_DIGITS_SHAPE[0]} rows of {_DIGITS_SHAPE[1]}; reinstall corefw")
    table = values.reshape(_DIGITS_SHAPE)
    pixels, labels = table[:, :64], table[:, 64].copy()
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"digits: {_DIGITS_FILE} has values out of range (pixels 0..16, "
                        "labels 0..9); reinstall corefw")
    pixels = pixels.astype(np.uint8)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def digits(dtype: corefw.dtype | None = None, flatten: bool = False,
           scale: bool = True) -> TensorDataset:
    """The UCI handwritten digits, 1,797 labelled 8x8 images, as a :class:`TensorDataset`.

    Loads from the package (a 57 KB file, a few milliseconds), no download. Every call returns
    new tensors, which the caller may modify.

    Args:
        dtype: dtype of the images (default ``corefw.float32``).
        flatten: images of shape ``(1797, 64)`` instead of ``(1797, 1, 8, 8)`` (N, C, H, W).
        scale: divide the pixel counts (0..16) by 16, into ``[0, 1]``. With ``scale=False``
            the images hold the counts themselves and ``dtype`` may be an integer dtype.

    Returns:
        ``TensorDataset(images, labels)``; ``labels`` is int64 in 0..9, in the file's order
        (the classes are interleaved, see :data:`DIGITS_CLASS_COUNTS`).

    Raises:
        DTypeError: ``scale=True`` with a non-floating ``dtype``.
    """
    dtype = corefw.float32 if dtype is None else to_dtype(dtype)
    if scale and not dtype.is_floating_point:
        raise DTypeError(f"digits: scale=True divides by 16 and needs a floating dtype, got "
                         f"{dtype}; pass scale=False for the integer counts 0..16")
    pixels, labels = _digits_arrays()
    images = pixels.astype(dtype.np)
    if scale:
        images /= dtype.np.type(16)  # exact: k / 16 is a dyadic fraction
    if not flatten:
        images = images.reshape(-1, 1, 8, 8)
    return TensorDataset(corefw.from_numpy(images), corefw.from_numpy(labels.copy()))
