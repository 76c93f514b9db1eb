"""Cases for the PyTorch-parity names of ``corefw/ops/parity_*.py``: the declared integer ops
(``gcd``, ``lcm``) and, for each composite, a row on the primitive it reaches (``i0`` ->
where, ``as_strided`` -> index, ``slice_scatter`` -> index_put ...), each against its own
float64 NumPy reference."""

from __future__ import annotations

import math

import numpy as np

import corefw

from .cases import OpCase, Sample, register_case
from .cases import values as V


def case(op, make, fn, ref, **kw):
    """Register an :class:`OpCase` whose ``make(rng, variant, dtype)`` ignores the backend."""
    return register_case(OpCase(op, lambda rng, variant, dtype, env: make(rng, variant, dtype),
                                fn, ref, **kw))


def _f64(x):
    return np.asarray(x, np.float64)


# -- integer ops ------------------------------------------------------------------------------
def _int_pair(rng, variant, dtype):
    shapes = {"basic": ((3, 4), (3, 4)), "broadcast": ((3, 1), (4,)), "0-d": ((), ())}[variant]
    a = rng.integers(-30, 31, size=shapes[0]).astype(dtype)
    b = rng.integers(-30, 31, size=shapes[1]).astype(dtype)
    return Sample((a, b))


_INT = ("int32", "int64")
case("gcd", _int_pair, corefw.gcd, lambda a, b: np.gcd(a, b), kinds=_INT,
     variants=("basic", "broadcast", "0-d"), grad=())
case("lcm", _int_pair, corefw.lcm, lambda a, b: np.lcm(a, b), kinds=_INT,
     variants=("basic", "broadcast", "0-d"), grad=())
case("mul", lambda rng, variant, dtype: Sample(
    (rng.integers(-8, 8, size=(3, 4)).astype(dtype), rng.integers(0, 4, size=(3, 4)).astype(
        dtype))), corefw.bitwise_left_shift, lambda a, b: np.left_shift(a, b), kinds=_INT,
    variants=("left_shift",), grad=(), doc="bitwise_left_shift")
case("floor_divide", lambda rng, variant, dtype: Sample(
    (rng.integers(-64, 64, size=(3, 4)).astype(dtype), rng.integers(0, 4, size=(3, 4)).astype(
        dtype))), corefw.bitwise_right_shift, lambda a, b: np.right_shift(a, b), kinds=_INT,
    variants=("right_shift",), grad=(), doc="bitwise_right_shift")


# -- special functions ------------------------------------------------------------------------
def _unary(domain, shape=(3, 4)):
    return lambda rng, variant, dtype: Sample((V(rng, shape, dtype, domain),))


_F = ("float32", "float64")
case("where", _unary("small"), corefw.i0, lambda x: np.i0(_f64(x)), kinds=_F,
     variants=("i0",), tol=4.0, doc="i0")
case("log", lambda rng, variant, dtype: Sample((V(rng, (3, 4), dtype, "pos") + 1,)),
     lambda x: corefw.mvlgamma(x, 3),
     lambda x: 3 * math.log(math.pi) / 2 + sum(
         np.vectorize(math.lgamma)(_f64(x) - j / 2) for j in range(3)), kinds=_F,
     variants=("mvlgamma",), tol=4.0, doc="mvlgamma")


def _trigamma(x):
    """psi_1(x) = sum_k 1/(x+k)^2 (2*10^5 terms and the tail integral 1/(x+K))."""
    k = np.arange(200000, dtype=np.float64)
    return np.array([np.sum(1 / (v + k) ** 2) + 1 / (v + 200000) for v in _f64(x).ravel()]
                    ).reshape(np.shape(x))


case("pow", _unary("pos"), lambda x: corefw.polygamma(1, x), _trigamma, kinds=_F,
     variants=("polygamma1",), tol=4.0, doc="polygamma(1, x)")
case("pow", lambda rng, variant, dtype: Sample((V(rng, (3, 4), dtype),)),
     lambda x: corefw.ldexp(x, corefw.tensor([[1], [2], [-1]], device=x.device)),
     lambda x: _f64(x) * np.array([[2.0], [4.0], [0.5]]), kinds=_F, variants=("ldexp",),
     doc="ldexp")
case("pow", lambda rng, variant, dtype: Sample((V(rng, (3, 4), dtype, "nonzero") * 37,)),
     lambda x: corefw.frexp(x)[0], lambda x: np.frexp(_f64(x))[0], kinds=_F,
     variants=("frexp",), grad=(), doc="frexp's mantissa")


# -- composites on one primitive --------------------------------------------------------------
def _x(shape):
    return lambda rng, variant, dtype: Sample((V(rng, shape, dtype),))


def _np_as_strided(x, size, stride, offset):
    flat = np.ascontiguousarray(x).ravel()
    idx = offset + sum(np.arange(n).reshape([-1 if i == d else 1 for i in range(len(size))]) * s
                       for d, (n, s) in enumerate(zip(size, stride)))
    return flat[idx]


case("index", _x((4, 5)), lambda x: corefw.as_strided(x, (3, 3), (5, 1), 2),
     lambda x: _np_as_strided(x, (3, 3), (5, 1), 2), kinds="fi", variants=("as_strided",),
     doc="as_strided")


def _scatter_ref(x, src, key):
    out = _f64(x).copy()
    out[key] = src
    return out


case("index_put_", lambda rng, variant, dtype: Sample((V(rng, (4, 5), dtype),
                                                       V(rng, (4, 2), dtype)), grad=(0, 1)),
     lambda x, s: corefw.slice_scatter(x, s, dim=1, start=1, end=5, step=2),
     lambda x, s: _scatter_ref(x, s, (slice(None), slice(1, 5, 2))), kinds="fi",
     variants=("slice_scatter",), doc="slice_scatter")
case("index_put_", lambda rng, variant, dtype: Sample((V(rng, (4, 5), dtype),
                                                       V(rng, (5,), dtype)), grad=(0, 1)),
     lambda x, s: corefw.select_scatter(x, s, 0, 2),
     lambda x, s: _scatter_ref(x, s, (2,)), kinds="fi", variants=("select_scatter",),
     doc="select_scatter")


def _diag_scatter_ref(x, s):
    out = _f64(x).copy()
    for k in range(len(s)):
        out[k, k + 1] = s[k]
    return out


case("index_put", lambda rng, variant, dtype: Sample((V(rng, (4, 5), dtype),
                                                      V(rng, (4,), dtype)), grad=(0, 1)),
     lambda x, s: corefw.diagonal_scatter(x, s, 1), _diag_scatter_ref, kinds="fi",
     variants=("diagonal_scatter",), doc="diagonal_scatter")


def _put_ref(x, src):
    out = _f64(x).copy().ravel()
    np.add.at(out, [0, 7, 7], _f64(src))
    return out.reshape(np.shape(x))


case("index_put", lambda rng, variant, dtype: Sample((V(rng, (3, 4), dtype),
                                                      V(rng, (3,), dtype)), grad=(0, 1)),
     lambda x, s: corefw.put(x, corefw.tensor([0, 7, 7], device=x.device), s,
                             accumulate=True), _put_ref,
     kinds="f", variants=("put",), doc="put(accumulate=True)")
case("slice", _x((7, 3)), lambda x: corefw.tensor_split(x, 3)[1],
     lambda x: _f64(x)[3:5], kinds="fib", variants=("tensor_split",), doc="tensor_split")
case("scatter_add", lambda rng, variant, dtype: Sample((V(rng, (20,), dtype, "small"),)),
     lambda x: corefw.histogram(x, 4, range=(-2.0, 2.0))[0],
     lambda x: np.histogram(_f64(x), 4, range=(-2, 2))[0].astype(np.float64), kinds=_F,
     variants=("histogram",), grad=(), doc="histogram's counts")
case("slice", _x((5, 4)), lambda x: corefw.gradient(x, spacing=0.5, dim=0)[0],
     lambda x: np.gradient(_f64(x), 0.5, axis=0, edge_order=1), kinds=_F,
     variants=("gradient",), doc="gradient")
case("eq", lambda rng, variant, dtype: Sample((rng.integers(0, 6, (3, 4)).astype(dtype),)),
     lambda x: corefw.isin(x, corefw.tensor([1, 4], device=x.device)),
     lambda x: np.isin(x, [1, 4]),
     kinds=_INT, variants=("isin",), grad=(), out_dtype="bool", doc="isin")


def _expm(a):
    a = _f64(a)
    out, term = np.eye(a.shape[-1]), np.eye(a.shape[-1])
    for k in range(1, 40):
        term = term @ a / k
        out = out + term
    return out


case("matmul", _x((3, 3)), corefw.matrix_exp, _expm, kinds=_F, variants=("matrix_exp",),
     tol=8.0, doc="matrix_exp", name="matrix_exp")
case("linalg_solve", lambda rng, variant, dtype: Sample(
    ((V(rng, (3, 3), "float64") + 3 * np.eye(3)).astype(dtype), V(rng, (3, 2), dtype)),
    grad=(1,)),
    lambda a, b: corefw.triangular_solve(b, a, upper=False)[0],
    lambda a, b: np.linalg.solve(np.tril(_f64(a)), _f64(b)), kinds=_F,
    variants=("triangular_solve",), tol=4.0, doc="triangular_solve")


# -- differentiable SVD and QR (sign-invariant functions of the factors) ----------------------
def _mat(rng, variant, dtype):
    shape = {"tall": (4, 3), "wide": (3, 4), "batch": (2, 3, 3)}[variant]
    return Sample((V(rng, shape, dtype),))


case("linalg_svd", _mat, lambda a: corefw.linalg.svd(a, full_matrices=False).S,
     lambda a: np.linalg.svd(_f64(a), compute_uv=False), kinds=_F,
     variants=("tall", "wide", "batch"), tol=8.0, doc="singular values, with gradient")


def _rank1(a):
    u, s, vh = np.linalg.svd(_f64(a), full_matrices=False)
    return s[..., :1, None] * u[..., :, :1] @ vh[..., :1, :]


case("linalg_svd", _mat, lambda a: (lambda u, s, vh: s[..., :1, None] * u[..., :, :1]
                                    @ vh[..., :1, :])(*corefw.linalg.svd(a, False)),
     _rank1, kinds=_F, variants=("tall", "wide", "batch"), tol=8.0,
     doc="the best rank-1 approximation (U and V's gradients)")
case("linalg_qr", lambda rng, variant, dtype: _mat(rng, "tall" if variant == "tall" else
                                                   "batch", dtype),
     lambda a: corefw.abs(corefw.linalg.qr(a).R),
     lambda a: np.abs(np.linalg.qr(_f64(a))[1]), kinds=_F, variants=("tall", "square"),
     tol=8.0, doc="|R|, with gradient")
case("linalg_qr", lambda rng, variant, dtype: _mat(rng, "tall", dtype),
     lambda a: (lambda q, r: q * corefw.sign(corefw.diagonal(r)))(*corefw.linalg.qr(a)),
     lambda a: (lambda q, r: q * np.sign(np.diagonal(r)))(*np.linalg.qr(_f64(a))), kinds=_F,
     variants=("Q",), tol=8.0, doc="Q with R's diagonal made positive, with gradient")
