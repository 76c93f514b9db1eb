"""In-place ops: values against the reference, the version counter, PyTorch's errors (a leaf
that requires grad, a result dtype that cannot be cast), and autograd through a non-leaf."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import AutogradError, DTypeError, ShapeError

from .helpers import check, gradcheck, leaf, make, npy, sample

# name -> (call on (x, a, b), reference on float64 arrays (x, a, b))
INPLACE = {
    "add_": (lambda x, a, b: x.add_(a), lambda x, a, b: x + a),
    "add_alpha": (lambda x, a, b: x.add_(a, alpha=-2.5), lambda x, a, b: x - 2.5 * a),
    "add_scalar": (lambda x, a, b: x.add_(1.5), lambda x, a, b: x + 1.5),
    "sub_": (lambda x, a, b: x.sub_(a), lambda x, a, b: x - a),
    "sub_alpha": (lambda x, a, b: x.sub_(a, alpha=3), lambda x, a, b: x - 3 * a),
    "mul_": (lambda x, a, b: x.mul_(a), lambda x, a, b: x * a),
    "mul_scalar": (lambda x, a, b: x.mul_(-2), lambda x, a, b: x * -2),
    "div_": (lambda x, a, b: x.div_(b), lambda x, a, b: x / b),
    "div_scalar": (lambda x, a, b: x.div_(4.0), lambda x, a, b: x / 4.0),
    "zero_": (lambda x, a, b: x.zero_(), lambda x, a, b: x * 0),
    "fill_": (lambda x, a, b: x.fill_(2.5), lambda x, a, b: np.full_like(x, 2.5)),
    "fill_tensor": (lambda x, a, b: x.fill_(corefw.tensor(-1.0)),
                    lambda x, a, b: np.full_like(x, -1.0)),
    "copy_": (lambda x, a, b: x.copy_(a), lambda x, a, b: np.broadcast_to(a, x.shape)),
    "addcmul_": (lambda x, a, b: x.addcmul_(a, b), lambda x, a, b: x + a * b),
    "addcmul_value": (lambda x, a, b: x.addcmul_(a, b, value=-0.5),
                      lambda x, a, b: x - 0.5 * a * b),
    "addcdiv_": (lambda x, a, b: x.addcdiv_(a, b), lambda x, a, b: x + a / b),
    "addcdiv_value": (lambda x, a, b: x.addcdiv_(a, b, value=2.0),
                      lambda x, a, b: x + 2.0 * a / b),
    "clamp_": (lambda x, a, b: x.clamp_(-0.5, 0.5), lambda x, a, b: np.clip(x, -0.5, 0.5)),
    "clamp_min": (lambda x, a, b: x.clamp_(min=0.2), lambda x, a, b: np.maximum(x, 0.2)),
    "clamp_max_tensor": (lambda x, a, b: x.clamp_(max=a), lambda x, a, b: np.minimum(x, a)),
    "iadd": (lambda x, a, b: x.__iadd__(a), lambda x, a, b: x + a),
    "isub": (lambda x, a, b: x.__isub__(2), lambda x, a, b: x - 2),
    "imul": (lambda x, a, b: x.__imul__(b), lambda x, a, b: x * b),
    "itruediv": (lambda x, a, b: x.__itruediv__(b), lambda x, a, b: x / b),
    "exp_": (lambda x, a, b: x.exp_(), lambda x, a, b: np.exp(x)),
    "sqrt_": (lambda x, a, b: x.abs_().sqrt_(), lambda x, a, b: np.sqrt(np.abs(x))),
    "neg_": (lambda x, a, b: x.neg_(), lambda x, a, b: -x),
}


def _operands(rng, layout, device=None):
    x = sample(rng, (3, 4))
    a = sample(rng, (4,))  # broadcast over the rows
    b = sample(rng, (3, 4), "pos")
    return x, a, b, make(x, corefw.float32, layout, device=device), \
        make(a, corefw.float32, device=device), make(b, corefw.float32, "strided", device=device)


@pytest.mark.parametrize("layout", ["contig", "strided"])
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_values_and_version(name, layout, rng, device):
    fn, reference = INPLACE[name]
    x, a, b, tx, ta, tb = _operands(rng, layout, device=device)
    v0 = tx._version
    out = fn(tx, ta, tb)
    assert out is tx
    assert tx._version > v0
    assert tx.dtype is corefw.float32 and tx.shape == (3, 4)
    check(tx, reference(npy(make(x, corefw.float32)), npy(ta), npy(tb)), corefw.float32)


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


@pytest.mark.parametrize("name", ["add_", "add_alpha", "sub_", "mul_", "div_", "zero_",
                                  "fill_", "copy_", "addcmul_", "addcmul_value", "addcdiv_",
                                  "clamp_", "clamp_max_tensor", "imul", "exp_", "sqrt_"])
def test_inplace_autograd_through_a_non_leaf(name, rng, device):
    fn, _ = INPLACE[name]

    def f(x, a, b):
        y = x * 1.5  # a non-leaf that is then changed in place
        return fn(y, a, b) * x

    x = leaf(rng, (3, 4), "kink", device=device)
    a = leaf(rng, (4,), "kink", device=device)
    b = leaf(rng, (3, 4), "pos", device=device)
    gradcheck(f, x, a, b)


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
