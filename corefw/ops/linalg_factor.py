"""``torch.linalg``'s factorisations backed by LAPACK: ``eigh`` / ``eigvalsh``, ``svd`` /
``svdvals`` and ``qr``.

``linalg_eigh`` (cyclic Jacobi, with its VJP), ``linalg_svd`` (from the Gram matrix's eigh) and
``linalg_qr`` (modified Gram-Schmidt) have decompositions meant as fallbacks for small
matrices: backends should bring LAPACK's (corefw-cpu: ``numpy.linalg``). ``svd``
differentiates for distinct non-zero singular values, ``qr`` for square and tall matrices.
These ops return their several tensors packed in one array, split here. Public through
:mod:`corefw.linalg` (:mod:`corefw.ops.linalg_torch`).
"""

from __future__ import annotations

from .. import _dtype
from .. import _rules as R
from .._call import apply
from .._registry import FN
from ..errors import AutogradError, ShapeError
from .linalg_solve import _mT, _pair, _square, solve
from .registry import declare

__all__ = ["eigh", "eigvalsh", "qr", "svd", "svdvals"]


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
