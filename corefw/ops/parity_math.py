"""PyTorch's remaining everyday math: integer ``gcd``/``lcm`` and shifts (declared ops, not
differentiable), ``i0``, ``mvlgamma``, ``polygamma``, ``ldexp``/``frexp``, ``isin``,
``gradient``, ``histogram``, and the ``torch.*`` spellings of linear algebra (``torch.svd``
with ``V``, ``torch.qr``, ``cholesky_solve``, ``matrix_exp`` ...). Composites differentiate
through the ops they use."""

from __future__ import annotations

import math

from .. import _dtype
from .. import _rules as R
from .._call import binary
from .._registry import FN
from .._tensor import Tensor
from ..errors import DTypeError, ShapeError
from .registry import declare, publish

__all__ = [
    "bitwise_left_shift", "bitwise_right_shift", "cholesky", "cholesky_inverse",
    "cholesky_solve", "frexp", "gcd", "gradient", "histogram", "i0", "isin", "lcm", "ldexp",
    "matrix_exp", "mvlgamma", "pca_lowrank", "pinverse", "polygamma", "qr", "slogdet", "svd",
    "svd_lowrank", "trapz", "triangular_solve",
]


def _float(x):
    return FN.cast(x, _dtype.get_default_dtype()) if x._data.dtype.kind != "f" else x


def _t(x, like):
    return x if isinstance(x, Tensor) else FN.full_like(like, x)


# -- integer ops ------------------------------------------------------------------------------
def _gcd_decomp(a, b):
    """Euclid's algorithm on |a|, |b|, elementwise, until every remainder is 0."""
    a, b = FN.abs(_t(a, b)), FN.abs(_t(b, a))
    a, b = FN.broadcast_tensors(a, b)
    while bool(FN.any(b != 0)):
        nz = b != 0
        safe = FN.where(nz, b, FN.ones_like(b))
        a, b = FN.where(nz, b, a), FN.where(nz, FN.remainder(a, safe), b)
    return a


def _lcm_decomp(a, b):
    g = _gcd_decomp(a, b)
    a, b = FN.abs(_t(a, b)), FN.abs(_t(b, a))
    return FN.where(g == 0, g, FN.floor_divide(a, FN.where(g == 0, FN.ones_like(g), g)) * b)


_GCD = declare("gcd", rule=R.bitwise, decomposition=_gcd_decomp, differentiable=False,
               doc="greatest common divisor of integers, elementwise (0 with 0 is 0)")
_LCM = declare("lcm", rule=R.bitwise, decomposition=_lcm_decomp, differentiable=False,
               doc="least common multiple of integers, elementwise")


def _integers(op, a, b):
    for x in (a, b):
        if isinstance(x, Tensor) and x._data.dtype.kind not in "iu":
            raise DTypeError(f"{op}: expected integer tensors, got {x.dtype}")


def gcd(input, other):
    """Greatest common divisor, elementwise (non-negative; ``gcd(0, 0) = 0``)."""
    _integers("gcd", input, other)
    return binary(_GCD, input, other)


def lcm(input, other):
    """Least common multiple, elementwise (non-negative; 0 if either is 0)."""
    _integers("lcm", input, other)
    return binary(_LCM, input, other)


def bitwise_left_shift(input, other):
    """``input << other`` for integers (``input * 2**other``)."""
    _integers("bitwise_left_shift", input, other)
    return input * (2 ** other)


def bitwise_right_shift(input, other):
    """``input >> other`` for integers (floor division by ``2**other``, arithmetic shift)."""
    _integers("bitwise_right_shift", input, other)
    return FN.floor_divide(input, 2 ** other)


# -- special functions ------------------------------------------------------------------------
def i0(input):
    """The modified Bessel function of the first kind, order 0: ``sum_k ((x/2)^k / k!)^2``
    (the series converges for every x; 60 terms reach float64 precision for |x| < 30, and
    for larger |x| the asymptotic expansion is used)."""
    x = _float(input)
    ax = FN.abs(x)
    small = FN.where(ax < 30, ax, FN.zeros_like(ax))
    q = small * small / 4
    term, total = FN.ones_like(x), FN.ones_like(x)
    for k in range(1, 60):
        term = term * q / (k * k)
        total = total + term
    big = FN.where(ax >= 30, ax, FN.full_like(ax, 30.0))
    asym = FN.exp(big) / FN.sqrt(2 * math.pi * big) * (1 + 1 / (8 * big) + 9 / (128 * big * big))
    return FN.where(ax < 30, total, asym)


def mvlgamma(input, p: int):
    """The multivariate log-gamma of dimension ``p``:
    ``p(p-1)/4 log(pi) + sum_j lgamma(x - j/2)``, j = 0 .. p-1 (needs ``x > (p-1)/2``)."""
    if p < 1:
        raise ValueError(f"mvlgamma: p must be >= 1, got {p}")
    x = _float(input)
    out = FN.full_like(x, p * (p - 1) / 4 * math.log(math.pi))
    for j in range(p):
        out = out + FN.lgamma(x - j / 2)
    return out


def polygamma(n: int, input):
    """The n-th derivative of digamma: ``digamma`` for n = 0, else
    ``(-1)^(n+1) n! sum_k 1/(x+k)^(n+1)`` (recurrence to x >= 10, then the asymptotic series
    with Bernoulli numbers)."""
    if n < 0:
        raise ValueError(f"polygamma: n must be non-negative, got {n}")
    x = _float(input)
    if n == 0:
        return FN.digamma(x)
    sign = (-1) ** (n + 1)
    acc = FN.zeros_like(x)
    for k in range(10):
        acc = acc + 1 / (x + k) ** (n + 1)
    z = x + 10
    # asymptotic: (n-1)!/z^n + n!/(2 z^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! z^(2k+n))
    bern = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)
    tail = math.factorial(n - 1) / z ** n + math.factorial(n) / (2 * z ** (n + 1))
    for k, b in enumerate(bern, start=1):
        tail = tail + b * math.factorial(2 * k + n - 1) / math.factorial(2 * k) / z ** (2 * k + n)
    return sign * (math.factorial(n) * acc + tail)


def ldexp(input, other):
    """``input * 2**other``."""
    return _float(input) * FN.pow(2.0, _float(_t(other, input)))


def frexp(input):
    """``(mantissa, exponent)`` with ``input = mantissa * 2**exponent``, ``0.5 <= |mantissa|
    < 1`` (0 gives (0, 0)); the exponent is int32 as in PyTorch."""
    if not input.dtype.is_floating_point:
        raise DTypeError(f"frexp: expected a floating-point tensor, got {input.dtype}")
    a = FN.abs(input)
    nz = a != 0
    e = FN.floor(FN.log2(FN.where(nz, a, FN.ones_like(a)))) + 1
    m = input / FN.pow(2.0, e)
    # log2 rounding can leave |m| at exactly 1 or just under 0.5: one correction step
    fix_up = FN.abs(m) >= 1
    e = FN.where(fix_up, e + 1, e)
    fix_down = (FN.abs(m) < 0.5) & nz
    e = FN.where(fix_down, e - 1, e)
    m = input / FN.pow(2.0, e)
    e = FN.where(nz, e, FN.zeros_like(e))
    return FN.where(nz, m, input), FN.cast(e, _dtype.int32)


# -- sets, histograms, differences ------------------------------------------------------------
def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False):
    """Whether each element of ``elements`` is in ``test_elements``."""
    if not isinstance(test_elements, Tensor):
        test_elements = FN.tensor(test_elements, device=elements.device)
    if not isinstance(elements, Tensor):
        elements = FN.tensor(elements, device=test_elements.device)
    flat = FN.reshape(test_elements, (-1,))
    hit = FN.any(FN.unsqueeze(elements, -1) == flat, dim=-1) if flat.shape[0] else \
        FN.zeros_like(elements, dtype=_dtype.bool_)
    return ~hit if invert else hit


def histogram(input, bins=100, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """``(hist, bin_edges)``: counts (or summed ``weight``) of ``input`` in ``bins`` equal
    bins over ``range`` (default: min..max), or in the bins a 1-d tensor of edges gives."""
    x = FN.reshape(input, (-1,))
    if isinstance(bins, Tensor):
        edges = bins
    else:
        lo, hi = (float(FN.min(x)), float(FN.max(x))) if range is None else range
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = FN.linspace(lo, hi, bins + 1, dtype=input.dtype, device=input.device)
    n = edges.shape[0] - 1
    idx = FN.searchsorted(edges, x, right=True) - 1
    idx = FN.where(x == edges[-1], FN.full_like(idx, n - 1), idx)  # the last bin is closed
    inside = (idx >= 0) & (idx < n)
    w = FN.ones_like(x) if weight is None else FN.reshape(weight, (-1,))
    w = FN.where(inside, w, FN.zeros_like(w))
    idx = FN.where(inside, idx, FN.zeros_like(idx))
    hist = FN.scatter_add(FN.zeros(n, dtype=w.dtype, device=x.device), 0, idx, w)
    if density:
        hist = hist / (FN.sum(hist) * (edges[1:] - edges[:-1]))
    return hist, edges


def gradient(input, *, spacing=1, dim=None, edge_order: int = 1):
    """Derivative estimates along each dim in ``dim`` (default all): central differences
    inside, one-sided at the edges (``edge_order`` 1), with uniform ``spacing`` (a number or
    one number per dim). Returns a tuple, one tensor per dim."""
    if edge_order != 1:
        raise NotImplementedError("gradient: only edge_order=1 is implemented; "
                                  "pass edge_order=1")
    dims = list(range(input.ndim)) if dim is None else (
        [dim] if isinstance(dim, int) else list(dim))
    hs = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    x = _float(input)
    out = []
    for d, h in zip(dims, hs):
        n = x.shape[d]
        if n < 2:
            raise ShapeError(f"gradient: dim {d} has size {n}; each dim needs at least 2 "
                             f"points (edge_order + 1)")
        inner = (FN.narrow(x, d, 2, n - 2) - FN.narrow(x, d, 0, n - 2)) / (2 * h)
        first = (FN.narrow(x, d, 1, 1) - FN.narrow(x, d, 0, 1)) / h
        last = (FN.narrow(x, d, n - 1, 1) - FN.narrow(x, d, n - 2, 1)) / h
        out.append(FN.cat([first, inner, last], dim=d))
    return tuple(out)


def trapz(y, x=None, *, dim: int = -1):
    """PyTorch's older name of :func:`corefw.trapezoid`."""
    return FN.trapezoid(y, x, dim=dim) if x is not None else FN.trapezoid(y, dim=dim)


# -- torch.* linear algebra (the spellings before torch.linalg) -------------------------------
def _la():
    import importlib
    return importlib.import_module("corefw.ops.linalg_torch")


def svd(input, some: bool = True, compute_uv: bool = True):
    """``(U, S, V)`` with ``input = U diag(S) V^T`` (``V``, not ``Vh`` as in linalg.svd);
    ``some=False`` gives the full square ``U`` and ``V``."""
    U, S, Vh = _la().svd(input, full_matrices=not some)
    if not compute_uv:
        return (FN.zeros_like(U), S, FN.zeros_like(Vh))
    return U, S, Vh.mT


def qr(input, some: bool = True):
    """``(Q, R)``: ``linalg.qr`` with ``mode="reduced"`` (``some=True``) or ``"complete"``."""
    return _la().qr(input, mode="reduced" if some else "complete")


def slogdet(input):
    """``(sign, logabsdet)``, as :func:`corefw.linalg.slogdet`."""
    return _la().slogdet(input)


def pinverse(input, rcond: float = 1e-15):
    """The pseudo-inverse, as :func:`corefw.linalg.pinv` with ``rcond``."""
    return _la().pinv(input, rtol=rcond)


def cholesky(input, upper: bool = False):
    """The Cholesky factor ``L`` (``upper=True``: ``L^T``)."""
    L = _la().cholesky(input)
    return L.mT if upper else L


def cholesky_solve(B, L, upper: bool = False):
    """Solve ``A X = B`` given the Cholesky factor of ``A`` (lower ``L``, or upper)."""
    A = (L.mT @ L) if upper else (L @ L.mT)
    return _la().solve(A, B)


def cholesky_inverse(L, upper: bool = False):
    """``A^-1`` given the Cholesky factor of ``A``."""
    A = (L.mT @ L) if upper else (L @ L.mT)
    return _la().inv(A)


def triangular_solve(b, A, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False):
    """``(X, A)`` with ``op(A) X = b`` for triangular ``A`` (only its triangle is read)."""
    T = FN.triu(A) if upper else FN.tril(A)
    if unitriangular:
        n = A.shape[-1]
        eye = FN.eye(n, dtype=A.dtype, device=A.device)
        T = T * (1 - eye) + eye
    if transpose:
        T = T.mT
    return _la().solve(T, b), FN.clone(A)


def matrix_exp(input):
    """``exp(A)`` of square matrices: scaling and squaring with a degree-18 Taylor series
    (differentiable through matmul)."""
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise ShapeError(f"matrix_exp: expected square matrices (..., n, n), got "
                         f"{tuple(input.shape)}")
    A = _float(input)
    norm = float(FN.max(FN.sum(FN.abs(A), dim=-2))) if A.numel() else 0.0
    s = max(0, int(math.ceil(math.log2(norm))) + 1) if norm > 0.5 else 0
    A = A / (2 ** s)
    n = A.shape[-1]
    eye = FN.eye(n, dtype=A.dtype, device=A.device)
    term, out = eye + FN.zeros_like(A), eye + FN.zeros_like(A)
    for k in range(1, 19):
        term = term @ A / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def svd_lowrank(A, q: int | None = 6, niter: int = 2, M=None):
    """``(U, S, V)`` of rank ``q``; exact (a full SVD truncated), where PyTorch draws a
    randomized approximation, so the result is PyTorch's in the limit."""
    X = A if M is None else A - M
    U, S, V = svd(X)
    q = min(q or 6, S.shape[-1])
    return U[..., :q], S[..., :q], V[..., :q]


def pca_lowrank(A, q: int | None = None, center: bool = True, niter: int = 2):
    """``(U, S, V)`` of the (column-centered) data: PCA through an exact truncated SVD."""
    q = min(6, A.shape[-2], A.shape[-1]) if q is None else q
    X = A - FN.mean(A, dim=-2, keepdim=True) if center else A
    return svd_lowrank(X, q=q)


def _polygamma_method(input, n: int):
    """``Tensor.polygamma(n)`` (the method takes ``n`` second)."""
    return polygamma(n, input)


FN._polygamma_method = _polygamma_method
publish(globals(), __all__, methods="""bitwise_left_shift bitwise_right_shift cholesky
cholesky_inverse cholesky_solve frexp gcd histogram i0 lcm ldexp matrix_exp mvlgamma pinverse
qr slogdet svd triangular_solve""", aliases={"polygamma": "_polygamma_method"})
