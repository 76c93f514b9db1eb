"""``corefw.linalg``: PyTorch's ``torch.linalg`` functions on batches of matrices (``(..., m,
n)``).

This module is the namespace: the solvers (``solve inv slogdet det cholesky``,
:mod:`.linalg_solve`) and the LAPACK-backed factorisations (``eigh eigvalsh svd svdvals qr``,
:mod:`.linalg_factor`) are re-exported here; the functions built on them (``pinv``, ``lstsq``)
and the norms and ``cross`` live here.
"""

from __future__ import annotations

from .. import _dtype
from .._registry import FN
from .linalg_factor import eigh, eigvalsh, qr, svd, svdvals
from .linalg_solve import _mT, cholesky, det, inv, slogdet, solve

__all__ = ["cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "lstsq", "matrix_norm", "norm",
           "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "vector_norm"]


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
