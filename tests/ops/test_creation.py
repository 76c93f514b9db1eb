"""Creation: tensor / as_tensor / from_numpy (zero-copy), zeros / ones / full / empty, arange
(float steps), linspace, eye, *_like, and the random functions (reproducible under
manual_seed and with a Generator)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _tolerance import tol

import corefw
from corefw.errors import AutogradError, DTypeError


@pytest.mark.parametrize("data,dtype,values", [
    ([1, 2, 3], corefw.int64, [1, 2, 3]),
    ([1, 2.5], corefw.float32, [1.0, 2.5]),
    ([[True], [False]], corefw.bool, [[True], [False]]),
    (3, corefw.int64, 3),
    (2.5, corefw.float32, 2.5),
    (True, corefw.bool, True),
    ([], corefw.float32, []),
    (np.arange(3, dtype=np.int32), corefw.int32, [0, 1, 2]),
    (np.array([0.5, 1.5]), corefw.float64, [0.5, 1.5]),  # NumPy data keeps its dtype
    (np.float64(0.25), corefw.float64, 0.25),
    (np.int16(7), corefw.int16, 7),
    ([corefw.tensor(1.0), corefw.tensor(2.0)], corefw.float32, [1.0, 2.0]),
])
def test_tensor_infers_dtype_like_torch(data, dtype, values, device):
    t = corefw.tensor(data, device=device)
    assert t.dtype is dtype and t.tolist() == values
    assert corefw.tensor(data, dtype=corefw.float64, device=device).dtype is corefw.float64


def test_tensor_copies_and_as_tensor_from_numpy_share():
    a = np.zeros(3)
    corefw.tensor(a)[0] = 1.0
    assert a[0] == 0.0  # tensor() copies
    corefw.as_tensor(a)[1] = 2.0
    assert a[1] == 2.0  # as_tensor shares when it can
    t = corefw.from_numpy(a)
    t[2] = 3.0
    assert a.tolist() == [0.0, 2.0, 3.0]
    a[0] = -1.0
    assert t.tolist()[0] == -1.0  # both ways
    strided = np.zeros((2, 4))[:, ::2]
    corefw.from_numpy(strided)[1, 1] = 5.0  # a non-contiguous array is shared too
    assert strided[1, 1] == 5.0
    x = corefw.zeros(2)
    assert corefw.as_tensor(x) is x and corefw.as_tensor(x, dtype=corefw.float64) is not x
    assert corefw.as_tensor([1, 2], dtype=corefw.float16).dtype is corefw.float16


def test_tensor_errors():
    with pytest.raises(DTypeError, match="unsupported dtype"):
        corefw.tensor(["a"])
    with pytest.raises(DTypeError, match="uint16"):
        corefw.from_numpy(np.zeros(2, dtype=np.uint16))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        corefw.from_numpy([1, 2])
    with pytest.raises(AutogradError, match="floating point"):
        corefw.tensor([1, 2], requires_grad=True)
    t = corefw.tensor([1.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf


@pytest.mark.parametrize("fn,value", [(corefw.zeros, 0.0), (corefw.ones, 1.0),
                                      (corefw.empty, None)])
def test_zeros_ones_empty(fn, value, device):
    for args in ((2, 3), ((2, 3),), ([2, 3],)):
        t = fn(*args)
        assert t.shape == (2, 3) and t.dtype is corefw.float32
        if value is not None:
            assert np.all(t.numpy() == value)
    assert fn().shape == () and fn(0, 2).shape == (0, 2)
    t = fn(3, dtype=corefw.int32, requires_grad=False)
    assert t.dtype is corefw.int32
    assert fn(2, dtype=corefw.float64, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="negative dimension"):
        fn(-1)


def test_full_infers_dtype_from_the_value(device):
    assert corefw.full((2,), 1.5, device=device).dtype is corefw.float32
    assert corefw.full((2,), 3, device=device).dtype is corefw.int64
    assert corefw.full(2, 3, device=device).tolist() == [3, 3]
    assert corefw.full((2,), True, device=device).dtype is corefw.bool
    assert corefw.full((1, 2), 3, dtype=corefw.float64, device=device).tolist() == [[3.0, 3.0]]
    assert corefw.full((), 7.0, device=device).item() == 7.0


@pytest.mark.parametrize("args,kwargs,expected,dtype", [
    ((5,), {}, list(range(5)), corefw.int64),
    ((2, 7, 2), {}, [2, 4, 6], corefw.int64),
    ((5, 0, -2), {}, [5, 3, 1], corefw.int64),
    ((0, 1, 0.25), {}, [0.0, 0.25, 0.5, 0.75], corefw.float32),
    ((1, 2.5, 0.5), {}, [1.0, 1.5, 2.0], corefw.float32),
    ((1.5,), {}, [0.0, 1.0], corefw.float32),
    ((0, 0.3, 0.1), {}, [0.0, 0.1, 0.2], corefw.float32),  # ceil((end - start) / step)
    ((-1.0, -2.0, -0.5), {}, [-1.0, -1.5], corefw.float32),
    ((3,), {"dtype": corefw.float64}, [0.0, 1.0, 2.0], corefw.float64),
    ((3, 0), {}, [], corefw.int64),
    ((0, 3, -1), {}, [], corefw.int64),
])
def test_arange(args, kwargs, expected, dtype, device):
    t = corefw.arange(*args, **kwargs, device=device)
    assert t.dtype is dtype
    np.testing.assert_allclose(t.numpy().astype(np.float64), expected,
                               **tol(dtype, device, rtol=1e-6))
    assert t.numel() == len(expected)


def test_arange_edge_cases(device):
    assert corefw.arange(corefw.tensor(3, device=device), device=device).tolist() == [0, 1, 2]
    assert corefw.arange(np.int64(2), device=device).dtype is corefw.int64
    with pytest.raises(ValueError, match="step must be non-zero"):
        corefw.arange(0, 3, 0, device=device)
    assert corefw.arange(3.0, requires_grad=True, device=device).requires_grad


@pytest.mark.parametrize("start,end,steps", [(0, 1, 5), (-2.5, 3, 7), (1, -1, 4), (2, 3, 1),
                                             (0, 1, 0), (0, 10, 6)])
def test_linspace(start, end, steps, device):
    t = corefw.linspace(start, end, steps, device=device)
    expected = [start + (end - start) * i / (steps - 1) for i in range(steps)] if steps > 1 \
        else [start] * steps
    assert t.dtype is corefw.float32 and t.shape == (steps,)
    np.testing.assert_allclose(t.numpy(), expected,
                               **tol(corefw.float32, device, rtol=1e-6, atol=1e-6))
    if steps > 1:
        assert t.numpy()[-1] == np.float32(end) and t.numpy()[0] == np.float32(start)
    d = corefw.linspace(start, end, steps, dtype=corefw.float64, device=device)
    np.testing.assert_allclose(d.numpy(), expected, rtol=1e-14, atol=1e-14)


def test_linspace_int_dtype_and_errors(device):
    assert corefw.linspace(0, 10, 5, dtype=corefw.int64, device=device).tolist() == [0, 2, 5, 7, 10]
    with pytest.raises(ValueError, match="non-negative"):
        corefw.linspace(0, 1, -1, device=device)


@pytest.mark.parametrize("n,m", [(3, None), (2, 4), (4, 2), (0, None), (1, 1)])
def test_eye(n, m, device):
    t = corefw.eye(n, m, device=device)
    cols = n if m is None else m
    expected = [[1.0 if i == j else 0.0 for j in range(cols)] for i in range(n)]
    assert t.dtype is corefw.float32 and t.shape == (n, cols)
    assert t.tolist() == expected
    assert corefw.eye(n, m, dtype=corefw.int64, device=device).dtype is corefw.int64


def test_like_functions_keep_shape_dtype_and_device(device):
    src = corefw.ones(2, 3, dtype=corefw.int32, device=device)
    for fn, value in ((corefw.zeros_like, 0), (corefw.ones_like, 1), (corefw.empty_like, None)):
        t = fn(src)
        assert t.shape == (2, 3) and t.dtype is corefw.int32 and t.device == src.device
        if value is not None:
            assert np.all(t.numpy() == value)
        assert fn(src, dtype=corefw.float64).dtype is corefw.float64
    f = corefw.full_like(src, 7)
    assert f.dtype is corefw.int32 and np.all(f.numpy() == 7)
    assert corefw.full_like(src, 2.9).tolist()[0] == [2, 2, 2]  # cast like torch
    r = corefw.rand_like(corefw.zeros(4, dtype=corefw.float64, device=device))
    assert r.dtype is corefw.float64 and r.shape == (4,)
    assert corefw.randn_like(src.float()).dtype is corefw.float32
    ri = corefw.randint_like(corefw.zeros(50, device=device), 3)
    assert ri.dtype is corefw.float32 and set(ri.tolist()) <= {0.0, 1.0, 2.0}
    assert corefw.zeros_like(src, requires_grad=False).requires_grad is False
    assert src.new_zeros(2).dtype is corefw.int32 and src.new_full((1,), 5).tolist() == [5]


# -- random ----------------------------------------------------------------------------------
RANDOM = {  # name -> draw(generator, device)
    "rand": lambda g=None, d=None: corefw.rand(3, 4, generator=g, device=d),
    "randn": lambda g=None, d=None: corefw.randn((3, 4), generator=g, device=d),
    "randint": lambda g=None, d=None: corefw.randint(0, 10, (3, 4), generator=g, device=d),
    "randint_high": lambda g=None, d=None: corefw.randint(7, (12,), generator=g, device=d),
    "randperm": lambda g=None, d=None: corefw.randperm(12, generator=g, device=d),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_is_reproducible_under_manual_seed(name, device):
    fn = RANDOM[name]
    corefw.manual_seed(123)
    a = fn(d=device).tolist()
    b = fn(d=device).tolist()
    corefw.manual_seed(123)
    assert fn(d=device).tolist() == a and fn(d=device).tolist() == b and a != b
    corefw.manual_seed(124)
    assert fn(d=device).tolist() != a


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_with_a_generator(name, device):
    fn = RANDOM[name]
    g = corefw.Generator().manual_seed(7)
    a = fn(g, device).tolist()
    corefw.manual_seed(0)  # the global seed does not touch an explicit generator
    b = fn(g, device).tolist()
    assert fn(corefw.Generator().manual_seed(7), device).tolist() == a and a != b
    state = g.get_state()
    c = fn(g, device).tolist()
    g.set_state(state)
    assert fn(g, device).tolist() == c
    assert g.initial_seed() == 7


def test_rng_state_round_trip(device):
    corefw.manual_seed(5)
    state = corefw.get_rng_state()
    a = corefw.rand(5, device=device).tolist()
    corefw.set_rng_state(state)
    assert corefw.rand(5, device=device).tolist() == a
    assert corefw.initial_seed() == 5


def test_random_distributions_and_ranges(device):
    corefw.manual_seed(0)
    u = corefw.rand(20000, dtype=corefw.float64, device=device).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    assert abs(u.var() - 1 / 12) < 0.005
    n = corefw.randn(20000, dtype=corefw.float64, device=device).numpy()
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    i = corefw.randint(-3, 4, (5000,), device=device)
    assert i.dtype is corefw.int64 and set(i.tolist()) == set(range(-3, 4))
    p = corefw.randperm(50, device=device)
    assert p.dtype is corefw.int64 and sorted(p.tolist()) == list(range(50))
    assert corefw.rand(0, device=device).shape == (0,)
    assert corefw.randperm(0, device=device).shape == (0,)
    assert corefw.rand(2, requires_grad=True, device=device).requires_grad
    assert corefw.randint(0, 5, (2,), dtype=corefw.int32, device=device).dtype is corefw.int32


def test_random_errors(device):
    with pytest.raises(DTypeError, match="floating"):
        corefw.rand(2, dtype=corefw.int64, device=device)
    with pytest.raises(DTypeError, match="floating"):
        corefw.randn(2, dtype=corefw.bool, device=device)
    with pytest.raises(ValueError, match="low < high"):
        corefw.randint(3, 3, (2,), device=device)


def test_multinomial(device):
    g = corefw.Generator().manual_seed(1)
    probs = corefw.tensor([0.0, 1.0, 3.0], device=device)
    draws = corefw.multinomial(probs, 4000, replacement=True, generator=g)
    counts = np.bincount(draws.numpy(), minlength=3)
    assert counts[0] == 0 and math.isclose(counts[2] / counts[1], 3.0, rel_tol=0.15)
    rows = corefw.multinomial(corefw.ones(2, 5, device=device), 5, generator=g)
    assert rows.shape == (2, 5) and all(sorted(r) == list(range(5)) for r in rows.tolist())
    with pytest.raises(ValueError, match="without replacement"):
        corefw.multinomial(probs, 3)
