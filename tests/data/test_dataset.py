"""Datasets and random_split against plain-Python/numpy definitions."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.data import (
    ChainDataset,
    ConcatDataset,
    DataError,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from corefw.errors import CorefwError, DTypeError, ShapeError


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self) -> int:
        return self.n


class Count(IterableDataset):
    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def test_base_classes_are_abstract():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(IterableDataset())


def test_tensor_dataset_rows_match_numpy():
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((6, 3, 2)).astype(np.float32)
    y_np = rng.integers(0, 9, size=6).astype(np.int64)
    ds = TensorDataset(corefw.from_numpy(x_np), corefw.from_numpy(y_np))
    assert len(ds) == 6 and len(ds.tensors) == 2
    for i in range(6):
        x, y = ds[i]
        assert x.shape == (3, 2) and x.dtype == corefw.float32 and y.dtype == corefw.int64
        np.testing.assert_array_equal(x.numpy(), x_np[i])
        assert y.item() == y_np[i]
    np.testing.assert_array_equal(ds[-1][0].numpy(), x_np[-1])


def test_tensor_dataset_errors():
    with pytest.raises(ShapeError, match=r"\(4, 2\).*\(5,\)") as info:
        TensorDataset(corefw.zeros(4, 2), corefw.zeros(5))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ShapeError):
        TensorDataset(corefw.tensor(1.0))
    with pytest.raises(DTypeError, match="as_tensor"):
        TensorDataset(np.zeros((3, 2)))
    with pytest.raises(DataError):
        TensorDataset()


def test_subset_maps_indices():
    sub = Subset(Squares(10), [7, 2, 2, 9])
    assert len(sub) == 4
    assert [sub[i] for i in range(4)] == [49, 4, 4, 81]
    assert sub.__getitems__([3, 0]) == [81, 49]
    nested = Subset(sub, [3, 1])
    assert [nested[0], nested[1]] == [81, 4]
    assert nested.__getitems__([0, 1]) == [81, 4]


def test_concat_dataset_indexing():
    a, b, c = Squares(3), Squares(0), Squares(4)
    cat = ConcatDataset([a, b, c])
    assert cat.cumulative_sizes == [3, 3, 7] and len(cat) == 7
    assert [cat[i] for i in range(7)] == [0, 1, 4, 0, 1, 4, 9]
    assert cat[-1] == 9 and cat[-7] == 0
    for bad in (7, -8):
        with pytest.raises(IndexError):
            cat[bad]
    plus = a + c
    assert isinstance(plus, ConcatDataset) and [plus[i] for i in range(7)] == [cat[i] for i in
                                                                                 range(7)]
    with pytest.raises(DataError, match="empty"):
        ConcatDataset([])
    with pytest.raises(DataError, match="ChainDataset"):
        ConcatDataset([a, Count(0, 3)])


def test_chain_dataset():
    chain = ChainDataset([Count(0, 3), Count(10, 12)])
    assert list(chain) == [0, 1, 2, 10, 11] and len(chain) == 5
    assert list(Count(0, 2) + Count(5, 6)) == [0, 1, 5]
    with pytest.raises(DataError, match="IterableDataset"):
        list(ChainDataset([Squares(2)]))


# ----------------------------------------------------------------------------- random_split


def _check_partition(subsets, n, lengths):
    assert [len(s) for s in subsets] == lengths
    idx = [i for s in subsets for i in s.indices]
    assert sorted(idx) == list(range(n))  # disjoint and covering
    for s in subsets:
        assert [s[i] for i in range(len(s))] == [j * j for j in s.indices]


def test_random_split_with_lengths():
    ds = Squares(20)
    parts = random_split(ds, [5, 12, 3], generator=corefw.Generator().manual_seed(0))
    _check_partition(parts, 20, [5, 12, 3])
    assert all(isinstance(p, Subset) and p.dataset is ds for p in parts)
    # random, not in order
    assert [i for p in parts for i in p.indices] != list(range(20))


def test_random_split_reproducible():
    def split(seed):
        parts = random_split(Squares(30), [10, 20], generator=corefw.Generator().manual_seed(seed))
        return [list(p.indices) for p in parts]

    assert split(1) == split(1)
    assert split(1) != split(2)
    corefw.manual_seed(5)
    a = [list(p.indices) for p in random_split(Squares(30), [10, 20])]
    corefw.manual_seed(5)
    b = [list(p.indices) for p in random_split(Squares(30), [10, 20])]
    assert a == b


@pytest.mark.parametrize("n, fractions, lengths", [
    (10, [0.8, 0.2], [8, 2]),
    (11, [0.3, 0.3, 0.4], [4, 3, 4]),  # floors 3,3,4; one left over goes to the first split
    (7, [0.5, 0.5], [4, 3]),
    (5, [1.0], [5]),
    (1797, [0.7, 0.15, 0.15], [1258, 270, 269]),
    (100, [0.34, 0.56, 0.1], [34, 56, 10]),  # float sum 1.0000000000000002, refused by torch
])
def test_random_split_with_fractions(n, fractions, lengths):
    parts = random_split(Squares(n), fractions, generator=corefw.Generator().manual_seed(3))
    _check_partition(parts, n, lengths)


def test_random_split_fraction_giving_empty_split_warns():
    with pytest.warns(UserWarning, match="empty"):
        parts = random_split(Squares(2), [0.1, 0.1, 0.8])
    assert sum(len(p) for p in parts) == 2


@pytest.mark.parametrize("lengths, message", [
    ([5, 6], "sum to 11"),
    ([5, 4], "sum to 9"),
    ([12, -2], "non-negative"),
    ([0.5, 0.3], "sum to 0.8"),
    ([1.5, -0.5], "non-negative"),
    ([], "empty"),
    (["5", "5"], "non-negative"),
])
def test_random_split_bad_lengths(lengths, message):
    with pytest.raises(DataError, match=message) as info:
        random_split(Squares(10), lengths)
    assert isinstance(info.value, ValueError) and isinstance(info.value, CorefwError)
