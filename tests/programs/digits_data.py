"""The 8x8 handwritten digits as torch tensors, for the PyTorch-style programs here.

It stands in for ``torchvision.datasets.MNIST(...)``: the 1,797 UCI digits (the set
scikit-learn ships as ``load_digits``) are read from the CSV file that ships with corefw (found
by path, no corefw import) and wrapped in a ``torch.utils.data.TensorDataset``.
"""

import gzip
import os

import numpy as np
import torch
from torch.utils.data import TensorDataset


def _csv_path():
    """corefw/data/digits.csv.gz in this checkout (so the programs also run on real PyTorch,
    for comparison), else beside the ``torch`` package (corefw's, under the runner)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, os.pardir, os.pardir, "corefw", "data", "digits.csv.gz")
    if os.path.isfile(path):
        return path
    return os.path.join(os.path.dirname(torch.__file__), "data", "digits.csv.gz")


def load_digits(flatten=False):
    """(images, labels): float32 images in [0, 1], (N, 1, 8, 8) or (N, 64); int64 labels."""
    with gzip.open(_csv_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images = torch.from_numpy(table[:, :64].astype(np.float32) / 16.0)
    labels = torch.from_numpy(table[:, 64].copy())
    if not flatten:
        images = images.view(-1, 1, 8, 8)
    return images, labels


def digits_dataset(flatten=False, train=True, split=1500):
    """A TensorDataset of the first ``split`` digits (train) or the rest (test)."""
    images, labels = load_digits(flatten)
    part = slice(0, split) if train else slice(split, None)
    return TensorDataset(images[part], labels[part])
