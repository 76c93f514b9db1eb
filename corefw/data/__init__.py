"""``corefw.data``: datasets, samplers and the ``DataLoader``, as ``torch.utils.data``.

>>> from corefw.data import DataLoader, datasets
>>> loader = DataLoader(datasets.digits(), batch_size=64, shuffle=True)

Everything runs in the calling process (``num_workers=0``). :mod:`corefw.data.datasets` holds
datasets shipped inside the package (``digits()``). See docs/data.md.
"""

from . import datasets
from .dataloader import DataLoader, default_collate, default_convert, get_worker_info
from .dataset import (
    ChainDataset,
    ConcatDataset,
    DataError,
    Dataset,
    DataUnsupportedError,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .distributed import DistributedSampler
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataError",
    "DataLoader",
    "DataUnsupportedError",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "datasets",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
