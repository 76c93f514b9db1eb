"""Reductions: the behaviour the op table (corefw.testing, run by test_op_table.py) cannot
express: identities of empty reductions, 0-d inputs without degrees of freedom, tie-breaking
gradients, named results, dtype rules and errors. Forward and backward over dims, keepdim and
layouts are rows of the table (sum, prod, amax, mean, var, std, norm, max(dim), all, any ...)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw
from corefw.testing import reference as ref

from .helpers import check, gradcheck, make, npy

REDUCTIONS = {  # name -> corefw call (dim, keepdim)
    "sum": lambda x, d, k: corefw.sum(x, d, k), "mean": lambda x, d, k: corefw.mean(x, d, k),
    "prod": lambda x, d, k: corefw.prod(x, d, k),
    "var": lambda x, d, k: corefw.var(x, d, keepdim=k),
    "var_c0": lambda x, d, k: corefw.var(x, d, correction=0, keepdim=k),
    "std": lambda x, d, k: corefw.std(x, d, keepdim=k),
    "std_unbiased_false": lambda x, d, k: x.std(d, unbiased=False, keepdim=k),
    "amax": lambda x, d, k: corefw.amax(x, () if d is None else d, k),
    "amin": lambda x, d, k: x.amin(() if d is None else d, k),
    "logsumexp": lambda x, d, k: corefw.logsumexp(x, d, k),
    "norm2": lambda x, d, k: corefw.norm(x, 2, d, k),
    "norm_inf": lambda x, d, k: x.norm(math.inf, d, k),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_0d_tensor(name, device):
    fn = REDUCTIONS[name]
    for dim in (None, 0, -1):
        out = fn(make(np.asarray(1.5), device=device), dim, False)
        if name.startswith(("var", "std")):  # one element: 0 without correction, else nan
            expected = 0.0 if name.endswith(("c0", "false")) else math.nan
        else:  # every reduction of one element is the element
            expected = 1.5
        assert out.shape == ()
        np.testing.assert_array_equal(npy(out), np.asarray(expected))


@pytest.mark.parametrize("name,expected", [("sum", 0.0), ("prod", 1.0), ("logsumexp", -math.inf),
                                           ("norm2", 0.0), ("mean", math.nan)])
def test_reduction_over_an_empty_dim_gives_the_identity(name, expected, device):
    fn = REDUCTIONS[name]
    x = corefw.zeros(0, 3, dtype=corefw.float64, device=device)
    out = fn(x, 0, False)
    assert out.shape == (3,)
    np.testing.assert_array_equal(npy(out), np.full(3, expected))
    assert fn(x, 1, False).shape == (0,) and fn(x, 1, True).shape == (0, 1)


def test_max_without_identity_raises_only_for_an_empty_reduced_dim(device):
    x = corefw.zeros(0, 3, device=device)
    for fn in (corefw.amax, corefw.amin, corefw.argmax, lambda t, d=None: corefw.max(t, d)):
        with pytest.raises(corefw.errors.CorefwIndexError, match="zero-size"):
            fn(x, 0)
    assert corefw.amax(x, 1).shape == (0,) and corefw.max(x, 1).indices.shape == (0,)
    with pytest.raises(corefw.errors.CorefwIndexError):
        corefw.amax(x)


def test_prod_gradient_with_zeros(device):
    x = corefw.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 4.0, 2.0]], dtype=corefw.float64,
                      requires_grad=True, device=device)
    gradcheck(lambda t: corefw.prod(t, 1), x)
    corefw.prod(x, 1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 2.0, 4.0]]


def test_amax_splits_the_gradient_on_ties_and_max_dim_picks_one(device):
    x = corefw.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=corefw.float64,
                      requires_grad=True, device=device)
    corefw.amax(x, 1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]
    x.grad = None
    values, indices = corefw.max(x, 1)
    values.sum().backward()
    assert indices.tolist() == [1, 0]  # the first occurrence, as PyTorch on CPU
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("which", ["max", "min"])
def test_max_min_with_dim_give_named_values_and_indices(which, device):
    x = corefw.tensor([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]], device=device)
    out = getattr(corefw, which)(x, 1, True)
    values, indices = out
    assert out.values is values and out.indices is indices
    assert indices.dtype is corefw.int64 and values.shape == indices.shape == (2, 1)
    assert indices.tolist() == ([[1], [0]] if which == "max" else [[0], [1]])
    method = getattr(x, which)(1, keepdim=True)
    np.testing.assert_array_equal(method.values.numpy(), values.numpy())


def test_max_min_forms(device):
    x = corefw.tensor([[1.0, 5.0], [4.0, 2.0]], device=device)
    y = corefw.tensor([3.0, 3.0], device=device)
    assert corefw.max(x).item() == 5.0 and corefw.min(x).item() == 1.0
    assert corefw.max(x, y).tolist() == [[3.0, 5.0], [4.0, 3.0]]
    assert corefw.min(x, other=y).tolist() == [[1.0, 3.0], [3.0, 2.0]]
    scalar = corefw.max(corefw.tensor(3.0, device=device), 0)
    assert scalar.values.item() == 3.0 and scalar.indices.item() == 0
    assert corefw.tensor([[1, 5], [3, 2]], device=device).max(1).values.tolist() == [5, 3]
    nan = corefw.tensor([1.0, math.nan, 2.0], device=device)
    assert math.isnan(corefw.max(nan).item()) and corefw.argmax(nan).item() == 1


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("which", ["argmax", "argmin"])
def test_argmax_argmin(which, dim, keepdim, rng, device):
    data = rng.integers(0, 4, (3, 4)).astype(float)  # ties: the first occurrence wins
    out = getattr(corefw, which)(make(data, layout="strided", device=device), dim, keepdim)
    expected = getattr(ref, which)(data, None if dim is None else dim % 2, keepdim)
    if dim is None and keepdim:
        expected = expected.reshape(1, 1)
    assert out.dtype is corefw.int64
    np.testing.assert_array_equal(out.numpy(), expected)
    assert corefw.argmax(corefw.tensor(2.0, device=device)).item() == 0


def test_all_any_on_empty_tensors_follow_torch(device):
    e = corefw.zeros(0, 3, device=device)
    assert corefw.all(e).item() is True and corefw.any(e).item() is False
    assert corefw.all(e, 0).tolist() == [True] * 3 and corefw.any(e, 0).tolist() == [False] * 3
    assert corefw.any(e, 1).shape == (0,) and corefw.all(e, 1, keepdim=True).shape == (0, 1)


def test_cumsum_dtypes_and_edges(device):
    assert corefw.cumsum(corefw.tensor([1, 2, 3], dtype=corefw.int32, device=device),
                         0).tolist() == [1, 3, 6]
    assert corefw.cumsum(corefw.tensor([True, True], device=device), 0).dtype is corefw.int64
    assert corefw.cumsum(corefw.tensor(2.0, device=device), 0).item() == 2.0
    assert corefw.cumsum(corefw.zeros(0, device=device), 0).shape == (0,)


def test_norm_variants(rng, device):
    data = np.array([[3.0, -4.0, 0.0], [1.0, 0.0, -2.0]])
    x = make(data, device=device)
    assert x.norm().item() == pytest.approx(math.sqrt(30.0))
    assert x.norm("fro").item() == pytest.approx(math.sqrt(30.0))
    assert x.norm(0).item() == 4.0  # the count of non-zeros
    assert x.norm(-math.inf).item() == 0.0
    check(x.norm(-math.inf, dim=1), [0.0, 0.0])
    check(x.norm(1, dim=0, keepdim=True), [[4.0, 4.0, 2.0]])


def test_dtypes_of_reductions_follow_torch(device):
    i = corefw.tensor([[1, 2], [3, 4]], dtype=corefw.int32, device=device)
    assert corefw.sum(i).dtype is corefw.int64 and corefw.sum(i).item() == 10
    assert corefw.prod(i).dtype is corefw.int64 and corefw.prod(i).item() == 24
    assert corefw.sum(corefw.tensor([True, True, False], device=device)).item() == 2
    assert corefw.sum(i, dtype=corefw.float64).dtype is corefw.float64
    assert corefw.amax(i).dtype is corefw.int32
    assert corefw.logsumexp(i, 0).dtype is corefw.float32
    assert corefw.mean(i, dtype=corefw.float64).item() == 2.5
    with pytest.raises(corefw.errors.DTypeError, match="floating"):
        corefw.mean(i)


def test_reduction_errors_name_the_dim(device):
    x = corefw.zeros(2, 3, device=device)
    with pytest.raises(corefw.errors.CorefwIndexError, match="dim 2 is out of range"):
        x.sum(2)
    with pytest.raises(IndexError, match="dim -3"):
        corefw.amax(x, -3)


def test_logsumexp_is_stable(device):
    big = corefw.tensor([1000.0, 1000.0], dtype=corefw.float64, device=device)
    assert corefw.logsumexp(big, 0).item() == pytest.approx(1000.0 + math.log(2.0))
    assert corefw.logsumexp(corefw.tensor([-math.inf, -math.inf], device=device),
                            0).item() == -math.inf
