"""In-place ops: the version counter and PyTorch's errors (a leaf that requires grad, a result
dtype that cannot be cast). Their values, and gradients through a non-leaf changed in place,
are rows of the op table (corefw.testing.cases_functions.INPLACE, run by test_op_table.py)."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import AutogradError, DTypeError, ShapeError
from corefw.testing.cases_functions import INPLACE

from .helpers import check, make, npy, sample


def _operands(rng, layout, device=None):
    x = sample(rng, (3, 4))
    a = sample(rng, (4,))  # broadcast over the rows
    b = sample(rng, (3, 4), "pos")
    return x, a, b, make(x, corefw.float32, layout, device=device), \
        make(a, corefw.float32, device=device), make(b, corefw.float32, "strided", device=device)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_returns_self_and_bumps_the_version(name, rng, device):
    # values and gradients through a non-leaf are rows of the op table (test_op_table.py)
    fn, _ = INPLACE[name]
    x, a, b, tx, ta, tb = _operands(rng, "strided", device=device)
    v0 = tx._version
    out = fn(tx, ta, tb)
    assert out is tx
    assert tx._version > v0
    assert tx.dtype is corefw.float32 and tx.shape == (3, 4)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_a_leaf_that_requires_grad_is_an_error(name, rng, device):
    fn, reference = INPLACE[name]
    x, a, b, _, ta, tb = _operands(rng, "contig", device=device)
    t = make(x, corefw.float64, requires_grad=True, device=device)
    with pytest.raises(AutogradError, match="leaf tensor that requires grad"):
        fn(t, ta, tb)
    with corefw.no_grad():
        fn(t, ta, tb)  # allowed outside the graph, and t stays a leaf
    assert t.is_leaf and t.requires_grad and t.grad_fn is None
    check(t, reference(x, npy(ta), npy(tb)), corefw.float32)


def test_inplace_mul_by_itself_keeps_the_old_value_for_backward(device):
    a = corefw.tensor([1.0, 2.0], dtype=corefw.float64, requires_grad=True, device=device)
    y = a * 2.0
    y.mul_(y)  # y_new = y_old ** 2 = 4 a^2
    y.sum().backward()
    assert a.grad.tolist() == [8.0, 16.0]


def test_modifying_a_saved_tensor_in_place_is_detected(device):
    a = corefw.tensor([1.0, 2.0], dtype=corefw.float64, requires_grad=True, device=device)
    y = a * 1.0
    z = y.sin()  # saves y
    y.add_(1.0)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        z.sum().backward()


def test_inplace_on_a_view_while_recording_rewrites_the_base_graph(device):
    a = corefw.ones(3, dtype=corefw.float64, requires_grad=True, device=device)
    y = a * 1.0
    y[1:].mul_(2.0)  # PyTorch's CopySlices: y = [a0, 2 a1, 2 a2]
    y.sum().backward()
    assert a.grad.tolist() == [1.0, 2.0, 2.0]


def test_inplace_on_a_view_of_a_leaf_that_requires_grad_is_a_clear_error(device):
    a = corefw.ones(3, dtype=corefw.float64, requires_grad=True, device=device)
    with pytest.raises(AutogradError, match="view of a leaf"):
        a[1:].mul_(2.0)
    assert a.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("call,message", [
    (lambda i: i.add_(1.5), "float32 can't be cast to the desired output type corefw.int64"),
    (lambda i: i.add_(corefw.tensor([0.5, 0.5, 0.5], device=i.device)), "can't be cast"),
    (lambda i: i.div_(2), "can't be cast"),
    (lambda i: i.mul_(2.0), "can't be cast"),
    (lambda i: corefw.tensor([True], device=i.device).add_(1),
     "int64 can't be cast to the desired output type corefw.bool"),
])
def test_inplace_result_that_cannot_be_cast_is_an_error(call, message, device):
    i = corefw.tensor([1, 2, 3], device=device)
    with pytest.raises(DTypeError, match=message):
        call(i)
    assert i.tolist() == [1, 2, 3] and i._version == 0  # nothing was written


def test_inplace_casts_within_a_category_and_keeps_dtype(device):
    f = corefw.tensor([1.0, 2.0], device=device)
    f.add_(corefw.tensor([0.5, 0.5], dtype=corefw.float64, device=device))
    assert f.dtype is corefw.float32 and f.tolist() == [1.5, 2.5]
    i = corefw.tensor([1, 2], dtype=corefw.int32, device=device)
    i.mul_(corefw.tensor([3, 3], device=device))
    assert i.dtype is corefw.int32 and i.tolist() == [3, 6]
    i.fill_(2.7)  # fill_ converts the value, as PyTorch
    assert i.tolist() == [2, 2]
    f.copy_(corefw.tensor([7, 8], device=device))
    assert f.dtype is corefw.float32 and f.tolist() == [7.0, 8.0]
    f.copy_(np.array([1.0, 3.0]))
    assert f.tolist() == [1.0, 3.0]


def test_inplace_shape_errors(device):
    x = corefw.zeros(3, device=device)
    with pytest.raises(ShapeError, match=r"shape \(2, 3\), which cannot be written"):
        x.add_(corefw.zeros(2, 3, device=device))
    with pytest.raises(ShapeError):
        x.copy_(corefw.zeros(2, device=device))


def test_inplace_under_no_grad_writes_the_same_storage():
    x = corefw.zeros(4)
    arr = x.numpy()
    with corefw.no_grad():
        x.add_(1.0).mul_(3.0)
    assert arr.tolist() == [3.0] * 4 and x._version == 2
