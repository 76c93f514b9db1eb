"""DataLoader and default_collate: batch structure, order, seeding, resuming, errors."""

from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as np
import pytest

import corefw
from corefw.data import (
    BatchSampler,
    DataError,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from corefw.errors import DTypeError, ShapeError

N = 10


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 3, 2)).astype(np.float32)
    y = np.arange(N, dtype=np.int64) * 7 % N
    return x, y


@pytest.fixture
def tensor_ds(arrays):
    x, y = arrays
    return TensorDataset(corefw.from_numpy(x.copy()), corefw.from_numpy(y.copy()))


def gen(seed: int) -> corefw.Generator:
    return corefw.Generator().manual_seed(seed)


def _order(loader) -> list[int]:
    """Indices of the samples in the order a loader over ``Ids`` produced them."""
    return [i for batch in loader for i in batch.tolist()]


class Ids(Dataset):
    """Sample i is the int i."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> int:
        return i

    def __len__(self) -> int:
        return self.n


# ----------------------------------------------------------------------------- batching


def test_batches_shapes_dtypes_values_and_partial_last(tensor_ds, arrays):
    x, y = arrays
    loader = DataLoader(tensor_ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 3, 2), (4, 3, 2), (2, 3, 2)]
    for k, (xb, yb) in enumerate(batches):
        assert xb.dtype == corefw.float32 and yb.dtype == corefw.int64
        np.testing.assert_array_equal(xb.numpy(), x[4 * k:4 * k + 4])
        np.testing.assert_array_equal(yb.numpy(), y[4 * k:4 * k + 4])
    assert isinstance(batches[0], list)  # a tuple sample collates into a list, as torch


def test_tensor_dataset_fast_path_equals_per_sample_collate(tensor_ds):
    """DataLoader gathers TensorDataset rows in one indexing op; a wrapped default_collate
    takes the per-sample path. Both must give the same bits, also through random_split."""
    slow = lambda samples: default_collate(samples)  # noqa: E731 - not the same object
    (train,) = random_split(tensor_ds, [1.0])
    for ds in (tensor_ds, train, Subset(train, [9, 0, 4, 4])):
        kwargs = {"batch_size": 3, "shuffle": True}
        fast_batches = list(DataLoader(ds, generator=gen(1), **kwargs))
        slow_batches = list(DataLoader(ds, generator=gen(1), collate_fn=slow, **kwargs))
        assert len(fast_batches) == len(slow_batches) == -(-len(ds) // 3)
        for fast, ref in zip(fast_batches, slow_batches):
            assert isinstance(fast, list) and len(fast) == 2
            for f, r in zip(fast, ref):
                assert f.shape == r.shape and f.dtype == r.dtype
                assert f.numpy().tobytes() == r.numpy().tobytes()


def test_drop_last_and_len(tensor_ds):
    loader = DataLoader(tensor_ds, batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [b[0].shape[0] for b in loader] == [4, 4]
    assert len(DataLoader(tensor_ds, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(tensor_ds, batch_size=5)) == 2
    assert len(DataLoader(tensor_ds, batch_size=11)) == 1
    assert len(DataLoader(tensor_ds, batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(tensor_ds, batch_size=11, drop_last=True)) == []
    assert len(DataLoader(tensor_ds)) == N  # batch_size=1 default
    it = iter(DataLoader(tensor_ds, batch_size=3))
    assert len(it) == 4


def test_batch_size_none_yields_converted_samples():
    data = [np.arange(3, dtype=np.int32) + i for i in range(4)]
    loader = DataLoader(data, batch_size=None)
    out = list(loader)
    assert len(loader) == 4 and len(out) == 4
    assert all(isinstance(t, corefw.Tensor) and t.shape == (3,) for t in out)
    assert out[2].dtype == corefw.int32 and out[2].tolist() == [2, 3, 4]
    with pytest.raises(DataError, match="drop_last"):
        DataLoader(data, batch_size=None, drop_last=True)


def test_custom_collate_fn(tensor_ds, arrays):
    def collate(samples):
        return len(samples), corefw.stack([s[0] for s in samples]).sum()

    out = list(DataLoader(tensor_ds, batch_size=4, collate_fn=collate))
    assert [n for n, _ in out] == [4, 4, 2]
    np.testing.assert_allclose(out[2][1].item(), arrays[0][8:].astype(np.float64).sum(),
                               rtol=1e-5)
    assert list(DataLoader(Ids(5), batch_size=2, collate_fn=lambda b: b)) == [[0, 1], [2, 3], [4]]


def test_dict_and_nested_samples():
    class Records(Dataset):
        def __getitem__(self, i):
            return {"x": corefw.full((2,), float(i)), "meta": (i, f"id{i}"), "w": 0.5 * i}

        def __len__(self):
            return 5

    batches = list(DataLoader(Records(), batch_size=2))
    assert len(batches) == 3
    b = batches[1]
    assert set(b) == {"x", "meta", "w"}
    assert b["x"].shape == (2, 2) and b["x"].tolist() == [[2.0, 2.0], [3.0, 3.0]]
    ids, names = b["meta"]
    assert ids.dtype == corefw.int64 and ids.tolist() == [2, 3]
    assert names == ["id2", "id3"]
    assert b["w"].dtype == corefw.float64 and b["w"].tolist() == [1.0, 1.5]
    assert batches[2]["x"].shape == (1, 2)


def test_default_collate_element_types():
    ints = default_collate([1, 2, 3])
    assert ints.dtype == corefw.int64 and ints.tolist() == [1, 2, 3]
    floats = default_collate([0.5, 1.5])
    assert floats.dtype == corefw.float64 and floats.tolist() == [0.5, 1.5]
    bools = default_collate([True, False])
    assert bools.dtype == corefw.bool_ and bools.tolist() == [True, False]
    arr = default_collate([np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)])
    assert arr.dtype == corefw.float32 and arr.shape == (2, 2, 2)
    np.testing.assert_array_equal(arr.numpy()[0], np.ones((2, 2)))
    scal = default_collate([np.float32(1.5), np.float32(2.5)])
    assert scal.dtype == corefw.float32 and scal.tolist() == [1.5, 2.5]
    assert default_collate(["a", "b"]) == ["a", "b"]
    Point = namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3] and p.y.dtype == corefw.float64
    lists = default_collate([[1, 2.0], [3, 4.0]])
    assert isinstance(lists, list) and lists[0].tolist() == [1, 3]
    t = default_collate([corefw.tensor([1.0, 2.0]), corefw.tensor([3.0, 4.0])])
    assert t.shape == (2, 2) and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    zero_d = default_collate([corefw.tensor(1), corefw.tensor(2)])
    assert zero_d.shape == (2,) and zero_d.dtype == corefw.int64


def test_default_collate_errors():
    with pytest.raises(ShapeError, match=r"\[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([corefw.zeros(2), corefw.zeros(3)])
    with pytest.raises(ShapeError, match="array"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ShapeError, match="equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(DTypeError, match="object") as info:
        default_collate([object(), object()])
    assert isinstance(info.value, TypeError)
    with pytest.raises(DTypeError, match="dtype"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(DataError, match="empty"):
        default_collate([])


def test_default_convert():
    out = default_convert({"a": np.arange(3), "b": (np.float64(2.0), "s"), "c": [1, 2]})
    assert isinstance(out["a"], corefw.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert isinstance(out["b"], list) and out["b"][0].item() == 2.0 and out["b"][1] == "s"
    assert out["c"] == [1, 2]
    t = corefw.zeros(2)
    assert default_convert(t) is t


# ----------------------------------------------------------------------------- order, seeding


def test_sequential_by_default_and_shuffle_permutes():
    assert _order(DataLoader(Ids(23), batch_size=5)) == list(range(23))
    shuffled = _order(DataLoader(Ids(23), batch_size=5, shuffle=True, generator=gen(0)))
    assert sorted(shuffled) == list(range(23)) and shuffled != list(range(23))


def test_shuffle_reproducible_with_generator_and_new_order_each_epoch():
    a = DataLoader(Ids(50), batch_size=8, shuffle=True, generator=gen(4))
    b = DataLoader(Ids(50), batch_size=8, shuffle=True, generator=gen(4))
    c = DataLoader(Ids(50), batch_size=8, shuffle=True, generator=gen(5))
    ea1, ea2 = _order(a), _order(a)
    assert ea1 == _order(b) and ea2 == _order(b)
    assert ea1 != ea2
    assert ea1 != _order(c)


def test_shuffle_without_generator_follows_global_seed():
    loader = DataLoader(Ids(30), batch_size=7, shuffle=True)
    corefw.manual_seed(0)
    first = _order(loader)
    corefw.manual_seed(0)
    assert _order(loader) == first
    corefw.manual_seed(1)
    assert _order(loader) != first


def test_resume_a_shuffled_epoch_bit_identically(tensor_ds):
    """The recipe of docs/data.md: save the generator state at the epoch start + batches done."""
    g = gen(2024)
    loader = DataLoader(tensor_ds, batch_size=3, shuffle=True, generator=g)
    list(loader)  # epoch 0
    epoch_start_state = g.get_state().clone()
    reference = [[t.numpy().copy() for t in batch] for batch in loader]  # epoch 1, in full
    done = 2  # "checkpoint" after 2 batches of epoch 1, then a crash

    g_new = corefw.Generator()
    g_new.set_state(epoch_start_state)
    resumed_loader = DataLoader(tensor_ds, batch_size=3, shuffle=True, generator=g_new)
    rest = list(itertools.islice(iter(resumed_loader), done, None))
    assert len(rest) == len(reference) - done
    for got, want in zip(rest, reference[done:]):
        for t, w in zip(got, want):
            assert t.numpy().tobytes() == w.tobytes()
    # and the epoch after continues identically too
    assert _order(DataLoader(Ids(N), batch_size=3, shuffle=True, generator=g_new)) == \
        _order(DataLoader(Ids(N), batch_size=3, shuffle=True, generator=g))


def test_explicit_sampler_and_batch_sampler():
    w = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    sampler = WeightedRandomSampler(w, 12, generator=gen(0))
    got = _order(DataLoader(Ids(6), batch_size=4, sampler=sampler))
    assert len(got) == 12 and set(got) <= {1, 3, 5}
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    loader = DataLoader(Ids(7), batch_sampler=bs)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3 and loader.batch_size is None
    assert [b.tolist() for b in DataLoader(Ids(5), batch_sampler=[[4, 0], [2]])] == [[4, 0], [2]]
    assert _order(DataLoader(Ids(4), sampler=[3, 2, 1, 0], batch_size=3)) == [3, 2, 1, 0]


@pytest.mark.parametrize("kwargs", [
    {"shuffle": True, "sampler": [0, 1]},
    {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "shuffle": True},
    {"batch_sampler": [[0]], "sampler": [0]},
    {"batch_sampler": [[0]], "drop_last": True},
    {"num_workers": -1},
    {"timeout": -1.0},
    {"persistent_workers": True},
    {"prefetch_factor": 2},
])
def test_contradictory_options_raise(kwargs):
    with pytest.raises(DataError) as info:
        DataLoader(Ids(3), **kwargs)
    assert isinstance(info.value, ValueError) and "DataLoader" in str(info.value)


def test_worker_options_without_workers():
    loader = DataLoader(Ids(3), num_workers=0, pin_memory=True, worker_init_fn=print)
    assert _order(DataLoader(Ids(3))) == _order(loader) == [0, 1, 2]
    assert get_worker_info() is None  # worker processes: tests/data/test_workers.py


# ----------------------------------------------------------------------------- iterable


class Stream(IterableDataset):
    def __init__(self, n: int, with_len: bool = True) -> None:
        self.n, self.with_len = n, with_len

    def __iter__(self):
        for i in range(self.n):
            yield {"i": i, "x": corefw.full((2,), float(i))}

    def __len__(self) -> int:
        if not self.with_len:
            raise TypeError("Stream has no len")
        return self.n


def test_iterable_dataset_batches():
    loader = DataLoader(Stream(7), batch_size=3)
    batches = list(loader)
    assert [b["i"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[1]["x"].shape == (3, 2) and batches[1]["x"][:, 0].tolist() == [3.0, 4.0, 5.0]
    assert len(loader) == 3
    dropped = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert [b["i"].tolist() for b in dropped] == [[0, 1, 2], [3, 4, 5]] and len(dropped) == 2
    assert [b["i"].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]  # re-iterable
    unbatched = list(DataLoader(Stream(2), batch_size=None))
    assert unbatched[1]["i"] == 1 and len(DataLoader(Stream(2), batch_size=None)) == 2
    with pytest.raises(TypeError):
        len(DataLoader(Stream(3, with_len=False), batch_size=2))
    assert len(list(DataLoader(Stream(3, with_len=False), batch_size=2))) == 2


@pytest.mark.parametrize("kwargs", [{"shuffle": True}, {"sampler": [0, 1]},
                                    {"batch_sampler": [[0]]}])
def test_iterable_dataset_refuses_order_options(kwargs):
    with pytest.raises(DataError, match="IterableDataset"):
        DataLoader(Stream(3), **kwargs)
