"""The shipped digits dataset against an independent parse of its file."""

from __future__ import annotations

import gzip
import time
from importlib import resources

import numpy as np
import pytest

import corefw
from corefw.data import DataLoader, TensorDataset, datasets
from corefw.errors import DTypeError

KNOWN_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The file parsed by np.loadtxt (not the loader's own parser): (1797, 65) float64."""
    path = resources.files("corefw.data").joinpath("digits.csv.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        return np.loadtxt(text, delimiter=",")


def test_file_contents(reference):
    assert reference.shape == (1797, 65)
    pixels, labels = reference[:, :64], reference[:, 64]
    assert (pixels == np.round(pixels)).all() and pixels.min() == 0 and pixels.max() == 16
    assert np.bincount(labels.astype(int)).tolist() == KNOWN_CLASS_COUNTS
    assert list(datasets.DIGITS_CLASS_COUNTS) == KNOWN_CLASS_COUNTS


def test_digits_default(reference):
    ds = datasets.digits()
    assert isinstance(ds, TensorDataset) and len(ds) == 1797
    images, labels = ds.tensors
    assert images.shape == (1797, 1, 8, 8) and images.dtype == corefw.float32
    assert labels.shape == (1797,) and labels.dtype == corefw.int64
    x = images.numpy()
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x.reshape(1797, 64).astype(np.float64) * 16, reference[:, :64])
    np.testing.assert_array_equal(labels.numpy(), reference[:, 64].astype(np.int64))
    assert np.bincount(labels.numpy(), minlength=10).tolist() == KNOWN_CLASS_COUNTS
    image, label = ds[0]
    assert image.shape == (1, 8, 8) and label.item() == 0


def test_digits_options(reference):
    flat = datasets.digits(flatten=True, dtype=corefw.float64)
    assert flat.tensors[0].shape == (1797, 64) and flat.tensors[0].dtype == corefw.float64
    np.testing.assert_array_equal(flat.tensors[0].numpy(), reference[:, :64] / 16)
    raw = datasets.digits(dtype=corefw.uint8, scale=False, flatten=True)
    assert raw.tensors[0].dtype == corefw.uint8
    np.testing.assert_array_equal(raw.tensors[0].numpy(), reference[:, :64].astype(np.uint8))
    half = datasets.digits(dtype=corefw.float16)
    np.testing.assert_array_equal(half.tensors[0].numpy().reshape(1797, 64).astype(np.float64),
                                  reference[:, :64] / 16)
    with pytest.raises(DTypeError, match="scale=False"):
        datasets.digits(dtype=corefw.int64)


def test_digits_returns_fresh_tensors():
    a, b = datasets.digits(), datasets.digits()
    a.tensors[0].numpy()[0, 0, 0, 0] = 5.0
    a.tensors[1].numpy()[0] = 9
    assert b.tensors[0].numpy()[0, 0, 0, 0] == 0.0 and b.tensors[1].numpy()[0] == 0
    assert datasets.digits().tensors[1].numpy()[0] == 0


def test_digits_loads_fast():
    timings = []
    for _ in range(3):
        datasets._digits_arrays.cache_clear()
        start = time.perf_counter()
        datasets.digits()
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.05, timings


def test_digits_labels_match_images():
    """Nearest class mean on a held-out half: ~90% if images and labels are aligned, 10% if
    not."""
    images, labels = (t.numpy().astype(np.float64) for t in datasets.digits(flatten=True).tensors)
    train, test = np.arange(0, 1797, 2), np.arange(1, 1797, 2)
    means = np.stack([images[train][labels[train] == k].mean(0) for k in range(10)])
    dist = ((images[test, None, :] - means[None]) ** 2).sum(-1)
    accuracy = (dist.argmin(1) == labels[test]).mean()
    assert accuracy > 0.85, accuracy


def test_digits_through_a_dataloader():
    loader = DataLoader(datasets.digits(), batch_size=64, shuffle=True,
                        generator=corefw.Generator().manual_seed(0))
    assert len(loader) == 29
    seen = np.zeros(10, dtype=int)
    shapes = set()
    for images, labels in loader:
        shapes.add(images.shape)
        seen += np.bincount(labels.numpy(), minlength=10)
    assert shapes == {(64, 1, 8, 8), (1797 - 28 * 64, 1, 8, 8)}
    assert seen.tolist() == KNOWN_CLASS_COUNTS


def test_license_file_credits_the_authors():
    text = resources.files("corefw.data").joinpath("DIGITS_LICENSE.md").read_text()
    for needle in ("Alpaydin", "Kaynak", "Optical Recognition of Handwritten Digits",
                   "UCI Machine Learning Repository", "CC BY 4.0"):
        assert needle in text
