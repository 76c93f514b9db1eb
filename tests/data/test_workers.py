"""DataLoader with worker processes: the same batches as num_workers=0, worker seeding and
info, exceptions and dead workers surfacing in the main process, timeout, persistent workers,
prefetch, start methods."""

from __future__ import annotations

import collections
import gc
import os
import time

import numpy as np
import pytest

import corefw
from corefw.data import (
    DataError,
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)
from corefw.data._multiprocess import DataLoaderWorkerError

Pair = collections.namedtuple("Pair", "x y")


class Mixed(Dataset):
    """Samples of every kind default_collate handles, computed from the index."""

    def __len__(self):
        return 23

    def __getitem__(self, i):
        return {"t": corefw.tensor([i, -i]), "a": np.full((2, 2), i, dtype=np.float32),
                "f": i / 2, "b": bool(i % 2), "s": f"s{i}", "p": Pair(i, corefw.tensor(i > 4)),
                "u": np.uint8(i)}


class WhoAmI(Dataset):
    """Each sample says which worker loaded it, with its seed and a random draw."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([i, info.id, info.num_workers, info.seed % 1000, os.getpid()]), \
            corefw.rand(1)


class Failing(Dataset):
    def __init__(self, exc, bad=5):
        self.exc, self.bad = exc, bad

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == self.bad:
            raise_in_worker(self.exc)
        return i


def raise_in_worker(exc):
    raise exc


class TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


class Dies(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 4:
            os._exit(3)
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(3 if i == 2 else 0)
        return i


class Shards(IterableDataset):
    """Numbers 0..n-1, split between the workers by get_worker_info()."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(wid, self.n, nw))


class NumpyData(Dataset):
    """Holds NumPy arrays only, so it pickles (for the spawn start method)."""

    def __init__(self):
        self.x = np.arange(12, dtype=np.float32).reshape(6, 2)

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.x[i]


def _as_lists(batches):
    def conv(b):
        if isinstance(b, corefw.Tensor):
            return (str(b.dtype), b.tolist())
        if isinstance(b, dict):
            return {k: conv(v) for k, v in b.items()}
        if isinstance(b, (list, tuple)):
            return type(b).__name__, [conv(v) for v in b]
        return b
    return [conv(b) for b in batches]


@pytest.mark.parametrize("kw", [
    dict(batch_size=4, shuffle=True),
    dict(batch_size=4, shuffle=True, drop_last=True, prefetch_factor=1),
    dict(batch_size=None),
    dict(batch_size=5, prefetch_factor=4, pin_memory=True),
])
@pytest.mark.parametrize("num_workers", [1, 3])
def test_same_batches_as_single_process(kw, num_workers):
    corefw.manual_seed(7)
    expected = _as_lists(DataLoader(Mixed(), **{k: v for k, v in kw.items()
                                                if k != "prefetch_factor"}))
    corefw.manual_seed(7)
    got = _as_lists(DataLoader(Mixed(), num_workers=num_workers, **kw))
    assert got == expected
    assert got[0]["p"][0] == "Pair"  # named tuples stay named tuples


def test_tensor_dataset_with_generator_and_epochs():
    ds = TensorDataset(corefw.arange(30), corefw.randn(30, 3))
    single = DataLoader(ds, batch_size=7, shuffle=True,
                        generator=corefw.Generator().manual_seed(3))
    multi = DataLoader(ds, batch_size=7, shuffle=True, num_workers=2,
                       generator=corefw.Generator().manual_seed(3))
    for _ in range(2):  # the generator advances the same way each epoch
        for a, b in zip(single, multi, strict=True):
            assert a[0].tolist() == b[0].tolist()
            np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
            assert b[1].dtype == corefw.float32 and b[0].dtype == corefw.int64


def test_worker_info_seeds_and_init_fn():
    corefw.manual_seed(1)
    seen = []
    loader = DataLoader(WhoAmI(), batch_size=2, num_workers=3,
                        worker_init_fn=lambda wid: corefw.manual_seed(100 + wid))
    rows = [(b[0].tolist(), b[1]) for b in loader]
    for k, (meta, _) in enumerate(rows):
        assert [m[0] for m in meta] == [2 * k, 2 * k + 1]
        assert all(m[1] == k % 3 and m[2] == 3 for m in meta)  # round-robin over 3 workers
        seen.append((meta[0][1], meta[0][4]))
    assert len({pid for _, pid in seen}) == 3 and os.getpid() not in {pid for _, pid in seen}
    # worker_init_fn reseeded each worker: its first draw is that seed's first draw
    first = {meta[0][1]: rand[0].item() for meta, rand in rows[:3]}
    for wid, value in first.items():
        corefw.manual_seed(100 + wid)
        assert corefw.rand(1).item() == value
    assert get_worker_info() is None


def test_worker_seeds_differ_per_worker_and_epoch_and_repeat_with_the_seed():
    def seeds(loader):
        return sorted({tuple(row[1:4]) for b in loader for row in b[0].tolist()})

    corefw.manual_seed(5)
    loader = DataLoader(WhoAmI(), batch_size=3, num_workers=2)
    first, second = seeds(loader), seeds(loader)
    assert len(first) == 2 and first[0][2] != first[1][2] and first != second
    corefw.manual_seed(5)
    assert seeds(DataLoader(WhoAmI(), batch_size=3, num_workers=2)) == first


def test_worker_exception_reraised_with_traceback():
    with pytest.raises(ValueError) as info:
        list(DataLoader(Failing(ValueError("bad sample 5")), batch_size=2, num_workers=2))
    text = str(info.value)
    assert "Caught ValueError in DataLoader worker process 0" in text
    assert "raise_in_worker" in text and "bad sample 5" in text and "Traceback" in text
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process"):
        list(DataLoader(Failing(KeyError("k")), num_workers=1))
    with pytest.raises(RuntimeError, match="Caught TwoArgError"):
        list(DataLoader(Failing(TwoArgError(1, 2)), num_workers=1))


def test_iteration_goes_on_after_a_worker_exception():
    it = iter(DataLoader(Failing(IndexError("no 5")), batch_size=2, num_workers=2))
    got = [next(it).tolist(), next(it).tolist()]
    with pytest.raises(IndexError, match="no 5"):
        next(it)
    got += [b.tolist() for b in it]  # the batches after the failing one still come
    assert got == [[0, 1], [2, 3], [6, 7], [8, 9]]


def test_abandoned_iterator_workers_exit_cleanly():
    it = iter(DataLoader(Mixed(), batch_size=2, num_workers=2))
    next(it)
    workers = list(it._workers)
    it.cycle = it  # as an exception's traceback does: collected with its queues by gc
    del it
    gc.collect()  # __del__ shuts the workers down; they leave their loop (exit code 0),
    for w in workers:  # rather than being terminated after the join timeout (-15)
        w.join()
        assert w.exitcode == 0


def test_worker_init_fn_exception():
    def init(wid):
        raise OSError(f"no data for worker {wid}")

    it = iter(DataLoader(Mixed(), num_workers=1, worker_init_fn=init))
    for _ in range(2):  # each batch raises it; the iterator never hangs
        with pytest.raises(OSError, match="no data for worker 0"):
            next(it)


def test_dead_worker_raises_with_exit_code():
    loader = DataLoader(Dies(), batch_size=1, num_workers=2)
    got = []
    with pytest.raises(DataLoaderWorkerError, match="exit code 3") as info:
        for b in loader:
            got.append(b.item())
    # raised once the death is noticed: the batches before index 4, in order, at most
    assert isinstance(info.value, RuntimeError) and got == list(range(len(got)))
    assert len(got) <= 4 and "worker 0" in str(info.value)


def test_timeout():
    with pytest.raises(DataLoaderWorkerError, match="timed out after 0.5 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.5))


def test_iterable_dataset_sharded_by_worker_info():
    loader = DataLoader(Shards(11), batch_size=2, num_workers=3)
    batches = [b.tolist() for b in loader]
    # worker w yields w, w+3, ...; batches come round-robin until each worker runs out
    assert batches == [[0, 3], [1, 4], [2, 5], [6, 9], [7, 10], [8]]
    assert sorted(sum(batches, [])) == list(range(11))
    assert [b.tolist() for b in DataLoader(Shards(11), batch_size=2, num_workers=3,
                                           drop_last=True)] == [[0, 3], [1, 4], [2, 5],
                                                                [6, 9], [7, 10]]


@pytest.mark.parametrize("dataset", [Mixed(), Shards(9)], ids=["map", "iterable"])
def test_persistent_workers_keep_processes(dataset):
    loader = DataLoader(dataset, batch_size=2, num_workers=2, persistent_workers=True)
    first = _as_lists(loader)
    it = iter(loader)
    workers = [w.pid for w in it._workers]
    next(it)  # leave an epoch half-way: the next one starts clean
    assert _as_lists(loader) == first
    assert [w.pid for w in iter(loader)._workers] == workers
    assert all(w.is_alive() for w in loader._iterator._workers)
    loader._iterator._shutdown_workers()


def test_spawn_start_method():
    assert [b.tolist() for b in DataLoader(NumpyData(), batch_size=4, num_workers=1,
                                           multiprocessing_context="spawn")] == \
        [[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]], [[8.0, 9.0], [10.0, 11.0]]]
    with pytest.raises(DataError, match="corefw tensors refuse pickle"):
        iter(DataLoader(TensorDataset(corefw.arange(3)), num_workers=1,
                        multiprocessing_context="spawn"))


def test_worker_option_validation():
    with pytest.raises(DataError, match="prefetch_factor option should be a positive"):
        DataLoader(Mixed(), num_workers=1, prefetch_factor=0)
    with pytest.raises(DataError, match="multiprocessing_context can only be used"):
        DataLoader(Mixed(), multiprocessing_context="fork")
