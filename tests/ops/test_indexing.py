"""Indexing behaviour the op table cannot express: hand-computed results, views, repeated
indices accumulating gradients, version counters, the errors. Values and gradients of ``x[key]``
and ``x[key] = value`` over every kind of key are rows of the op table (corefw.testing
cases_indexing.py, run by test_op_table.py).

Decision on negative steps: corefw supports them with NumPy's meaning (PyTorch raises
"step must be greater than zero"); the result is a view of the base and is differentiable.
"""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import AutogradError, CorefwIndexError, DTypeError, ShapeError

from .helpers import check, gradcheck, leaf, make, npy, sample


def test_hand_computed_advanced_indexing(device):
    x = corefw.arange(12, device=device).reshape(3, 4)
    assert x[[2, 0]].tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert x[[0, 2], [1, 3]].tolist() == [1, 11]
    assert x[1:, [0, 0]].tolist() == [[4, 4], [8, 8]]
    assert x[x % 5 == 0].tolist() == [0, 5, 10]
    assert x[corefw.tensor([True, False, True], device=device)].tolist() == \
        [[0, 1, 2, 3], [8, 9, 10, 11]]
    assert x[..., ::-1][0].tolist() == [3, 2, 1, 0]
    assert x[None].shape == (1, 3, 4) and x[:, None, 1].shape == (3, 1)
    # a 0-d integer tensor is an int
    assert x[corefw.tensor(1, device=device)].tolist() == [4, 5, 6, 7]
    assert x[corefw.tensor(1, device=device):corefw.tensor(3, device=device), 0].tolist() == [4, 8]


def test_0d_indexing(device):
    s = corefw.tensor(3.5, device=device)
    assert s[()].item() == 3.5 and s[...].shape == () and s[None].shape == (1,)
    with pytest.raises(CorefwIndexError, match="too many indices"):
        s[0]


def test_basic_indexing_is_a_view_and_negative_steps_too(device):
    base = corefw.zeros(3, 4, device=device)
    for key in ((1,), (slice(None), slice(None, None, -1)), (Ellipsis, 0), (None, 2)):
        view = base[key]
        with corefw.no_grad():
            view.add_(1.0)
        assert view._version == base._version
    assert base.tolist()[1] == [3.0, 2.0, 2.0, 2.0]
    picked = base[[0, 1]]  # advanced indexing copies
    picked.fill_(-1.0)
    assert base.min().item() == 1.0


def test_repeated_indices_accumulate_gradients(device):
    x = corefw.tensor([1.0, 2.0, 3.0, 4.0], dtype=corefw.float64, requires_grad=True, device=device)
    w = corefw.tensor([1.0, 10.0, 100.0, 1000.0, 2.0], dtype=corefw.float64, device=device)
    (x[corefw.tensor([0, 0, 3, 0, 3], device=device)] * w).sum().backward()
    assert x.grad.tolist() == [1.0 + 10.0 + 1000.0, 0.0, 0.0, 100.0 + 2.0]
    y = corefw.zeros(2, 3, dtype=corefw.float64, requires_grad=True, device=device)
    y[[1, 1], [2, 2]].sum().backward()
    assert y.grad.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]


def test_indexing_errors(device):
    x = corefw.zeros(2, 3, device=device)
    with pytest.raises(CorefwIndexError, match="index 5 is out of bounds for dim 0"):
        x[5]
    with pytest.raises(IndexError):
        x[[0, 5]]
    with pytest.raises(CorefwIndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(CorefwIndexError, match="unsupported index"):
        x[1.5]
    with pytest.raises(CorefwIndexError, match="integer or bool"):
        x[corefw.tensor([0.0], device=device)]


# -- __setitem__ -------------------------------------------------------------------------------
def test_setitem_bumps_the_version_once(device):
    x = corefw.zeros(3, 4, device=device)
    for key in (1, (slice(None), 0), corefw.tensor([2, 0], device=device), Ellipsis):
        v0 = x._version
        x[key] = 1.0
        assert x._version == v0 + 1


def test_setitem_of_a_value_that_requires_grad_makes_the_target_a_graph_node(device):
    v = corefw.tensor([2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    y = corefw.zeros(4, dtype=corefw.float64, device=device)
    y[1:3] = v
    assert y.requires_grad and not y.is_leaf
    (y * y).sum().backward()
    assert v.grad.tolist() == [4.0, 6.0]


def test_setitem_rules_and_errors(device):
    a = corefw.zeros(3, dtype=corefw.float64, requires_grad=True, device=device)
    with pytest.raises(AutogradError, match="leaf tensor that requires grad"):
        a[0] = 1.0
    with corefw.no_grad():
        a[0] = 1.0  # allowed outside the graph
    assert a.tolist() == [1.0, 0.0, 0.0] and a.is_leaf
    x = corefw.zeros(2, 3, device=device)
    with pytest.raises(ShapeError, match="cannot assign a value of shape"):
        x[0] = corefw.ones(4, device=device)
    i = corefw.zeros(3, dtype=corefw.int64, device=device)
    with pytest.raises(DTypeError, match="float"):
        i[0] = 2.5  # stricter than PyTorch, which truncates silently
    i[1] = corefw.tensor(4, dtype=corefw.int32, device=device)
    assert i.tolist() == [0, 4, 0] and i.dtype is corefw.int64


def test_setitem_through_a_view_changes_the_base(device):
    base = corefw.zeros(2, 3, device=device)
    row = base[1]
    row[1:] = 4.0
    assert base.tolist() == [[0.0, 0.0, 0.0], [0.0, 4.0, 4.0]]
    assert base._version == row._version == 1


def test_index_select_masked_ops_nonzero(rng, device):
    data = sample(rng, (3, 4))
    x = make(data, layout="strided", device=device)
    idx = corefw.tensor([3, 0, 3], device=device)
    check(x.index_select(1, idx), data[:, [3, 0, 3]])
    check(corefw.index_select(x, 0, corefw.tensor([2], device=device)), data[[2]])
    mask = x > 0
    check(corefw.masked_fill(x, mask, 0.5), np.where(data > 0, 0.5, data))
    check(corefw.masked_select(x, mask), data[data > 0])
    check(corefw.masked_select(x, corefw.tensor([True, False, True, False], device=device)),
          data[:, [0, 2]].reshape(-1))
    nz = corefw.nonzero(mask)
    assert nz.dtype is corefw.int64
    np.testing.assert_array_equal(nz.numpy(), np.argwhere(data > 0))
    rows, cols = corefw.nonzero(mask, as_tuple=True)
    np.testing.assert_array_equal(rows.numpy(), np.nonzero(data > 0)[0])
    np.testing.assert_array_equal(cols.numpy(), np.nonzero(data > 0)[1])
    check(corefw.take_along_dim(x, corefw.tensor([[1], [0], [3]], device=device), 1),
          data[[0, 1, 2], [1, 0, 3]][:, None])
    gradcheck(lambda t: corefw.masked_fill(t, mask, 0.5), leaf(rng, (3, 4), device=device))
    gradcheck(lambda t: t.index_select(1, idx), leaf(rng, (3, 4), device=device))
    assert npy(corefw.nonzero(corefw.zeros(2, 2, device=device))).shape == (0, 2)
