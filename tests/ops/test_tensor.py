"""The Tensor object: repr (PyTorch's format), item / tolist / numpy / __array__, DLPack
zero-copy with NumPy both ways, .to(dtype), bool ops, and every operator with Python scalars
on both sides."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from _tolerance import tol

import corefw
from corefw.errors import AutogradError

from .helpers import npy


# -- repr ------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,text", [
    (lambda: corefw.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
    (lambda: corefw.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (lambda: corefw.tensor([-1.5, 2.0]), "tensor([-1.5000,  2.0000])"),
    (lambda: corefw.tensor(1.5), "tensor(1.5000)"),
    (lambda: corefw.tensor(3), "tensor(3)"),
    (lambda: corefw.tensor([1, -20]), "tensor([  1, -20])"),
    (lambda: corefw.tensor([True, False]), "tensor([ True, False])"),
    (lambda: corefw.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: corefw.tensor([1e10, 1.0]), "tensor([1.0000e+10, 1.0000e+00])"),
    (lambda: corefw.tensor([math.nan, math.inf, 1.5]), "tensor([   nan,    inf, 1.5000])"),
    (lambda: corefw.tensor([math.nan, -math.inf, 1.0]), "tensor([nan, -inf, 1.])"),
    (lambda: corefw.tensor([0.5], dtype=corefw.float64), "tensor([0.5000], dtype=corefw.float64)"),
    (lambda: corefw.tensor([1.5], dtype=corefw.float16), "tensor([1.5000], dtype=corefw.float16)"),
    (lambda: corefw.tensor([1], dtype=corefw.int32), "tensor([1], dtype=corefw.int32)"),
    (lambda: corefw.zeros(0), "tensor([])"),
    (lambda: corefw.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: corefw.zeros(0, dtype=corefw.int64), "tensor([], dtype=corefw.int64)"),
    (lambda: corefw.tensor([1.0], requires_grad=True), "tensor([1.], requires_grad=True)"),
    (lambda: corefw.tensor([[1.5, 2], [3, 4]]), "tensor([[1.5000, 2.0000],\n"
                                                "        [3.0000, 4.0000]])"),
    (lambda: corefw.zeros(2, 1, 2), "tensor([[[0., 0.]],\n\n        [[0., 0.]]])"),
    (lambda: corefw.arange(2000.0), "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., "
                                    "1.9970e+03, 1.9980e+03,\n        1.9990e+03])"),
    (lambda: corefw.arange(12.0) / 7, "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, "
                                      "0.7143, 0.8571, 1.0000, 1.1429,\n"
                                      "        1.2857, 1.4286, 1.5714])"),
])
def test_repr_matches_pytorch(make, text):
    assert repr(make()) == text


def test_repr_of_a_graph_result_names_its_node():
    y = corefw.tensor([1.0], requires_grad=True) * 2
    assert repr(y).startswith("tensor([2.], grad_fn=<") and repr(y).endswith("Backward>)")
    assert str(corefw.tensor([2.0])) == repr(corefw.tensor([2.0]))
    assert f"{corefw.tensor(2.5):.2f}" == "2.50"


# -- conversions -----------------------------------------------------------------------------
def test_item_tolist(device):
    assert corefw.tensor([2.5], device=device).item() == 2.5
    assert type(corefw.tensor(2, device=device).item()) is int
    assert type(corefw.tensor(True, device=device).item()) is bool
    assert type(corefw.tensor(1.5, dtype=corefw.float16, device=device).item()) is float
    assert corefw.tensor([[1, 2]], device=device).tolist() == [[1, 2]]
    assert corefw.tensor(2.5, device=device).tolist() == 2.5
    assert corefw.zeros(0, 2, device=device).tolist() == []
    with pytest.raises(ValueError, match="2 elements"):
        corefw.tensor([1, 2], device=device).item()
    assert float(corefw.tensor([2.5], device=device)) == 2.5
    assert int(corefw.tensor(2.7, device=device)) == 2
    assert [10, 20, 30][corefw.tensor(1, device=device)] == 20
    with pytest.raises(TypeError):
        [1, 2][corefw.tensor(1.0, device=device)]


def test_numpy_shares_memory_and_refuses_grad():
    x = corefw.zeros(3)
    arr = x.numpy()
    arr[0] = 9.0
    assert x[0].item() == 9.0 and arr.dtype == np.float32
    with pytest.raises(AutogradError, match="detach"):
        corefw.zeros(2, requires_grad=True).numpy()
    assert corefw.zeros(2, requires_grad=True).detach().numpy().shape == (2,)
    assert isinstance(corefw.tensor(1.0).numpy(), np.ndarray)


def test_array_protocol(device):
    x = corefw.tensor([1, 2], dtype=corefw.int32, device=device)
    assert np.asarray(x).dtype == np.int32 and np.asarray(x).tolist() == [1, 2]
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    copy = np.array(x, copy=True)
    copy[0] = 5
    assert x.tolist() == [1, 2]
    assert np.asarray(corefw.zeros(2, requires_grad=True, device=device)).shape == (2,)
    assert np.add(np.ones(2), np.asarray(corefw.ones(2, device=device))).tolist() == [2.0, 2.0]


def test_dlpack_zero_copy_both_ways():
    x = corefw.arange(6.0).reshape(2, 3)
    arr = np.from_dlpack(x)
    assert np.shares_memory(arr, x.numpy()) and arr.tolist() == x.tolist()
    arr[0, 0] = -1.0
    assert x[0, 0].item() == -1.0  # corefw -> numpy shares
    src = np.arange(4.0)
    t = corefw.from_dlpack(src)
    t[1] = 10.0
    assert src[1] == 10.0 and t.dtype is corefw.float64  # numpy -> corefw shares
    back = corefw.from_dlpack(corefw.arange(6).reshape(2, 3).T)  # non-contiguous
    assert back.tolist() == [[0, 3], [1, 4], [2, 5]]
    assert x.__dlpack_device__()[0] == 1  # kDLCPU
    with pytest.raises(AutogradError, match="detach"):
        corefw.zeros(2, requires_grad=True).__dlpack__()


@pytest.mark.parametrize("target", [corefw.float64, corefw.float16, corefw.int64, corefw.int8,
                                    corefw.uint8, corefw.bool, "float64", float, int])
def test_to_dtype(target, device):
    x = corefw.tensor([1.7, -1.2, 0.0, 3.0], device=device)
    y = x.to(target)
    dtype = corefw._dtype.to_dtype(target)
    assert y.dtype is dtype
    np.testing.assert_array_equal(y.numpy(), x.numpy().astype(dtype.np))


def test_to_variants(device):
    x = corefw.zeros(2, device=device)
    assert x.to(corefw.float32) is x and x.to(device) is x
    assert x.to(corefw.float32, copy=True) is not x
    assert x.to(device, corefw.float64).dtype is corefw.float64
    assert x.to(dtype=corefw.int32).dtype is corefw.int32
    assert x.to(corefw.ones(1, dtype=corefw.float16, device=device)).dtype is corefw.float16
    assert x.double().dtype is corefw.float64 and x.long().dtype is corefw.int64
    assert x.half().dtype is corefw.float16 and x.bool().dtype is corefw.bool
    assert x.int().dtype is corefw.int32 and x.byte().dtype is corefw.uint8
    a = corefw.tensor([1.0, 2.0], requires_grad=True, device=device)
    a.to(corefw.float64).pow(2).sum().backward()
    assert a.grad.dtype is corefw.float32 and a.grad.tolist() == [2.0, 4.0]


def test_bool_and_len_and_iter(device):
    assert bool(corefw.tensor([1.0], device=device)) is True
    assert bool(corefw.tensor(0, device=device)) is False
    for bad in (corefw.zeros(2, device=device), corefw.zeros(0, device=device)):
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(bad)
    assert len(corefw.zeros(3, 2, device=device)) == 3
    with pytest.raises(TypeError):
        len(corefw.tensor(1.0, device=device))
    assert [r.tolist() for r in corefw.tensor([[1, 2], [3, 4]], device=device)] == [[1, 2], [3, 4]]


def test_bool_tensor_operators(device):
    a = corefw.tensor([True, True, False, False], device=device)
    b = corefw.tensor([True, False, True, False], device=device)
    assert (a & b).tolist() == [True, False, False, False]
    assert (a | b).tolist() == [True, True, True, False]
    assert (a ^ b).tolist() == [False, True, True, False]
    assert (~a).tolist() == [False, False, True, True]
    assert (a & True).tolist() == a.tolist() and (False | b).tolist() == b.tolist()
    assert (True ^ a).tolist() == (~a).tolist()
    assert (a & b).dtype is corefw.bool
    assert corefw.logical_and(corefw.tensor([1, 0], device=device),
                              corefw.tensor([2, 2], device=device)).tolist() == [True, False]
    assert corefw.logical_not(corefw.tensor([0.0, 2.0], device=device)).tolist() == [True, False]
    i = corefw.tensor([6, 5], device=device)
    assert (i & 3).tolist() == [2, 1] and (~i).tolist() == [-7, -6]
    with pytest.raises(TypeError):
        corefw.tensor([1.0], device=device) & corefw.tensor([1.0], device=device)
    with pytest.raises(TypeError):
        _ = -a  # PyTorch refuses to negate a bool tensor too


OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
             operator.mod, operator.pow, operator.lt, operator.le, operator.gt, operator.ge,
             operator.eq, operator.ne]


@pytest.mark.parametrize("scalar", [3, 2.5, -2], ids=["int", "float", "negint"])
@pytest.mark.parametrize("dtype", [corefw.float32, corefw.int64], ids=["f32", "i64"])
@pytest.mark.parametrize("op", OPERATORS, ids=[o.__name__ for o in OPERATORS])
def test_operators_with_python_scalars_on_both_sides(op, dtype, scalar, device):
    values = [1, 2, 4] if dtype is corefw.int64 else [0.5, 1.5, 4.0]
    x = corefw.tensor(values, dtype=dtype, device=device)
    for left, right in ((x, scalar), (scalar, x)):
        is_int = dtype is corefw.int64 and isinstance(scalar, int)
        if op is operator.pow and is_int and scalar < 0 and left is x:
            with pytest.raises(TypeError, match="negative integer powers"):
                op(left, right)
            continue
        out = op(left, right)
        pairs = [(v, scalar) if left is x else (scalar, v) for v in values]
        with np.errstate(all="ignore"):  # (-2) ** 0.5 is nan, as in PyTorch
            expected = [op(np.float64(a), np.float64(b)) for a, b in pairs]
        if op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
            assert out.dtype is corefw.bool
        elif op is operator.truediv or not is_int:
            assert out.dtype is corefw.float32
        else:
            assert out.dtype is corefw.int64
            expected = [op(a, b) for a, b in pairs]  # exact integer semantics
        np.testing.assert_allclose(npy(out), expected, **tol(out.dtype, device, rtol=1e-6))


def test_unary_operators_and_matmul_operator(device):
    x = corefw.tensor([[1.0, -2.0], [3.0, 4.0]], device=device)
    assert (-x).tolist() == [[-1.0, 2.0], [-3.0, -4.0]] and (+x) is x
    assert abs(x).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert (x @ x).tolist() == [[-5.0, -10.0], [15.0, 10.0]]
    v = corefw.tensor([1.0, 1.0], device=device)
    assert (v @ x).tolist() == [4.0, 2.0] and (x @ v).tolist() == [-1.0, 7.0]


def test_operators_with_lists_and_numpy_on_the_right(device):
    x = corefw.tensor([1.0, 2.0], device=device)
    assert (x + [1, 2]).tolist() == [2.0, 4.0]
    assert (x * np.array([2.0, 3.0])).tolist() == [2.0, 6.0]
    assert (x * np.float64(2.0)).dtype is corefw.float32
    assert (x > np.float32(1.5)).tolist() == [False, True]


def test_operators_with_numpy_on_the_left(device):
    x = corefw.tensor([1.0, 2.0], device=device)
    assert (np.float64(2.0) * x).tolist() == [2.0, 4.0]
    assert (np.array([1.0, 1.0]) + x).tolist() == [2.0, 3.0]


def test_hash_and_identity(device):
    a, b = corefw.tensor(1.0, device=device), corefw.tensor(1.0, device=device)
    assert len({a: 1, b: 2}) == 2  # hashed by identity, == is elementwise
    assert (a == b).item() is True
