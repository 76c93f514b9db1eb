"""Indexing: ``x[key]`` (slices, negative steps, ellipsis, None, integer arrays, boolean
masks), its gradient (repeated indices accumulate), ``x[key] = value`` with scalars, tensors
and broadcasting, and its autograd on a non-leaf.

Decision on negative steps: corefw supports them with NumPy's meaning (PyTorch raises
"step must be greater than zero"); the result is a view of the base and is differentiable.
"""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import AutogradError, CorefwIndexError, DTypeError, ShapeError

from .helpers import check, gradcheck, leaf, make, npy, sample

I = np.array  # noqa: E741 - short for the integer index arrays below

KEYS = {  # id -> key (numpy form); applied to a (3, 4, 5) tensor
    "int": 1,
    "neg_int": -1,
    "slice": slice(1, 3),
    "step": (slice(None), slice(None, None, 2)),
    "neg_step": slice(None, None, -1),
    "neg_step_range": (slice(None), slice(3, 0, -2)),
    "ellipsis": (Ellipsis, 2),
    "ellipsis_mid": (0, Ellipsis, slice(1, 4)),
    "none": (None, 1, None),
    "int_mix": (1, slice(None), -2),
    "empty_slice": (slice(2, 2),),
    "int_array": I([2, 0, 2]),
    "int_array_2d": I([[0, 1], [2, 2]]),
    "int_arrays_pair": (I([0, 2]), slice(None), I([4, 0])),
    "int_array_neg": (slice(None), I([-1, 0])),
    "empty_list": [],
    "bool_mask_dim0": I([True, False, True]),
    "bool_mask_2d": (slice(None), I([[True, False, True, False, True]] * 4)),
    "list_ints": [0, 0, 1],
    "scalar_bool": True,
}


def _as_corefw_key(key, kind, device=None):
    """The same key with numpy arrays as corefw tensors on ``device`` ("tensor") or kept
    ("numpy")."""
    if kind == "numpy":
        return key
    conv = lambda k: corefw.tensor(k, device=device) \
        if isinstance(k, np.ndarray) else k  # noqa: E731
    return tuple(conv(k) for k in key) if isinstance(key, tuple) else conv(key)


@pytest.mark.parametrize("kind", ["tensor", "numpy"])
@pytest.mark.parametrize("name", sorted(KEYS))
def test_getitem_forward_and_backward(name, kind, rng, device):
    key = KEYS[name]
    data = sample(rng, (3, 4, 5))
    ckey = _as_corefw_key(key, kind, device)
    out = make(data, corefw.float32, "transposed", device=device)[ckey]
    expected = data[key]
    check(out, expected, corefw.float32)
    if expected.size:
        gradcheck(lambda t: t[ckey], leaf(rng, (3, 4, 5), device=device))


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
SETS = {  # id -> (key, value maker(rng) as numpy or a Python scalar)
    "row_scalar": (1, 5.0),
    "col_tensor": ((slice(None), 0), lambda r: r.uniform(-1, 1, 3)),
    "broadcast_row": ((slice(0, 2),), lambda r: r.uniform(-1, 1, 4)),
    "broadcast_1": (0, lambda r: r.uniform(-1, 1, 1)),
    "neg_step": ((slice(None), slice(None, None, -2)), lambda r: r.uniform(-1, 1, (3, 2))),
    "ellipsis": (Ellipsis, 2.0),
    "none": ((slice(None), None, 1), lambda r: r.uniform(-1, 1, (3, 1))),
    "int_array": (I([2, 0]), lambda r: r.uniform(-1, 1, (2, 4))),
    "bool_mask": (I([[True, False, False, True]] * 3), -3.0),
    "pair": ((I([0, 2]), I([1, 3])), lambda r: r.uniform(-1, 1, 2)),
    "int_into_float": (0, 7),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_setitem_values(name, rng, device):
    key, value = SETS[name]
    value = value(rng) if callable(value) else value
    data = sample(rng, (3, 4))
    x = make(data, corefw.float32, device=device)
    v0 = x._version
    x[_as_corefw_key(key, "tensor", device)] = make(value, corefw.float32, device=device) \
        if isinstance(value, np.ndarray) else value
    expected = data.copy()
    expected[key] = value
    check(x, expected, corefw.float32)
    assert x._version == v0 + 1


@pytest.mark.parametrize("name", ["row_scalar", "col_tensor", "broadcast_row", "neg_step",
                                  "int_array", "bool_mask", "pair"])
def test_setitem_autograd_on_a_non_leaf(name, rng, device):
    key, value = SETS[name]
    ckey = _as_corefw_key(key, "tensor", device)
    if callable(value):
        def fn(a, v):
            y = a * 1.0
            y[ckey] = v
            return y * y

        gradcheck(fn, leaf(rng, (3, 4), device=device), leaf(rng, value(rng).shape, device=device))
    else:
        def fn(a):
            y = a * 1.0
            y[ckey] = value
            return y * y

        gradcheck(fn, leaf(rng, (3, 4), device=device))


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
