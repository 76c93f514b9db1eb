"""The PyTorch-parity names of corefw/ops/parity_*.py that are not single ops of the case
table: in-place methods, random fills, Tensor queries, torch-level layer functions,
autograd.functional, and the process switches. Each checked against NumPy, a closed form or
the out-of-place op."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw.autograd import functional as AF


def _np(t):
    return t.detach().numpy()


# -- in-place methods -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["acos", "atanh", "sinh", "erfc", "log1p", "expm1", "frac",
                                  "deg2rad", "logit", "sinc"])
def test_unary_inplace_equals_out_of_place(name):
    x = corefw.rand(3, 4) * 0.8 + 0.1
    want = getattr(corefw, name)(x)
    y = x.clone()
    out = getattr(y, name + "_")()
    assert out is y
    np.testing.assert_allclose(_np(y), _np(want), rtol=1e-6)


def test_binary_inplace_and_comparisons_keep_dtype():
    x = corefw.tensor([1.0, 5.0, -2.0])
    x.fmod_(3.0)
    np.testing.assert_allclose(_np(x), np.fmod([1.0, 5.0, -2.0], 3.0))
    y = corefw.tensor([1.0, 2.0, 3.0])
    y.eq_(corefw.tensor([1.0, 0.0, 3.0]))
    assert y.dtype == corefw.float32 and y.tolist() == [1.0, 0.0, 1.0]
    z = corefw.tensor([4, 6, 9])
    z.gcd_(corefw.tensor([6, 4, 6]))
    assert z.tolist() == [2, 2, 3]


def test_inplace_records_the_graph():
    a = corefw.tensor([0.2, 0.4], requires_grad=True)
    b = a * 1.0
    b.asin_()
    b.sum().backward()
    np.testing.assert_allclose(_np(a.grad), 1 / np.sqrt(1 - np.array([0.2, 0.4]) ** 2),
                               rtol=1e-6)


def test_inplace_view_methods_change_the_shape():
    x = corefw.arange(6.0).reshape(2, 3)
    assert x.unsqueeze_(0).shape == (1, 2, 3)
    assert x.squeeze_().shape == (2, 3)
    assert x.t_().shape == (3, 2) and x.tolist() == [[0, 3], [1, 4], [2, 5]]
    assert x.transpose_(0, 1).shape == (2, 3)
    with pytest.raises(corefw.errors.AutogradError, match="unsqueeze_"):
        corefw.ones(2, requires_grad=True).unsqueeze_(0)


def test_resize_keeps_the_leading_elements():
    x = corefw.arange(6.0)
    x.resize_(2, 2)
    assert x.tolist() == [[0, 1], [2, 3]]
    x.resize_(5)
    assert x.tolist() == [0, 1, 2, 3, 0]


def test_random_fills_have_their_distributions():
    corefw.manual_seed(0)
    n = 20000
    e = corefw.empty(n).exponential_(2.0)
    assert abs(e.mean().item() - 0.5) < 0.02 and e.min().item() >= 0
    g = corefw.empty(n).geometric_(0.25)
    assert abs(g.mean().item() - 4.0) < 0.15 and g.min().item() >= 1
    r = corefw.empty(n, dtype=corefw.int64).random_(3, 7)
    assert set(r.unique().tolist()) == {3, 4, 5, 6}
    ln = corefw.empty(n, dtype=corefw.float64).log_normal_(0.0, 0.5)
    assert abs(ln.log().std().item() - 0.5) < 0.02
    c = corefw.empty(n).cauchy_()
    assert abs(c.median().item()) < 0.05


def test_apply_and_map():
    x = corefw.tensor([1.0, 2.0, 3.0])
    x.apply_(lambda v: v * v)
    assert x.tolist() == [1.0, 4.0, 9.0]
    x.map_(corefw.tensor([1.0, 1.0, 2.0]), lambda a, b: a - b)
    assert x.tolist() == [0.0, 3.0, 7.0]


# -- splitting, scattering, indices -----------------------------------------------------------
def test_splits_match_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = corefw.tensor(a)
    for got, want in [(corefw.tensor_split(t, 3, dim=2), np.array_split(a, 3, axis=2)),
                      (corefw.hsplit(t, [1]), np.hsplit(a, [1])),
                      (corefw.vsplit(t, 2), np.vsplit(a, 2)),
                      (corefw.dsplit(t, [1, 3]), np.dsplit(a, [1, 3]))]:
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(_np(g), w)
    with pytest.raises(corefw.errors.ShapeError, match="vsplit"):
        corefw.vsplit(corefw.ones(3), 3)


def test_unravel_index_combinations_nonzero_static():
    idx = corefw.tensor([0, 5, 11, -1])
    got = corefw.unravel_index(idx, (3, 4))
    want = np.unravel_index(np.array([0, 5, 11, 11]), (3, 4))
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    x = corefw.tensor([1, 2, 3, 4])
    assert corefw.combinations(x, 3).tolist() == [list(c) for c in itertools.combinations(
        [1, 2, 3, 4], 3)]
    assert corefw.combinations(x, 2, with_replacement=True).shape == (10, 2)
    nz = corefw.nonzero_static(corefw.tensor([0, 3, 0, 1]), size=4)
    assert nz.tolist() == [[1], [3], [-1], [-1]]


def test_index_reduce_and_as_strided_scatter():
    x = corefw.ones(3, 2)
    src = corefw.tensor([[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    out = x.index_reduce(0, corefw.tensor([0, 2, 0]), src, "prod")
    assert out.tolist() == [[12.0, 21.0], [1.0, 1.0], [4.0, 5.0]]
    out = x.index_reduce(0, corefw.tensor([0, 2, 0]), src, "amax", include_self=False)
    assert out.tolist() == [[6.0, 7.0], [1.0, 1.0], [4.0, 5.0]]
    y = corefw.as_strided_scatter(corefw.zeros(6), corefw.ones(2, 2), (2, 2), (3, 1), 1)
    assert y.tolist() == [0, 1, 1, 0, 1, 1]


# -- Tensor queries, creation spellings, switches ---------------------------------------------
def test_tensor_queries():
    x = corefw.ones(2, 3)
    assert x.is_cpu and not x.is_xla and not x.is_mps and x.layout is corefw.strided
    assert x.get_device() == -1 and corefw.get_device(x) == -1
    assert x.is_signed() and not corefw.ones(2, dtype=corefw.uint8).is_signed()
    assert corefw.is_same_size(x, corefw.zeros(2, 3)) and corefw.tensor([2]).is_nonzero()
    with pytest.raises(RuntimeError, match="is_nonzero"):
        x.is_nonzero()
    assert x.new(2).shape == (2,) and x.new([1, 2]).dtype == x.dtype
    assert x.sum_to_size(1, 3).tolist() == [[2.0, 2.0, 2.0]]
    assert corefw.typename(x) == "torch.FloatTensor"


def test_creation_spellings():
    assert corefw.range(1, 4).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert corefw.scalar_tensor(3).dtype == corefw.float32
    t = corefw.tensor([1, 2])
    assert corefw.asarray(t) is t and corefw.asarray([1.0]).tolist() == [1.0]
    assert corefw.frombuffer(bytearray(np.arange(3, dtype=np.int32).tobytes()),
                             dtype=corefw.int32).tolist() == [0, 1, 2]
    assert corefw.fill(t, 7).tolist() == [7, 7]
    assert corefw.can_cast(corefw.int32, corefw.float32)
    assert not corefw.can_cast(corefw.float32, corefw.int32)


def test_random_draws():
    corefw.manual_seed(1)
    p = corefw.full((20000,), 0.3)
    assert abs(corefw.bernoulli(p).mean().item() - 0.3) < 0.02
    assert abs(corefw.poisson(corefw.full((20000,), 4.0)).mean().item() - 4.0) < 0.1
    b = corefw.binomial(corefw.full((20000,), 10.0), corefw.full((20000,), 0.5))
    assert abs(b.mean().item() - 5.0) < 0.1
    n = corefw.normal(corefw.full((20000,), 2.0), 0.5)
    assert abs(n.mean().item() - 2.0) < 0.02 and abs(n.std().item() - 0.5) < 0.02
    assert corefw.normal(0.0, 1.0, size=(3,)).shape == (3,)
    assert corefw.tensor([[0.0, 1.0]]).multinomial(2, replacement=True).tolist() == [[1, 1]]


def test_switches_read_back():
    corefw.set_float32_matmul_precision("high")
    assert corefw.get_float32_matmul_precision() == "high"
    corefw.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="set_float32_matmul_precision"):
        corefw.set_float32_matmul_precision("low")
    corefw.set_deterministic_debug_mode("warn")
    assert corefw.get_deterministic_debug_mode() == 1
    assert corefw.is_deterministic_algorithms_warn_only_enabled()
    assert corefw.are_deterministic_algorithms_enabled()
    corefw.set_deterministic_debug_mode(0)
    assert not corefw.are_deterministic_algorithms_enabled()
    corefw.set_printoptions(precision=2)
    assert "1.23" in repr(corefw.tensor([1.23456])) and "1.2346" not in repr(
        corefw.tensor([1.23456]))
    corefw.set_printoptions(profile="default")
    corefw.set_anomaly_enabled(True)
    assert corefw.is_anomaly_enabled() and corefw.is_anomaly_check_nan_enabled()
    corefw.set_anomaly_enabled(False)


# -- torch-level layer functions --------------------------------------------------------------
def test_torch_level_layer_functions_take_torchs_signatures():
    x = corefw.randn(4, 3)
    w, b = corefw.rand(3) + 0.5, corefw.randn(3)
    rm, rv = corefw.zeros(3), corefw.ones(3)
    got = corefw.batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5, True)
    want = F.batch_norm(x, corefw.zeros(3), corefw.ones(3), w, b, True, 0.1, 1e-5)
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-6)
    table = corefw.randn(5, 2)
    idx = corefw.tensor([4, 0])
    assert corefw.equal(corefw.embedding(table, idx), F.embedding(idx, table))
    a, t = corefw.randn(3, 4), corefw.randn(3, 4)
    assert corefw.equal(corefw.kl_div(a, t, 2), F.kl_div(a, t, reduction="sum"))
    assert corefw.conv2d is F.conv2d
    out, ind = F.max_pool2d_with_indices(corefw.randn(1, 1, 4, 4), 2)
    assert out.shape == (1, 1, 2, 2) and ind.dtype == corefw.int64


def test_linear_cross_entropy_is_linear_then_cross_entropy():
    x, w, bias = corefw.randn(5, 4), corefw.randn(3, 4), corefw.randn(3)
    y = corefw.tensor([0, 2, 1, 1, 0])
    np.testing.assert_allclose(_np(F.linear_cross_entropy(x, w, y, linear_bias=bias)),
                               _np(F.cross_entropy(F.linear(x, w, bias), y)), rtol=1e-6)


# -- autograd.functional ----------------------------------------------------------------------
def test_jacobian_and_hessian_closed_forms():
    A = corefw.randn(3, 3, dtype=corefw.float64)
    x = corefw.randn(3, dtype=corefw.float64)
    jac = AF.jacobian(lambda v: A @ v, x)
    np.testing.assert_allclose(_np(jac), _np(A), rtol=1e-12)
    hess = AF.hessian(lambda v: v @ A @ v, x)
    np.testing.assert_allclose(_np(hess), _np(A + A.T), rtol=1e-12)
    j1, j2 = AF.jacobian(lambda a, b: a * b, (x, 2 * x))
    np.testing.assert_allclose(_np(j1), np.diag(_np(2 * x)), rtol=1e-12)
    np.testing.assert_allclose(_np(j2), np.diag(_np(x)), rtol=1e-12)


def test_vector_products_agree_with_the_jacobian():
    A = corefw.randn(4, 3, dtype=corefw.float64)
    x = corefw.randn(3, dtype=corefw.float64)
    u, v = corefw.randn(4, dtype=corefw.float64), corefw.randn(3, dtype=corefw.float64)

    def f(z):
        return corefw.tanh(A @ z)

    J = _np(AF.jacobian(f, x))
    out, vjp = AF.vjp(f, x, u)
    np.testing.assert_allclose(_np(vjp), _np(u) @ J, rtol=1e-10)
    np.testing.assert_allclose(_np(out), _np(f(x)), rtol=1e-12)
    _, jvp = AF.jvp(f, x, v)
    np.testing.assert_allclose(_np(jvp), J @ _np(v), rtol=1e-10)

    def g(z):
        return (corefw.sin(z) * z).sum()

    H = _np(AF.hessian(g, x))
    np.testing.assert_allclose(_np(AF.hvp(g, x, v)[1]), H @ _np(v), rtol=1e-10)
    np.testing.assert_allclose(_np(AF.vhp(g, x, v)[1]), _np(v) @ H, rtol=1e-10)
    with pytest.raises(RuntimeError, match="strict"):
        AF.vjp(lambda a, b: a * 2, (x, x), corefw.ones(3, dtype=corefw.float64), strict=True)
