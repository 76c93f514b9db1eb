"""``corefw.utils.data``: ``torch.utils.data``'s names, re-exported from :mod:`corefw.data`
(the same objects), so ``from corefw.utils.data import DataLoader, TensorDataset`` and
``from corefw.utils.data.dataloader import default_collate`` work as in PyTorch.

``DistributedSampler`` is here too, and under ``corefw.utils.data.distributed``.
"""

from __future__ import annotations

import sys

from corefw.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    WorkerInfo,
    dataloader,
    dataset,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
    sampler,
)
from corefw.data import distributed
from corefw.data.distributed import DistributedSampler

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler",
    "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "StackDataset",
    "Subset", "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "WorkerInfo",
    "default_collate", "default_convert", "get_worker_info", "random_split",
]

# torch.utils.data.dataloader / .dataset / .sampler as importable submodules
for _name, _module in (("dataloader", dataloader), ("dataset", dataset), ("sampler", sampler),
                      ("distributed", distributed)):
    sys.modules.setdefault(f"{__name__}.{_name}", _module)
del _name, _module
