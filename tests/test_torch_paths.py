"""The module paths PyTorch programs import: corefw.utils.data, corefw.backends (inert
switches, real submodules), corefw.nn.utils, corefw.testing.assert_close, corefw.cuda and
corefw.accelerator as submodule imports; StackDataset."""

from __future__ import annotations

import importlib

import pytest

import corefw
import corefw.data


def test_utils_data_is_corefw_data():
    from corefw.utils.data.dataloader import default_collate
    from corefw.utils.data.distributed import DistributedSampler as from_path
    from corefw.utils.data.sampler import RandomSampler

    import corefw.utils.data as ud
    from corefw.data.distributed import DistributedSampler

    for name in ud.__all__:
        assert getattr(ud, name) is getattr(corefw.data, name), name
    assert default_collate is corefw.data.default_collate
    assert RandomSampler is corefw.data.RandomSampler
    assert ud.DistributedSampler is DistributedSampler is from_path


def test_stack_dataset():
    from corefw.utils.data import DataLoader, StackDataset, TensorDataset

    a, b = TensorDataset(corefw.arange(4)), corefw.arange(4) * 10
    tup = StackDataset(a, b)
    assert len(tup) == 4 and tup[2][1].item() == 20 and tup[2][0][0].item() == 2
    dct = StackDataset(x=a, y=b)
    batch = next(iter(DataLoader(dct, batch_size=3)))
    assert batch["y"].tolist() == [0, 10, 20] and batch["x"][0].tolist() == [0, 1, 2]
    with pytest.raises(corefw.data.DataError, match="size mismatch"):
        StackDataset(a, corefw.arange(3))
    with pytest.raises(ValueError, match="both types"):
        StackDataset(a, y=b)
    with pytest.raises(ValueError, match="at least one dataset"):
        StackDataset()


def test_backends_switches():
    import corefw.backends.cudnn as cudnn
    import corefw.backends.mps

    import corefw.backends

    assert cudnn is corefw.backends.cudnn
    old = cudnn.benchmark
    cudnn.benchmark = True
    assert corefw.backends.cudnn.benchmark is True
    cudnn.benchmark = old
    with cudnn.flags(enabled=False, deterministic=True):
        assert (cudnn.enabled, cudnn.deterministic) == (False, True)
    assert (cudnn.enabled, cudnn.deterministic) == (True, False)
    assert corefw.backends.mps.is_available() is False and cudnn.is_available() is False
    corefw.backends.cuda.matmul.allow_tf32 = True
    assert isinstance(corefw.backends.cuda.is_built(), bool)
    assert importlib.import_module("corefw.backend").ArrayModuleBackend  # the toolkit


@pytest.mark.parametrize("path", ["corefw.cuda", "corefw.accelerator", "corefw.utils",
                                  "corefw.utils.data", "corefw.backends", "corefw.nn.utils.rnn",
                                  "corefw.nn.utils.parametrize",
                                  "corefw.nn.utils.parametrizations"])
def test_submodule_imports(path):
    module = importlib.import_module(path)
    assert module.__doc__ and module.__name__ == path


def test_nn_dataparallel_is_nn_parallel_dataparallel():
    import corefw.nn as nn

    assert nn.DataParallel is corefw.nn.parallel.DataParallel and nn.parallel is corefw.nn.parallel
    with pytest.raises(AttributeError, match="no attribute 'NoSuchLayer'"):
        nn.NoSuchLayer  # noqa: B018
