"""Elementwise ops and activations: the behaviour the op table (corefw.testing, run by
test_op_table.py) cannot express: special values, dtype rules, tie-breaking gradients, error
messages, rounding modes, gradients through a Python-number operand's other side."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw
from corefw.ops.registry import get_op

from .helpers import check, gradcheck, leaf, make, npy, sample


def test_inputs_really_are_non_contiguous():
    assert not make(np.ones((2, 3)), layout="strided").numpy().flags.c_contiguous
    assert not make(np.ones((3, 2, 2)), layout="transposed").numpy().flags.c_contiguous


def test_gradgradcheck_itself(rng, device):
    assert corefw.autograd.gradgradcheck(lambda t: t * t * t, (leaf(rng, (3,), device=device),))


def test_clone_and_cast_backward(rng, device):
    x = leaf(rng, (2, 3), "real", "strided", device=device)
    gradcheck(lambda t: corefw.clone(t) * t, x)
    before = npy(x)
    y = corefw.clone(x.detach())
    y.fill_(0.0)  # a clone owns its storage
    np.testing.assert_array_equal(npy(x), before)
    h = corefw.tensor([1.5, -2.0], dtype=corefw.float32, requires_grad=True, device=device)
    out = h.to(corefw.float64) * corefw.tensor([2.0, 3.0], dtype=corefw.float64, device=device)
    out.sum().backward()
    assert h.grad.dtype is corefw.float32 and h.grad.tolist() == [2.0, 3.0]
    assert corefw.tensor([1.0], device=device).to(corefw.int64).requires_grad is False


def test_round_half_to_even_and_decimals(device):
    x = corefw.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997], dtype=corefw.float64, device=device)
    assert corefw.round(x).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 0.0]
    check(corefw.round(corefw.tensor([1.2345, -2.5678], dtype=corefw.float64, device=device),
                       decimals=2), [1.23, -2.57])


def test_unary_ops_on_integers_follow_torch(device):
    i = corefw.tensor([-2, 0, 3], device=device)
    assert corefw.abs(i).tolist() == [2, 0, 3] and corefw.abs(i).dtype is corefw.int64
    assert corefw.sign(i).tolist() == [-1, 0, 1]
    assert corefw.floor(i).dtype is corefw.int64 and corefw.relu(i).tolist() == [0, 0, 3]
    for fn in (corefw.exp, corefw.sqrt, corefw.sigmoid, corefw.sin, corefw.log1p):
        # ints give the default float
        assert fn(corefw.tensor([1, 2], device=device)).dtype is corefw.float32
    b = corefw.tensor([True, False], device=device)
    assert corefw.sign(b).tolist() == [True, False] and corefw.sign(b).dtype is corefw.bool


def test_clamp_needs_a_bound(rng, device):
    with pytest.raises(ValueError, match="at least one"):
        corefw.clamp(make(sample(rng, (3, 4), "kink"), device=device))


def test_clamp_dtypes_follow_torch(device):
    i = corefw.tensor([0, 5, 10], device=device)
    assert corefw.clamp(i, 2, 8).dtype is corefw.int64
    out = corefw.clamp(i, 1.5, 8.5)
    assert out.dtype is corefw.float32 and out.tolist() == [1.5, 5.0, 8.5]
    assert corefw.clamp(corefw.tensor([1.0], dtype=corefw.float16, device=device), 0,
                        0.5).dtype is corefw.float16


def test_maximum_minimum_split_the_gradient_on_ties(device):
    a = corefw.tensor([1.0, 2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    b = corefw.tensor([1.0, 5.0, 0.0], dtype=corefw.float64, requires_grad=True, device=device)
    corefw.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0, 1.0] and b.grad.tolist() == [0.5, 1.0, 0.0]
    a.grad = b.grad = None
    corefw.minimum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0, 0.0] and b.grad.tolist() == [0.5, 0.0, 1.0]


def test_broadcast_gradient_is_summed_to_the_operand_shape(device):
    a = corefw.ones(2, 3, dtype=corefw.float64, requires_grad=True, device=device)
    b = corefw.tensor([[1.0], [2.0]], dtype=corefw.float64, requires_grad=True, device=device)
    (a * b).sum().backward()
    assert b.grad.shape == (2, 1) and b.grad.tolist() == [[3.0], [3.0]]
    assert a.grad.tolist() == [[1.0] * 3, [2.0] * 3]


def test_pow_special_cases(device):
    x = corefw.tensor([0.0, 2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    y = x ** 2
    y.sum().backward()
    assert y.tolist() == [0.0, 4.0, 9.0] and x.grad.tolist() == [0.0, 4.0, 6.0]
    e = corefw.tensor([2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    (corefw.tensor([0.0, 2.0], dtype=corefw.float64, device=device) ** e).sum().backward()
    assert e.grad.tolist() == pytest.approx([0.0, 8.0 * math.log(2.0)])  # 0 ** e: no nan
    e.grad = None
    (0.0 ** e).sum().backward()  # a Python base of 0 too
    assert e.grad.tolist() == [0.0, 0.0]
    with pytest.raises(corefw.errors.DTypeError, match="negative integer powers"):
        corefw.tensor([1, 2], device=device) ** -1
    assert (corefw.tensor([2, 3], device=device) ** 2).tolist() == [4, 9]
    assert (corefw.tensor([4, 9], device=device) ** 0.5).tolist() == [2.0, 3.0]


def test_floor_divide_and_remainder_follow_python_signs(device):
    a = corefw.tensor([7, -7, 7, -7], device=device)
    b = corefw.tensor([2, 2, -2, -2], device=device)
    assert (a // b).tolist() == [7 // 2, -7 // 2, 7 // -2, -7 // -2]
    assert (a % b).tolist() == [7 % 2, -7 % 2, 7 % -2, -7 % -2]
    f = corefw.tensor([5.5, -5.5], device=device)
    assert (f % -2).tolist() == [5.5 % -2, -5.5 % -2]
    assert (f // 2).tolist() == [5.5 // 2, -5.5 // 2]


def test_div_rounding_modes(device):
    a, b = corefw.tensor([7, -7], device=device), corefw.tensor([2, 2], device=device)
    assert corefw.div(a, b, rounding_mode="trunc").tolist() == [3, -3]
    assert corefw.div(a, b, rounding_mode="floor").tolist() == [3, -4]
    assert corefw.div(a, b, rounding_mode="trunc").dtype is corefw.int64
    assert corefw.div(a, b).tolist() == [3.5, -3.5]
    with pytest.raises(ValueError, match="rounding_mode"):
        corefw.div(a, b, rounding_mode="up")


@pytest.mark.filterwarnings("error")  # NumPy's RuntimeWarning would fail the test
def test_ieee_special_values_come_back_without_a_warning(device):
    def t(*v):
        return corefw.tensor(list(v), device=device)

    inf, nan = math.inf, math.nan
    cases = [  # (result, what PyTorch returns), each of these warns in plain NumPy
        (corefw.log(t(0.0, -1.0)), [-inf, nan]),
        (corefw.log1p(t(-1.0, -2.0)), [-inf, nan]),
        (corefw.sqrt(t(-1.0)), [nan]),
        (corefw.rsqrt(t(0.0, -1.0)), [inf, nan]),
        (t(1.0, -1.0, 0.0) / 0, [inf, -inf, nan]),
        (t(1.0, 0.0) / t(0.0, 0.0), [inf, nan]),
        (corefw.reciprocal(t(0.0)), [inf]),
        (t(0.0) ** -1.0, [inf]),
        (t(-8.0) ** 0.5, [nan]),
        (corefw.exp(t(1000.0)), [inf]),
        (corefw.acos(t(2.0)), [nan]),
        (corefw.atanh(t(1.0)), [inf]),
        (corefw.remainder(t(1.0), 0.0), [nan]),
        (corefw.softmax(t(-inf, -inf), 0), [nan, nan]),
    ]
    for got, want in cases:
        np.testing.assert_array_equal(got.numpy(), np.array(want, dtype=np.float32))
    with np.errstate(divide="raise"):  # the user's NumPy error state is theirs, before and after
        assert corefw.log(t(0.0)).tolist() == [-inf]
        with pytest.raises(FloatingPointError):
            np.log(np.zeros(1))


def test_integer_division_by_zero_still_raises(device):
    with pytest.raises(corefw.errors.CorefwZeroDivisionError, match="integer division by zero"):
        corefw.tensor([1, 2], device=device) // 0
    with pytest.raises(ZeroDivisionError, match="remainder"):
        corefw.tensor([1, 2], device=device) % corefw.tensor([1, 0], device=device)


# -- where -----------------------------------------------------------------------------------
def test_where_dtypes_follow_torch(device):
    cond = corefw.tensor([True, False], device=device)
    assert corefw.where(cond, 1.0, 2.5).dtype is corefw.float32
    assert corefw.where(cond, 1, 2).dtype is corefw.int64
    assert corefw.where(cond, corefw.tensor([1, 2], device=device), 2.5).tolist() == [1.0, 2.5]
    assert corefw.where(cond, corefw.tensor([1, 2], device=device), 2.5).dtype is corefw.float32
    f16 = corefw.tensor([1.0, 2.0], dtype=corefw.float16, device=device)
    assert corefw.where(cond, f16, corefw.tensor(3.0, dtype=corefw.float64,
                                                 device=device)).dtype is corefw.float16
    assert corefw.where(corefw.tensor([1, 0], device=device), 1.0, 0.0).tolist() == [1.0, 0.0]
    assert [t.tolist() for t in corefw.where(corefw.tensor([[0, 1], [1, 0]], device=device))] == \
        [[0, 1], [1, 0]]


# -- softmax family --------------------------------------------------------------------------
def test_softmax_edge_cases(device):
    big = corefw.tensor([1000.0, 1000.0, -1000.0], device=device)
    check(corefw.softmax(big, 0), [0.5, 0.5, 0.0])  # stable: no overflow
    check(corefw.log_softmax(big, 0), [-math.log(2), -math.log(2), -2000 - math.log(2)])
    assert corefw.softmax(corefw.tensor(3.0, device=device), 0).item() == 1.0
    assert corefw.softmax(corefw.zeros(0, 3, device=device), 1).shape == (0, 3)
    assert corefw.softmax(corefw.tensor([1, 2], device=device), 0).dtype is corefw.float32
    x = corefw.tensor([[1.0, 2.0]], device=device)
    assert corefw.softmax(x, 1, dtype=corefw.float64).dtype is corefw.float64
    assert corefw.gelu(x, approximate="none").shape == (1, 2)
    with pytest.raises(ValueError, match="approximate"):
        corefw.gelu(x, approximate="fast")


def test_composites_without_a_kernel_differentiate_through_their_decomposition(rng, device):
    x = leaf(rng, (2, 3), "real", device=device)
    gradcheck(lambda t: get_op("gelu").decomposition(t, approximate="tanh"), x)
    gradcheck(lambda t: get_op("softplus").decomposition(t, beta=1.0, threshold=20.0), x)
