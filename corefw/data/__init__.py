"""``corefw.data``: datasets, samplers and the ``DataLoader``, as ``torch.utils.data``.

>>> from corefw.data import DataLoader, datasets
>>> loader = DataLoader(datasets.digits(), batch_size=64, shuffle=True)

Batches load in the calling process (``num_workers=0``) or in worker processes
(``num_workers > 0``). :mod:`corefw.data.datasets` holds datasets shipped inside the package
(``digits()``). PyTorch's path ``corefw.utils.data`` re-exports this package. See docs/data.md.
"""

from . import datasets
from ._multiprocess import DataLoaderWorkerError
from .dataloader import DataLoader, default_collate, default_convert, get_worker_info
from ._worker import WorkerInfo
from .dataset import (
    ChainDataset,
    ConcatDataset,
    DataError,
    Dataset,
    DataUnsupportedError,
    IterableDataset,
    StackDataset,
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
    "DataLoaderWorkerError",
    "DataUnsupportedError",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "datasets",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
