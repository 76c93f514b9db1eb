"""PyTorch-parity functions written with existing ops (the declared ones are in the op table,
corefw/testing/cases_parity.py): forward against float64 NumPy or closed forms, backward by
finite differences, PyTorch's keyword aliases, and the Tensor metadata API."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw as C
from corefw.errors import CorefwIndexError, DTypeError, ShapeError

from .helpers import check, gradcheck

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 5))
B = RNG.standard_normal((3, 5))


def T(x, **kw):
    return C.tensor(np.asarray(x), dtype=kw.pop("dtype", C.float64), **kw)


def leaf(x):
    return T(x).requires_grad_()


# -- pointwise --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, ref, x", [
    ("trunc", np.trunc, A * 3), ("fix", np.trunc, A * 3), ("frac", lambda v: v - np.trunc(v),
                                                             A * 3),
    ("log10", np.log10, np.abs(A) + 0.1), ("exp2", np.exp2, A), ("deg2rad", np.deg2rad, A),
    ("rad2deg", np.rad2deg, A), ("sgn", np.sign, A), ("signbit", np.signbit, A),
    ("sinc", np.sinc, A), ("logit", lambda v: np.log(v / (1 - v)), np.abs(A) / 4 + 0.1),
    ("arcsin", np.arcsin, A / 4), ("arctanh", np.arctanh, A / 4)])
def test_unary_functions_match_numpy(name, ref, x):
    check(getattr(C, name)(T(x)), ref(x))
    assert getattr(T(x), name)().shape == x.shape  # the Tensor method too


@pytest.mark.parametrize("name, ref", [
    ("hypot", np.hypot), ("logaddexp", np.logaddexp), ("logaddexp2", np.logaddexp2),
    ("copysign", np.copysign), ("fmax", np.fmax), ("fmin", np.fmin), ("atan2", np.arctan2)])
def test_binary_functions_match_numpy(name, ref):
    a, b = A.copy(), B.copy()
    a[0, 0], b[0, 1] = np.nan, np.nan
    check(getattr(C, name)(T(a), T(b)), ref(a, b))


def test_binary_functions_differentiate():
    for name in ("hypot", "logaddexp", "atan2", "xlogy"):
        gradcheck(getattr(C, name), leaf(np.abs(A) + 0.5), leaf(np.abs(B) + 0.5))


def test_xlogy_heaviside_nan_to_num_clamp_min_max():
    x = np.array([0.0, 2.0, 0.0, -1.5])
    y = np.array([0.0, 3.0, np.nan, 2.0])
    check(C.xlogy(T(x), T(y)), [0.0, 2 * math.log(3), np.nan, -1.5 * math.log(2)])
    check(C.heaviside(T([-1.0, 0.0, 2.0]), T([0.5, 0.5, 0.5])), [0.0, 0.5, 1.0])
    big = np.finfo(np.float64).max
    check(C.nan_to_num(T([np.nan, np.inf, -np.inf, 1.0])), [0.0, big, -big, 1.0])
    check(C.nan_to_num(T([np.nan, np.inf]), nan=1.0, posinf=2.0), [1.0, 2.0])
    check(C.clamp_min(T(A), 0.1), np.maximum(A, 0.1))
    check(T(A).clamp_max(0.1), np.minimum(A, 0.1))


def test_isclose_allclose_equal_follow_pytorch():
    a = np.array([1.0, np.inf, -np.inf, np.nan, 1.0, 0.0])
    b = np.array([1.0 + 1e-6, np.inf, np.inf, np.nan, 1.1, 1e-9])
    want = np.isclose(a, b, rtol=1e-5, atol=1e-8)
    assert C.isclose(T(a), T(b)).tolist() == want.tolist()
    assert C.isclose(T(a), T(b), equal_nan=True).tolist()[3] is True
    assert C.isclose(C.tensor([1, 2]), C.tensor([1, 3])).tolist() == [True, False]
    assert C.allclose(T(A), T(A + 1e-9)) and not C.allclose(T(A), T(A + 1e-3))
    assert T(A).allclose(T(A), rtol=0, atol=0)
    assert C.equal(T(A), T(A)) and not C.equal(T(A), T(A[:2])) and not C.equal(T(A), T(B))


# -- sorting and selection --------------------------------------------------------------------
def test_sort_topk_kthvalue_median_mode():
    x = T(A)
    v, i = C.sort(x, dim=1, descending=True)
    check(v, -np.sort(-A, 1))
    check(C.gather(x, 1, i), -np.sort(-A, 1))
    v, i = x.topk(2, dim=0, largest=False)
    check(v, np.sort(A, 0)[:2])
    v, i = C.kthvalue(x, 2, 1, keepdim=True)
    check(v, np.sort(A, 1)[:, 1:2])
    check(C.median(x), np.sort(A.ravel())[(A.size - 1) // 2])
    check(x.median(1).values, np.sort(A, 1)[:, 2])
    check(C.msort(x), np.sort(A, 0))
    v, i = C.mode(C.tensor([[1, 2, 2, 3, 3, 0]]))
    assert v.tolist() == [2] and i.tolist() == [2]
    m = C.nanmedian(T([[1.0, np.nan, 3.0, 2.0]]), 1)
    assert m.values.tolist() == [2.0] and m.indices.tolist() == [3]
    with pytest.raises(CorefwIndexError, match="topk: k"):
        x.topk(9)


def test_sort_values_differentiate_to_the_selected_elements():
    gradcheck(lambda t: C.sort(t, 1).values * C.arange(5.0, dtype=C.float64), leaf(A))
    gradcheck(lambda t: C.topk(t, 2).values, leaf(A))
    gradcheck(lambda t: C.median(t, 1).values, leaf(A))


def test_searchsorted_bucketize():
    seq = np.array([1.0, 2.0, 2.0, 5.0])
    v = np.array([0.0, 2.0, 3.0, 9.0])
    assert C.searchsorted(T(seq), T(v)).tolist() == np.searchsorted(seq, v).tolist()
    assert C.searchsorted(T(seq), T(v), right=True).tolist() == np.searchsorted(
        seq, v, "right").tolist()
    assert C.bucketize(T(v), T(seq)).tolist() == np.searchsorted(seq, v).tolist()
    two = C.searchsorted(T([seq, seq + 1]), T([[2.0], [2.0]]))
    assert two.tolist() == [[1], [0]]  # rows [1, 2, 2, 5] and [2, 3, 3, 6]


# -- movement ---------------------------------------------------------------------------------
def test_movement_functions():
    x = T(A)
    check(x.narrow(1, -2, 2), A[:, 3:])
    check(C.tile(x, (2,)), np.tile(A, 2))
    check(C.repeat_interleave(x, T([1, 0, 2], dtype=C.int64), dim=0), np.repeat(A, [1, 0, 2], 0))
    check(C.repeat_interleave(C.tensor([2, 1])), [0, 0, 1])
    check(C.repeat_interleave(x, 2), np.repeat(A, 2))
    check(C.diag(x), np.diag(A)) and check(C.diag(T(A[0]), -1), np.diag(A[0], -1))
    check(C.trace(x), np.trace(A))
    check(C.fliplr(x), np.fliplr(A)) and check(C.flipud(x), np.flipud(A))
    for k in range(-1, 5):
        check(C.rot90(x, k), np.rot90(A, k))
    check(C.take(x, C.tensor([[0, 7]])), A.ravel()[[[0, 7]]])
    assert [t.shape for t in C.atleast_2d(C.tensor(1.0), C.ones(3))] == [(1, 1), (1, 3)]
    assert C.atleast_3d(C.ones(2, 3)).shape == (2, 3, 1) and C.atleast_1d(C.tensor(2)).shape == (1,)
    check(C.hstack([x, x]), np.hstack([A, A])) and check(C.vstack([x, x]), np.vstack([A, A]))
    check(C.dstack([x, x]), np.dstack([A, A]))
    check(C.column_stack([T(A[0]), T(A[1])]), np.column_stack([A[0], A[1]]))
    gx, gy = C.meshgrid(C.arange(3), C.arange(2), indexing="xy")
    nx, ny = np.meshgrid(np.arange(3), np.arange(2), indexing="xy")
    assert gx.tolist() == nx.tolist() and gy.tolist() == ny.tolist()
    assert C.cartesian_prod(C.tensor([1, 2]), C.tensor([3, 4])).tolist() == [
        [1, 3], [1, 4], [2, 3], [2, 4]]
    a, b = C.broadcast_tensors(C.ones(3, 1), C.ones(4))
    assert a.shape == b.shape == (3, 4) and C.broadcast_shapes((3, 1), (4,)) == (3, 4)
    assert [u.tolist() for u in x.unbind(1)] == [list(c) for c in A.T]
    assert C.tril_indices(3, 4, 1).tolist() == [list(r) for r in np.tril_indices(3, 1, 4)]
    assert C.triu_indices(4, 3, -1).tolist() == [list(r) for r in np.triu_indices(4, -1, 3)]
    with pytest.raises(CorefwIndexError, match="narrow"):
        x.narrow(1, 3, 4)
    with pytest.raises(ShapeError, match="repeat"):
        x.repeat(2)


def test_movement_functions_differentiate():
    gradcheck(lambda t: t.repeat(2, 3), leaf(A))
    gradcheck(lambda t: t.unfold(1, 2, 1), leaf(A))
    gradcheck(lambda t: C.diag_embed(t, 1), leaf(A))
    gradcheck(lambda t: C.diagonal(t, -1), leaf(A))
    gradcheck(lambda t: C.repeat_interleave(t, 2, 1), leaf(A))


# -- scatter and index updates ----------------------------------------------------------------
def test_scatter_and_index_updates():
    x = C.zeros(3, 5, dtype=C.float64)
    idx = C.tensor([[0, 1, 2, 0, 1]])
    want = np.zeros((3, 5))
    want[[0, 1, 2, 0, 1], range(5)] = A[0]
    check(x.scatter(0, idx, T(A)), want)  # src is read as src[:index.shape]
    check(C.scatter(x, 0, idx, value=2.0), (want != 0) * 2.0)
    y = x.clone()
    assert y.scatter_(0, idx, T(A)) is y
    check(y, want)
    y.scatter_add_(0, idx, T(A))
    check(y, 2 * want)
    out = x.clone().index_add_(0, C.tensor([0, 0, 2]), T(A), alpha=2)
    check(out, np.stack([2 * (A[0] + A[1]), np.zeros(5), 2 * A[2]]))
    check(x.index_copy(1, C.tensor([4, 0]), T(A[:, :2])),
          np.stack([A[:, 1], 0 * A[:, 0], 0 * A[:, 0], 0 * A[:, 0], A[:, 0]], 1))
    check(T(A).index_fill(1, C.tensor([1, 3]), -1.0),
          np.where(np.isin(np.arange(5), [1, 3]), -1.0, A))
    m = T(A) > 0
    check(T(A).masked_fill_(m, 0.0), np.where(A > 0, 0.0, A))
    z = T(np.zeros(4))
    z.masked_scatter_(C.tensor([True, False, True, True]), T([7.0, 8.0, 9.0, 10.0]))
    assert z.tolist() == [7.0, 0.0, 8.0, 9.0]
    r = C.zeros(2, 3).scatter_reduce(0, C.tensor([[0, 1, 0], [0, 1, 1]]),
                                     C.tensor([[1.0, 2, 3], [4, 5, 6]]), "amax",
                                     include_self=False)
    assert r.tolist() == [[4.0, 0.0, 3.0], [0.0, 5.0, 6.0]]
    with pytest.raises(DTypeError, match="index_add"):
        x.index_add(0, C.tensor([0.0]), T(A[:1]))


def test_index_updates_differentiate():
    gradcheck(lambda t, s: C.index_add(t, 0, C.tensor([0, 0, 2]), s), leaf(A), leaf(B))
    gradcheck(lambda t, s: C.scatter(t, 1, C.tensor([[4, 0], [1, 2], [3, 3]])[:, :1], s),
              leaf(A), leaf(B[:, :1]))


# -- scans and reductions ---------------------------------------------------------------------
def test_scans():
    z = A.copy()
    z[1, 2] = 0.0
    check(C.cumprod(T(z), 1), np.cumprod(z, 1))
    v, i = C.cummax(T(A), 1)
    check(v, np.maximum.accumulate(A, 1))
    check(C.gather(T(A), 1, i), np.maximum.accumulate(A, 1))
    check(C.cummin(T(A), 0).values, np.minimum.accumulate(A, 0))
    check(C.logcumsumexp(T(A), 1), np.log(np.cumsum(np.exp(A), 1)))
    check(C.diff(T(A), 2, 0), np.diff(A, 2, 0))
    check(C.diff(T(A), prepend=T(A[:, :1])), np.diff(A, prepend=A[:, :1]))
    gradcheck(lambda t: C.cumprod(t, 1), leaf(z))  # a zero: no division by it
    gradcheck(lambda t: C.logcumsumexp(t, 0), leaf(A))
    gradcheck(lambda t: C.cummax(t, 1).values, leaf(A))


def test_reductions_and_statistics():
    n = A.copy()
    n[0, 1] = np.nan
    check(C.nansum(T(n), 1), np.nansum(n, 1))
    check(C.nanmean(T(n)), np.nanmean(n))
    assert C.count_nonzero(C.tensor([[0, 1], [2, 0]]), 0).tolist() == [1, 1]
    lo, hi = C.aminmax(T(A), dim=1)
    check(lo, A.min(1)) and check(hi, A.max(1))
    v, m = C.var_mean(T(A), 1)
    check(v, A.var(1, ddof=1)) and check(m, A.mean(1))
    s, _ = C.std_mean(T(A), correction=0)
    check(s, A.std())
    for interp in ("linear", "lower", "higher", "midpoint", "nearest"):
        check(C.quantile(T(A), 0.3, 1, interpolation=interp),
              np.quantile(A, 0.3, 1, method=interp))
    check(C.quantile(T(A), T([0.1, 0.9]), 0, keepdim=True),
          np.quantile(A, [0.1, 0.9], 0, keepdims=True))
    check(C.nanquantile(T(n), 0.5), np.nanquantile(n, 0.5))
    check(C.histc(T(A), 4, -1, 1), np.histogram(A, 4, (-1, 1))[0])
    assert C.bincount(C.tensor([0, 2, 2, 5]), minlength=7).tolist() == np.bincount(
        [0, 2, 2, 5], minlength=7).tolist()
    u, inv, cnt = C.unique(C.tensor([3, 1, 3, 2, 1]), return_inverse=True, return_counts=True)
    assert (u.tolist(), inv.tolist(), cnt.tolist()) == ([1, 2, 3], [2, 0, 2, 1, 0], [2, 1, 2])
    assert C.unique_consecutive(C.tensor([1, 1, 2, 1])).tolist() == [1, 2, 1]


def test_reductions_take_numpy_keyword_names():
    x = T(A)
    check(x.sum(axis=1), A.sum(1))
    check(C.mean(x, axis=0, keepdims=True), A.mean(0, keepdims=True))
    check(x.max(axis=1).values, A.max(1))
    check(x.amax(axis=(0, 1)), A.max())
    check(x.std(axis=1, keepdims=True), A.std(1, ddof=1, keepdims=True))
    check(x.var(False), A.var())  # var(input, unbiased)
    assert x.argmax(axis=1).tolist() == A.argmax(1).tolist()
    assert bool(C.any(x > 1, axis=1, keepdims=True).all()) == bool(
        (A > 1).any(1, keepdims=True).all())
    check(C.logsumexp(x, axis=1), np.log(np.exp(A).sum(1)))


# -- products ---------------------------------------------------------------------------------
def test_products():
    x, y = T(A), T(B)
    check(C.addmm(T(A[:, :3]), x, y.T[:, :3], beta=0.5, alpha=2), 0.5 * A[:, :3] + 2 * A @ B.T)
    check(C.addmv(T(A[:, 0]), x, y[0]), A[:, 0] + A @ B[0])
    bb = RNG.standard_normal((2, 3, 4))
    cc = RNG.standard_normal((2, 4, 5))
    check(C.baddbmm(T(np.ones((2, 3, 5))), T(bb), T(cc)), 1 + bb @ cc)
    check(C.addbmm(T(np.ones((3, 5))), T(bb), T(cc)), 1 + (bb @ cc).sum(0))
    check(C.cross(T(A[:, :3]), T(B[:, :3]), dim=1), np.cross(A[:, :3], B[:, :3]))
    check(C.cross(T(A[:, :3]), T(B[:, :3])), np.cross(A[:, :3], B[:, :3], axis=0))  # 1st 3
    check(C.kron(x, y), np.kron(A, B))
    check(C.tensordot(T(bb), T(cc), ([0, 2], [0, 1])), np.tensordot(bb, cc, ([0, 2], [0, 1])))
    check(C.tensordot(x, y.T, 1), A @ B.T)
    check(C.inner(x, y), np.inner(A, B))
    check(C.cdist(x, y), np.sqrt(((A[:, None] - B[None]) ** 2).sum(-1)))
    check(C.cdist(x, y, p=1), np.abs(A[:, None] - B[None]).sum(-1))
    gradcheck(lambda a, b: C.cross(a, b, dim=1), leaf(A[:, :3]), leaf(B[:, :3]))
    gradcheck(C.kron, leaf(A[:2, :2]), leaf(B[:2, :3]))


# -- Tensor API -------------------------------------------------------------------------------
def test_tensor_constructor_types_and_metadata():
    t = C.Tensor(2, 3)
    assert t.shape == (2, 3) and t.dtype == C.float32 and isinstance(t.shape, C.Size)
    assert C.Tensor([1, 2]).dtype == C.float32 and C.Tensor([1, 2]).tolist() == [1.0, 2.0]
    assert t.size().numel() == 6 and C.Size([2, 3]) == (2, 3)
    assert C.LongTensor([1, 2]).dtype == C.int64 and C.FloatTensor(2).shape == (2,)
    assert isinstance(C.ones(2), C.FloatTensor) and not isinstance(C.ones(2), C.LongTensor)
    assert C.ones(2).type() == "torch.FloatTensor"
    assert C.ones(2, dtype=C.int64).type() == "torch.LongTensor"
    assert C.ones(2).type(C.float64).dtype == C.float64
    assert C.ones(2).type("torch.IntTensor").dtype == C.int32
    assert C.ones(2).type(C.BoolTensor).dtype == C.bool
    with pytest.raises(DTypeError, match="unknown tensor type"):
        C.ones(2).type("torch.NopeTensor")
    x = C.ones(3, 4)
    assert x.stride() == (4, 1) and x.stride(0) == 4 and x.is_contiguous()
    assert not x.T.is_contiguous() and x.T.contiguous().shape == (4, 3)
    assert x.nbytes == 48 and x.itemsize == 4 and x.element_size() == 4
    assert x.dim_order() == (0, 1)
    assert C.finfo(C.float32).eps == float(np.finfo(np.float32).eps)
    assert C.finfo().bits == 32 and C.finfo(C.float16).max == 65504.0
    assert C.iinfo(C.int8).min == -128 and C.iinfo(C.uint8).max == 255
    with pytest.raises(DTypeError, match="iinfo"):
        C.finfo(C.int32)


def test_special_namespace():
    from math import erf, log

    x = np.array([-1.5, 0.0, 0.3, 2.0])
    sp = C.special
    check(sp.expit(T(x)), 1 / (1 + np.exp(-x)))
    check(sp.erfc(T(x)), [1 - erf(v) for v in x])
    check(sp.ndtr(T(x)), [0.5 * (1 + erf(v / 2 ** 0.5)) for v in x])
    check(sp.log_ndtr(T(x)), [log(0.5 * (1 + erf(v / 2 ** 0.5))) for v in x])
    check(sp.entr(T(np.array([0.0, 0.5, 2.0]))), [0.0, -0.5 * log(0.5), -2 * log(2)])
    check(sp.xlog1py(T(np.array([0.0, 2.0])), T(np.array([-1.0, 1.0]))), [0.0, 2 * log(2)])
    check(sp.softmax(T(A), 1), np.exp(A) / np.exp(A).sum(1, keepdims=True))
    assert C.logical_xor(C.tensor([1, 0, 2]), C.tensor([1, 1, 0])).tolist() == [False, True,
                                                                                 True]


def test_aliases_and_small_functions():
    a = RNG.standard_normal((3, 3)) + 2 * np.eye(3)
    x = RNG.standard_normal((3, 6))
    check(C.matrix_power(T(a), 5), np.linalg.matrix_power(a, 5))
    check(T(a).matrix_power(-2), np.linalg.matrix_power(a, -2))
    check(C.matrix_power(T(a), 0), np.eye(3))
    check(C.logdet(T(a @ a.T)), np.log(np.linalg.det(a @ a.T)))
    check(T(a).inverse(), np.linalg.inv(a)) and check(C.det(T(a)), np.linalg.det(a))
    check(C.cov(T(x)), np.cov(x)) and check(C.corrcoef(T(x)), np.corrcoef(x))
    fw, aw = np.array([1, 2, 1, 3, 1, 1]), RNG.uniform(0.5, 2, 6)
    check(C.cov(T(x), fweights=C.tensor(fw), aweights=T(aw)), np.cov(x, fweights=fw,
                                                                        aweights=aw))
    check(C.diagflat(T(a), 1), np.diagflat(a, 1))
    assert C.block_diag(C.ones(2, 2), C.tensor([[3.0]])).tolist() == [
        [1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 3.0]]
    check(C.trapezoid(T(x)), np.trapezoid(x))
    check(C.cumulative_trapezoid(T(x), dx=0.5), np.cumsum((x[:, 1:] + x[:, :-1]) / 4, -1))
    check(C.vander(T(a[0]), 4), np.vander(a[0], 4))
    check(C.logspace(0, 2, 3, dtype=C.float64), [1.0, 10.0, 100.0])
    check(C.renorm(T(x), 2, 0, 1.0), x / np.maximum(np.linalg.norm(x, axis=1,
                                                                    keepdims=True), 1), rtol=1e-6)
    check(C.dist(T(a), T(a.T), 3), np.sum(np.abs(a - a.T) ** 3) ** (1 / 3))
    t = C.zeros(7, 3)
    t.fill_diagonal_(1.0, wrap=True)
    assert t.sum(1).tolist() == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    assert C.zeros(3).index_put_((C.tensor([0, 0]),), C.tensor([1.0, 2.0]), True).tolist() == [
        3.0, 0.0, 0.0]
    t = T(a)
    t.tril_()
    check(t, np.tril(a))
    check(C.rsub(T(a), 1.0), 1 - a) and check(C.addcmul(T(a), T(a), T(a), value=2), a + 2 * a * a)
    assert C.greater(C.ones(1), 0).tolist() == [True] and C.ones(2).ndimension() == 1
    check(C.multiply(T(a), 3), 3 * a) and check(T(a).subtract(1), a - 1)
    gradcheck(lambda m: C.matrix_power(m, 3), leaf(a))
    gradcheck(C.cov, leaf(x))


def test_lgamma_digamma_erfinv():
    x = np.array([-2.5, -0.3, 0.1, 0.5, 1.0, 2.0, 3.7, 10.0, 150.0])
    check(C.lgamma(T(x)), [math.lgamma(v) for v in x], rtol=1e-12, atol=1e-12)
    h = 1e-6
    check(T(x).digamma(), [(math.lgamma(v + h) - math.lgamma(v - h)) / (2 * h) for v in x],
          rtol=1e-6, atol=1e-6)
    y = np.array([-0.999, -0.5, 0.0, 0.3, 0.9, 0.99999])
    inv = C.erfinv(T(y)).tolist()
    check(T([math.erf(v) for v in inv]), y)
    assert C.erfinv(T([1.0, -1.0, 2.0])).tolist()[:2] == [math.inf, -math.inf]
    assert math.isnan(C.special.erfinv(T([2.0])).item())
    gradcheck(C.lgamma, leaf([0.3, 2.5, -1.3]))
    gradcheck(C.erfinv, leaf([0.3, -0.5]))


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_a_loop(reduce, include_self):
    x, src = RNG.standard_normal((3, 4)), RNG.standard_normal((5, 4))
    idx = RNG.integers(0, 3, (5, 4))
    want, buckets = x.copy(), {}
    for i, j in np.ndindex(5, 4):
        buckets.setdefault((idx[i, j], j), []).append(src[i, j])
    fn = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}
    for (a, b), vals in buckets.items():
        want[a, b] = fn[reduce](([x[a, b]] if include_self else []) + vals)
    got = C.scatter_reduce(T(x), 0, C.tensor(idx), T(src), reduce, include_self=include_self)
    check(got, want)
