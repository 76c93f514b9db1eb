"""Samplers against their definitions: order, permutations, seeding, weighted frequencies."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.data import (
    BatchSampler,
    DataError,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from corefw.errors import CorefwError


def gen(seed: int) -> corefw.Generator:
    return corefw.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- sequential


def test_sequential_sampler_is_range_in_order():
    data = list("abcdefg")
    s = SequentialSampler(data)
    assert list(s) == [0, 1, 2, 3, 4, 5, 6]
    assert len(s) == 7
    assert list(s) == list(s)  # re-iterable
    assert list(SequentialSampler([])) == []


# ----------------------------------------------------------------------------- random


def test_random_sampler_yields_a_permutation_of_python_ints():
    out = list(RandomSampler(range(100), generator=gen(0)))
    assert sorted(out) == list(range(100))
    assert all(type(i) is int for i in out)
    assert out != list(range(100))  # 1/100! chance of the identity


def test_random_sampler_reproducible_with_seed_and_different_with_another():
    a = list(RandomSampler(range(50), generator=gen(7)))
    b = list(RandomSampler(range(50), generator=gen(7)))
    c = list(RandomSampler(range(50), generator=gen(8)))
    assert a == b
    assert a != c


def test_random_sampler_reshuffles_every_epoch_from_the_same_generator():
    s = RandomSampler(range(50), generator=gen(3))
    e1, e2 = list(s), list(s)
    assert sorted(e1) == sorted(e2) == list(range(50))
    assert e1 != e2


def test_random_sampler_without_generator_follows_global_seed():
    s = RandomSampler(range(40))
    corefw.manual_seed(123)
    a1, a2 = list(s), list(s)
    corefw.manual_seed(123)
    b1, b2 = list(s), list(s)
    corefw.manual_seed(124)
    c1 = list(s)
    assert (a1, a2) == (b1, b2)
    assert a1 != a2  # each iter() draws a new seed from the global RNG
    assert a1 != c1
    assert sorted(a1) == list(range(40))


def test_random_sampler_generator_state_rewinds_the_order():
    g = gen(11)
    s = RandomSampler(range(30), generator=g)
    list(s)
    state = g.get_state()
    expected = list(s)
    g2 = corefw.Generator()
    g2.set_state(state)
    assert list(RandomSampler(range(30), generator=g2)) == expected


def test_random_sampler_num_samples_without_replacement():
    n = 7
    short = list(RandomSampler(range(n), num_samples=4, generator=gen(1)))
    assert len(short) == 4 and len(set(short)) == 4 and set(short) <= set(range(n))
    long = list(RandomSampler(range(n), num_samples=17, generator=gen(1)))
    assert len(long) == 17 and len(RandomSampler(range(n), num_samples=17)) == 17
    # whole permutations first, then the start of another one
    assert sorted(long[:7]) == sorted(long[7:14]) == list(range(n))
    assert len(set(long[14:])) == 3


def test_random_sampler_with_replacement_is_uniform():
    n, draws = 5, 20_000
    s = RandomSampler(range(n), replacement=True, num_samples=draws, generator=gen(2))
    out = np.array(list(s))
    assert out.shape == (draws,) and len(s) == draws
    assert out.min() >= 0 and out.max() < n
    counts = np.bincount(out, minlength=n)
    expected = draws / n
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 30.0  # chi-square, 4 dof: p < 1e-5 of exceeding by chance
    # with replacement, repeats must occur (a permutation could not hold 20000 of 5 values)
    small = list(RandomSampler(range(100), replacement=True, num_samples=100, generator=gen(4)))
    assert len(set(small)) < 100  # P(no repeat) = 100!/100^100


def test_random_sampler_replacement_partial_chunk_count():
    for k in (1, 31, 32, 33, 70):
        s = RandomSampler(range(3), replacement=True, num_samples=k, generator=gen(k))
        assert len(list(s)) == k


@pytest.mark.parametrize("kwargs", [
    {"replacement": "yes"}, {"replacement": 1}, {"num_samples": 0}, {"num_samples": -3},
    {"num_samples": 2.5}, {"num_samples": True},
])
def test_random_sampler_bad_arguments(kwargs):
    with pytest.raises(DataError) as info:
        RandomSampler(range(10), **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, CorefwError)
    assert "RandomSampler" in str(info.value)


def test_random_sampler_empty_dataset_raises():
    with pytest.raises(DataError, match="num_samples"):
        RandomSampler([])


def test_subset_random_sampler_permutes_the_given_indices():
    idx = [3, 10, 42, 7, 99]
    s = SubsetRandomSampler(idx, generator=gen(5))
    out = list(s)
    assert sorted(out) == sorted(idx) and len(s) == 5
    assert list(SubsetRandomSampler(idx, generator=gen(5))) == out


# ----------------------------------------------------------------------------- weighted


def _chi2(counts: np.ndarray, probs: np.ndarray, total: int) -> float:
    mask = probs > 0
    expected = probs[mask] * total
    return float(((counts[mask] - expected) ** 2 / expected).sum())


def test_weighted_sampler_frequencies_match_weights():
    weights = [1.0, 2.0, 0.0, 3.0, 4.0]  # unnormalized, one zero
    draws = 20_000
    s = WeightedRandomSampler(weights, draws, generator=gen(0))
    out = np.array(list(s))
    assert out.shape == (draws,) and len(s) == draws
    counts = np.bincount(out, minlength=5)
    assert counts[2] == 0  # weight 0 never drawn
    probs = np.array(weights) / sum(weights)
    # each count within 5 binomial standard deviations of its expectation
    sd = np.sqrt(draws * probs * (1 - probs))
    assert (np.abs(counts - draws * probs) <= 5 * sd + 1e-9).all(), counts
    assert _chi2(counts, probs, draws) < 30.0  # 3 dof: p < 1e-5 by chance
    # the bound has teeth: uniform frequencies over the non-zero indices fail it
    uniform = np.array([5000, 5000, 0, 5000, 5000])
    assert _chi2(uniform, probs, draws) > 30.0


def test_weighted_sampler_accepts_a_tensor_and_is_reproducible():
    w = corefw.tensor([0.5, 0.0, 0.25, 0.25], dtype=corefw.float32)
    a = list(WeightedRandomSampler(w, 50, generator=gen(9)))
    b = list(WeightedRandomSampler(w, 50, generator=gen(9)))
    c = list(WeightedRandomSampler(w, 50, generator=gen(10)))
    assert a == b and a != c
    assert 1 not in a
    assert WeightedRandomSampler(w, 5).weights.dtype == corefw.float64


def test_weighted_sampler_without_replacement_draws_distinct_nonzero_indices():
    w = [0.0, 1.0, 5.0, 0.0, 2.0, 1.0]
    out = list(WeightedRandomSampler(w, 4, replacement=False, generator=gen(1)))
    assert sorted(out) == [1, 2, 4, 5]
    with pytest.raises(DataError, match="without replacement"):
        WeightedRandomSampler(w, 5, replacement=False)


def test_weighted_sampler_without_replacement_first_draw_follows_weights():
    w = np.array([1.0, 2.0, 3.0, 4.0])
    g = gen(21)
    s = WeightedRandomSampler(w.tolist(), 2, replacement=False, generator=g)
    trials = 4000
    firsts = np.array([next(iter(s)) for _ in range(trials)])
    counts = np.bincount(firsts, minlength=4)
    assert _chi2(counts, w / w.sum(), trials) < 30.0


@pytest.mark.parametrize("weights, message", [
    ([1.0, -0.5, 2.0], "non-negative"),
    ([0.0, 0.0, 0.0], "all 3 weights are zero"),
    ([[1.0, 2.0], [3.0, 4.0]], "1-D"),
    ([], "1-D"),
    ([1.0, float("nan")], "finite"),
    ([1.0, float("inf")], "finite"),
    (["a", "b"], "sequence of numbers"),
])
def test_weighted_sampler_bad_weights(weights, message):
    with pytest.raises(DataError, match=message) as info:
        WeightedRandomSampler(weights, 3)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kwargs", [
    {"num_samples": 0}, {"num_samples": -1}, {"num_samples": 1.5},
    {"num_samples": 3, "replacement": "no"},
])
def test_weighted_sampler_bad_arguments(kwargs):
    with pytest.raises(DataError):
        WeightedRandomSampler([1.0, 2.0], **kwargs)


# ----------------------------------------------------------------------------- batch


def test_batch_sampler_groups_in_order_with_partial_last_batch():
    s = BatchSampler(SequentialSampler(range(10)), batch_size=4, drop_last=False)
    assert list(s) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(s) == 3
    s = BatchSampler(SequentialSampler(range(10)), batch_size=4, drop_last=True)
    assert list(s) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(s) == 2
    exact = BatchSampler(range(8), 4, True)
    assert list(exact) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(exact) == 2
    assert len(BatchSampler(range(8), 4, False)) == 2
    assert list(BatchSampler(range(0), 4, False)) == [] and len(BatchSampler([], 4, False)) == 0


def test_batch_sampler_over_random_sampler_covers_a_permutation():
    s = BatchSampler(RandomSampler(range(23), generator=gen(0)), 5, False)
    batches = list(s)
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert sorted(i for b in batches for i in b) == list(range(23))


@pytest.mark.parametrize("batch_size, drop_last", [(0, False), (-2, False), (2.0, False),
                                                    (True, False), (2, "yes"), (2, None)])
def test_batch_sampler_bad_arguments(batch_size, drop_last):
    with pytest.raises(DataError, match="BatchSampler"):
        BatchSampler(range(10), batch_size, drop_last)
