"""``corefw.linalg``: PyTorch's ``torch.linalg`` functions on batches of matrices (``(..., m,
n)``).

Declared ops: ``linalg_solve`` (with ``inv`` as ``solve(A, I)``) and ``linalg_slogdet`` have
decompositions (Gauss-Jordan elimination with partial pivoting, one step per column) and
their matrix-calculus VJPs; ``det`` is ``sign * exp(logabsdet)``. ``linalg_cholesky`` has a
column-by-column decomposition and Murray's VJP. ``linalg_eigh`` (cyclic Jacobi, with its
VJP), ``linalg_svd`` (from the Gram matrix's eigh) and ``linalg_qr`` (modified Gram-Schmidt)
have decompositions meant as fallbacks for small matrices: backends should bring LAPACK's
(corefw-cpu: ``numpy.linalg``). ``svd`` differentiates for distinct non-zero singular values,
``qr`` for square and tall matrices. Ops that return several tensors return them packed in
one array, split here.
"""

from __future__ import annotations

from .. import _dtype
from .. import _rules as R
from .._call import apply
from .._registry import FN
from ..errors import AutogradError, ShapeError
from .registry import declare

__all__ = ["cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "lstsq", "matrix_norm", "norm",
           "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "vector_norm"]


def _square(op, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"linalg.{op}: expected a batch of square matrices (..., n, n), got "
                         f"shape {tuple(a.shape)}")
    if not a.dtype.is_floating_point:
        from ..errors import DTypeError

        raise DTypeError(f"linalg.{op}: expected a floating-point tensor, got {a.dtype}")


def _mT(x):  # noqa: N802
    return FN.transpose(x, -2, -1)


# -- Gauss-Jordan elimination -----------------------------------------------------------------
def _eliminate(a, b):
    """Reduce ``[a | b]`` to ``[I | a^-1 b]`` with partial pivoting; also the log of the
    pivots' magnitudes and their signs (with the row swaps') for the determinant."""
    n = a.shape[-1]
    m = FN.cat([a, b], -1)
    rows = FN.arange(n, device=a.device)
    logabs = FN.zeros(tuple(a.shape[:-2]), dtype=a.dtype, device=a.device)
    sign = FN.ones(tuple(a.shape[:-2]), dtype=a.dtype, device=a.device)
    for c in range(n):
        col = FN.abs(m[..., c:, c])
        piv = FN.argmax(col, -1) + c  # (...)
        p = FN.unsqueeze(piv, -1)
        perm = FN.where(rows == c, p, FN.where(rows == p, c, rows))  # swap rows c and piv
        m = FN.gather(m, -2, FN.expand(FN.unsqueeze(perm, -1), tuple(m.shape)))
        pivot = m[..., c, c]
        sign = sign * FN.where(piv != c, -1.0, 1.0) * FN.sign(pivot)
        logabs = logabs + FN.log(FN.abs(pivot))
        prow = m[..., c, :] / FN.unsqueeze(pivot, -1)  # (..., w)
        upd = m - FN.unsqueeze(m[..., :, c], -1) * FN.unsqueeze(prow, -2)
        m = FN.where(FN.unsqueeze(rows == c, -1), FN.unsqueeze(prow, -2), upd)
    return m[..., :, n:], sign, logabs


def _solve_rule(a, b):
    if len(a.shape) < 2 or a.shape[-1] != a.shape[-2] or len(b.shape) < 2 or (
            b.shape[-2] != a.shape[-1]):
        raise ShapeError(f"expected A (..., n, n) and B (..., n, k), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    batch = R.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    return R.spec(batch + tuple(b.shape[-2:]), R.result_dtype((a, b)))


def _solve_decomp(a, b):
    batch = tuple(R.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    a = FN.expand(a, batch + tuple(a.shape[-2:]))
    b = FN.expand(b, batch + tuple(b.shape[-2:]))
    return _eliminate(a, b)[0]


def _solve_vjp(ctx, g):
    """X = A^-1 B: dB = A^-T g, dA = -dB X^T (summed over broadcast batch dims)."""
    a, b = ctx.inputs
    x = ctx.output
    gb = solve(_mT(a), g)
    ga = -FN.matmul(gb, _mT(x))
    return FN.sum_to(ga, tuple(a.shape)), FN.sum_to(gb, tuple(b.shape))


_SOLVE = declare("linalg_solve", rule=_solve_rule, decomposition=_solve_decomp,
                 vjp=_solve_vjp, saves=(0, "output"))


def _slogdet_rule(a):
    return R.spec(tuple(a.shape[:-2]) + (2,), a.dtype)


def _slogdet_decomp(a):
    _, sign, logabs = _eliminate(a, a[..., :, :0])
    return FN.stack([sign, logabs], -1)


def _slogdet_vjp(ctx, g):
    """d logabsdet / dA = A^-T (the sign is piecewise constant)."""
    a = ctx.inputs[0]
    return (FN.unsqueeze(FN.unsqueeze(g[..., 1], -1), -1) * _mT(inv(a)),)


_SLOGDET = declare("linalg_slogdet", rule=_slogdet_rule, decomposition=_slogdet_decomp,
                   vjp=_slogdet_vjp, saves=(0,))


def solve(A, B, *, left: bool = True, out=None):  # noqa: N803 - PyTorch's names
    """``X`` with ``A @ X = B`` (``left=False``: ``X @ A = B``); ``B`` may be a vector."""
    _square("solve", A)
    if not left:
        return _mT(solve(_mT(A), _mT(B)))
    vector = B.ndim == A.ndim - 1
    b = FN.unsqueeze(B, -1) if vector else B
    x = apply(_SOLVE, (A, b))
    x = FN.squeeze(x, -1) if vector else x
    if out is not None:
        out.copy_(x)
        return out
    return x


def inv(A, *, out=None):  # noqa: N803
    """The inverse of each square matrix."""
    _square("inv", A)
    eye = FN.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    x = apply(_SOLVE, (A, eye))
    if out is not None:
        out.copy_(x)
        return out
    return x


def slogdet(A):  # noqa: N803
    """``(sign, logabsdet)`` of the determinant, without overflow."""
    _square("slogdet", A)
    packed = apply(_SLOGDET, (A,))
    return _SignLog(packed[..., 0].detach(), packed[..., 1])


def det(A):  # noqa: N803
    """The determinant of each square matrix."""
    sign, logabs = slogdet(A)
    return sign * FN.exp(logabs)


# -- Cholesky ---------------------------------------------------------------------------------
def _chol_decomp(a):
    n = a.shape[-1]
    cols = []
    idx = FN.arange(n, device=a.device)
    for j in range(n):
        prev = FN.stack(cols, -1) if cols else FN.zeros(tuple(a.shape[:-1]) + (0,),
                                                       dtype=a.dtype, device=a.device)
        s = a[..., :, j] - FN.sum(prev * FN.unsqueeze(prev[..., j, :], -2), -1)  # (..., n)
        d = FN.sqrt(s[..., j])
        col = FN.where(idx > j, s / FN.unsqueeze(d, -1), 0.0)
        col = FN.where(idx == j, FN.unsqueeze(d, -1), col)
        cols.append(col)
    return FN.stack(cols, -1)


def _phi(x):
    """The lower triangle with the diagonal halved."""
    return FN.tril(x) - 0.5 * FN.diag_embed(FN.diagonal(x, 0, -2, -1))


def _chol_vjp(ctx, g):
    """Murray (2016): S = L^-T Phi(L^T g) L^-1, dA = (S + S^T) / 2."""
    low = ctx.output
    p = _phi(FN.matmul(_mT(low), g))
    linv = inv(low)
    s = FN.matmul(FN.matmul(_mT(linv), p), linv)
    return (0.5 * (s + _mT(s)),)


_CHOL = declare("linalg_cholesky", rule=R.same, decomposition=_chol_decomp, vjp=_chol_vjp,
                saves=("output",))


def cholesky(A, *, upper: bool = False, out=None):  # noqa: N803
    """The lower-triangular ``L`` with ``A = L @ L^T`` (``upper=True``: ``L^T``); NaN where
    ``A`` is not positive definite (corefw-cpu raises)."""
    _square("cholesky", A)
    low = apply(_CHOL, (A,))
    return _mT(low) if upper else low


# -- LAPACK-backed ops (a backend's kernel) ---------------------------------------------------
def _no_vjp(name):
    def vjp(ctx, g):
        raise AutogradError(f"linalg.{name} is not differentiable in corefw yet; detach its "
                            f"inputs, or use eigh (which is) on A^T A")
    return vjp


def _eigh_rule(a, upper):
    return R.spec(tuple(a.shape[:-2]) + (a.shape[-1] + 1, a.shape[-1]), a.dtype)


def _eigh_vjp(ctx, g):
    """A = V diag(w) V^T: dA = V (diag(dw) + F * (V^T dV)) V^T, F_ij = 1 / (w_j - w_i)."""
    packed = ctx.output
    w, v = packed[..., 0, :], packed[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    diff = FN.unsqueeze(w, -2) - FN.unsqueeze(w, -1)  # (..., i, j): w_j - w_i
    n = w.shape[-1]
    eye = FN.eye(n, dtype=_dtype.bool_, device=w.device)
    f = FN.where(eye, 0.0, 1.0 / FN.where(eye, 1.0, diff))
    inner = FN.diag_embed(gw) + f * FN.matmul(_mT(v), gv)
    ga = FN.matmul(FN.matmul(v, inner), _mT(v))
    return (0.5 * (ga + _mT(ga)),)


def _jacobi(a, sweeps: int = 10):
    """Cyclic Jacobi: rotate away each off-diagonal pair until ``a`` is diagonal (Golub & Van
    Loan 8.5); returns the diagonal and the accumulated rotations (the eigenvectors)."""
    n = a.shape[-1]
    eye = FN.eye(n, dtype=a.dtype, device=a.device)
    v = FN.expand(eye, tuple(a.shape))
    idx = FN.arange(n, device=a.device)
    for _ in range(sweeps):
        for p in range(n - 1):
            for q in range(p + 1, n):
                app, aqq, apq = a[..., p, p], a[..., q, q], a[..., p, q]
                zero = apq == 0
                tau = (aqq - app) / (2 * FN.where(zero, 1.0, apq))
                sgn = FN.where(tau >= 0, 1.0, -1.0)
                t = FN.where(zero, 0.0, sgn / (FN.abs(tau) + FN.sqrt(1 + tau * tau)))
                c = 1 / FN.sqrt(1 + t * t)
                s = t * c
                ip, iq = FN.unsqueeze(idx == p, -1), FN.unsqueeze(idx == q, -1)
                jp, jq = FN.unsqueeze(idx == p, 0), FN.unsqueeze(idx == q, 0)
                c2, s2 = FN.unsqueeze(FN.unsqueeze(c, -1), -1), FN.unsqueeze(FN.unsqueeze(
                    s, -1), -1)
                rot = (eye + (c2 - 1) * FN.cast((ip & jp) | (iq & jq), a.dtype)
                       + s2 * FN.cast(ip & jq, a.dtype) - s2 * FN.cast(iq & jp, a.dtype))
                a = FN.matmul(FN.matmul(_mT(rot), a), rot)
                v = FN.matmul(v, rot)
    return FN.diagonal(a, 0, -2, -1), v


def _eigh_decomp(a, upper):
    low = _mT(a) if upper else a
    sym = FN.tril(low) + _mT(FN.tril(low, -1))
    w, v = _jacobi(sym)
    order = FN.argsort(w, -1)
    w = FN.gather(w, -1, order)
    v = FN.gather(v, -1, FN.expand(FN.unsqueeze(order, -2), tuple(v.shape)))
    return FN.cat([FN.unsqueeze(w, -2), v], -2)


_EIGH = declare("linalg_eigh", rule=_eigh_rule, decomposition=_eigh_decomp, vjp=_eigh_vjp,
                saves=("output",))


def _svd_rule(a):
    m, n = a.shape[-2:]
    k = min(m, n)
    return R.spec(tuple(a.shape[:-2]) + (m + 1 + n, k), a.dtype)


def _svd_decomp(a):
    """From the eigen-decomposition of the smaller Gram matrix (a fallback: it squares the
    condition number; backends bring LAPACK's)."""
    m, n = a.shape[-2:]
    wide = m < n
    x = _mT(a) if wide else a  # (M, K) with M >= K
    packed = _eigh_decomp(FN.matmul(_mT(x), x), False)
    w, v = FN.flip(packed[..., 0, :], (-1,)), FN.flip(packed[..., 1:, :], (-1,))
    s = FN.sqrt(FN.clamp(w, min=0.0))
    u = FN.matmul(x, v) / FN.unsqueeze(FN.where(s > 0, s, 1.0), -2)
    if wide:
        u, v = v, u
    return FN.cat([u, FN.unsqueeze(s, -2), v], -2)


def _svd_vjp(ctx, g):
    """Reduced SVD, distinct non-zero singular values (Townsend, "Differentiating the
    singular value decomposition"): with F_ij = 1 / (s_j^2 - s_i^2) off the diagonal,
    dA = U [(F * (U^T dU - dU^T U)) S + diag(dS) + S (F * (V^T dV - dV^T V))] V^T
         + (I - U U^T) dU S^-1 V^T + U S^-1 dV^T (I - V V^T)."""
    packed = ctx.output
    m = ctx.inputs[0].shape[-2]
    u, s, v = packed[..., :m, :], packed[..., m, :], packed[..., m + 1:, :]
    gu, gs, gv = g[..., :m, :], g[..., m, :], g[..., m + 1:, :]
    k = s.shape[-1]
    eye = FN.eye(k, dtype=_dtype.bool_, device=s.device)
    s2 = s * s
    diff = FN.unsqueeze(s2, -2) - FN.unsqueeze(s2, -1)  # (..., i, j): s_j^2 - s_i^2
    f = FN.where(eye, 0.0, 1.0 / FN.where(eye, 1.0, diff))
    utgu, vtgv = FN.matmul(_mT(u), gu), FN.matmul(_mT(v), gv)
    S = FN.diag_embed(s)
    inner = (FN.matmul(f * (utgu - _mT(utgu)), S) + FN.diag_embed(gs)
             + FN.matmul(S, f * (vtgv - _mT(vtgv))))
    ga = FN.matmul(FN.matmul(u, inner), _mT(v))
    sinv = FN.unsqueeze(1.0 / FN.where(s != 0, s, 1.0), -2)  # scales the columns
    ga = ga + FN.matmul((gu - FN.matmul(u, utgu)) * sinv, _mT(v))
    ga = ga + FN.matmul(u * sinv, _mT(gv - FN.matmul(v, vtgv)))
    return (ga,)


_SVD = declare("linalg_svd", rule=_svd_rule, decomposition=_svd_decomp, vjp=_svd_vjp,
               saves=("output",))


def _qr_rule(a):
    m, n = a.shape[-2:]
    return R.spec(tuple(a.shape[:-2]) + (m + n, min(m, n)), a.dtype)


def _qr_decomp(a):
    """Modified Gram-Schmidt, column by column (R's diagonal comes out non-negative)."""
    m, n = a.shape[-2:]
    k = min(m, n)
    qs, rcols = [], []
    for j in range(n):
        v = a[..., :, j]
        r = []
        for q in qs:
            rij = FN.sum(q * v, -1)
            v = v - FN.unsqueeze(rij, -1) * q
            r.append(rij)
        if j < k:
            norm = FN.sqrt(FN.sum(v * v, -1))
            qs.append(v / FN.unsqueeze(FN.where(norm > 0, norm, 1.0), -1))
            r.append(norm)
        zero = FN.zeros(tuple(a.shape[:-2]), dtype=a.dtype, device=a.device)
        rcols.append(FN.stack(r + [zero] * (k - len(r)), -1))  # column j of R: (..., k)
    q = FN.stack(qs, -1)  # (..., m, k)
    rt = FN.stack(rcols, -2)  # (..., n, k): R transposed
    return FN.cat([q, rt], -2)


def _qr_vjp(ctx, g):
    """Reduced QR of a tall or square A (m >= n), R invertible: with
    M = R dR^T - dQ^T Q and copyltu(M) = tril(M) + tril(M, -1)^T,
    dA = (dQ + Q copyltu(M)) R^-T (Seeger et al., "Auto-differentiating linear algebra")."""
    packed = ctx.output
    m, n = ctx.inputs[0].shape[-2:]
    if m < n:
        raise AutogradError(f"linalg.qr: the gradient of a wide matrix ({m} x {n}) is not "
                            f"implemented in corefw; differentiate the QR of its transpose")
    q, r = packed[..., :m, :], _mT(packed[..., m:, :])
    gq, gr = g[..., :m, :], _mT(g[..., m:, :])
    mm = FN.matmul(r, _mT(gr)) - FN.matmul(_mT(gq), q)
    copyltu = FN.tril(mm) + _mT(FN.tril(mm, -1))
    b = gq + FN.matmul(q, copyltu)
    return (_mT(solve(r, _mT(b))),)


_QR = declare("linalg_qr", rule=_qr_rule, decomposition=_qr_decomp, vjp=_qr_vjp,
              saves=("output",))


class _Pair(tuple):
    _fields: tuple = ()

    def __new__(cls, a, b):
        return tuple.__new__(cls, (a, b))

    def __getattr__(self, name):
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None


def _pair(name, fields):
    return type(name, (_Pair,), {"_fields": fields, "__slots__": ()})


_SignLog = _pair("slogdet", ("sign", "logabsdet"))
_Eigh = _pair("eigh", ("eigenvalues", "eigenvectors"))
_QRResult = _pair("qr", ("Q", "R"))


class _SVDResult(tuple):
    __slots__ = ()

    def __new__(cls, u, s, vh):
        return tuple.__new__(cls, (u, s, vh))

    U = property(lambda self: self[0])
    S = property(lambda self: self[1])
    Vh = property(lambda self: self[2])


def eigh(A, UPLO: str = "L"):  # noqa: N803
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of symmetric matrices,
    read from the ``UPLO`` triangle."""
    _square("eigh", A)
    packed = apply(_EIGH, (A,), {"upper": UPLO.upper() == "U"})
    return _Eigh(packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(A, UPLO: str = "L"):  # noqa: N803
    return eigh(A, UPLO).eigenvalues


def svd(A, full_matrices: bool = True):  # noqa: N803
    """``(U, S, Vh)`` with ``A = U diag(S) Vh`` (reduced: corefw always returns the
    ``full_matrices=False`` factors)."""
    if A.ndim < 2:
        raise ShapeError(f"linalg.svd: expected (..., m, n), got shape {tuple(A.shape)}")
    m = A.shape[-2]
    packed = apply(_SVD, (A,))
    return _SVDResult(packed[..., :m, :], packed[..., m, :], _mT(packed[..., m + 1:, :]))


def svdvals(A):  # noqa: N803
    return svd(A, False).S


def qr(A, mode: str = "reduced"):  # noqa: N803
    """``(Q, R)`` with ``A = Q R`` (the reduced factors)."""
    if mode != "reduced":
        raise ValueError(f"linalg.qr: only mode='reduced' is supported, got {mode!r}")
    m = A.shape[-2]
    packed = apply(_QR, (A,))
    return _QRResult(packed[..., :m, :], _mT(packed[..., m:, :]))


def pinv(A, *, rtol: float | None = None, hermitian: bool = False):  # noqa: N803
    """The Moore-Penrose pseudo-inverse, from the SVD (small singular values dropped)."""
    u, s, vh = svd(A, False)
    m, n = A.shape[-2:]
    if rtol is None:
        rtol = _dtype.finfo(A.dtype).eps * max(m, n)
    cut = FN.amax(s, -1, keepdim=True) * rtol
    sinv = FN.where(s > cut, 1.0 / FN.where(s > cut, s, 1.0), 0.0)
    return FN.matmul(_mT(vh) * FN.unsqueeze(sinv, -2), _mT(u))


_Lstsq = type("lstsq", (tuple,), {"__slots__": (), "solution": property(lambda s: s[0])})


def lstsq(A, B, rcond=None, *, driver=None):  # noqa: N803
    """The least-squares solution of ``A X = B`` (``.solution``), by the pseudo-inverse."""
    vector = B.ndim == A.ndim - 1
    b = FN.unsqueeze(B, -1) if vector else B
    x = FN.matmul(pinv(A), b)
    return _Lstsq((FN.squeeze(x, -1) if vector else x,))


# -- norms ------------------------------------------------------------------------------------
def cross(input, other, *, dim: int = -1):
    """The cross product of 3-vectors along ``dim`` (default the last, unlike torch.cross's
    first dim of size 3), with broadcasting."""
    return FN.cross(input, other, dim=dim)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002
    """The ``ord``-norm of the elements over ``dim`` (every element when None)."""
    if dtype is not None:
        x = FN.cast(x, dtype)
    return FN.norm(x, ord, dim, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *,  # noqa: A002,N803
                dtype=None):
    """Frobenius (``"fro"``), nuclear (``"nuc"``), 1/-1 (max/min column sum), inf/-inf
    (row sum) and 2/-2 (largest/smallest singular value) norms over the two dims ``dim``."""
    if dtype is not None:
        A = FN.cast(A, dtype)  # noqa: N806
    d0, d1 = (d % A.ndim for d in dim)
    if ord == "fro":
        return FN.norm(A, 2, (d0, d1), keepdim)
    inf = float("inf")
    if ord in (1, -1, inf, -inf):
        red, keep = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = FN.sum(FN.abs(A), red, keepdim=True)
        ext = FN.amax if ord > 0 else FN.amin
        out = ext(sums, keep, keepdim=True)
        return out if keepdim else FN.squeeze(out, (d0, d1))
    if ord in (2, -2, "nuc"):
        moved = FN.movedim(FN.movedim(A, d0, -2), d1 if d1 > d0 else d1 + 1, -1) if (
            (d0, d1) != (A.ndim - 2, A.ndim - 1)) else A
        s = svdvals(moved)
        out = FN.sum(s, -1) if ord == "nuc" else (FN.amax if ord == 2 else FN.amin)(s, -1)
        if keepdim:
            out = FN.unsqueeze(FN.unsqueeze(out, min(d0, d1)), max(d0, d1))
        return out
    raise ValueError(f"linalg.matrix_norm: unsupported ord {ord!r}")


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A002,N803
    """``vector_norm`` for a vector ``dim`` (or every element when ``ord`` is None),
    ``matrix_norm`` for two dims or a matrix with an ``ord``."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2 or dim is None and ord is not None and A.ndim == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim or (-2, -1), keepdim,
                           dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
