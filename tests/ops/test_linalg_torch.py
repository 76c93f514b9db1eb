"""corefw.linalg (torch.linalg): forward against NumPy's LAPACK and the declared ops'
decompositions, backward by finite differences (the matrix-calculus VJPs)."""

from __future__ import annotations

import numpy as np
import pytest

import corefw as C
from corefw import dispatch
from corefw.errors import AutogradError, ShapeError
from corefw.ops import OPS

from .helpers import check, gradcheck

L = C.linalg
RNG = np.random.default_rng(3)
A = RNG.standard_normal((2, 4, 4)) + 2 * np.eye(4)
B = RNG.standard_normal((2, 4, 3))
SPD = A @ np.swapaxes(A, -1, -2) + np.eye(4)


def T(x):
    return C.tensor(x, dtype=C.float64)


def leaf(x):
    return T(x).requires_grad_()


def test_forward_matches_numpy():
    check(L.solve(T(A), T(B)), np.linalg.solve(A, B))
    check(L.solve(T(A[0]), T(B[0, :, 0])), np.linalg.solve(A[0], B[0, :, 0]))  # a vector
    check(L.solve(T(A), T(np.swapaxes(B, -1, -2))[:, :, :4], left=False),
          np.swapaxes(np.linalg.solve(np.swapaxes(A, -1, -2), B[:, :4, :]), -1, -2)[:, :3])
    check(L.inv(T(A)), np.linalg.inv(A))
    check(L.det(T(A)), np.linalg.det(A))
    sign, logabs = L.slogdet(T(-A))
    check(sign, np.linalg.slogdet(-A)[0]) and check(logabs, np.linalg.slogdet(-A)[1])
    check(L.cholesky(T(SPD)), np.linalg.cholesky(SPD))
    check(L.cholesky(T(SPD), upper=True), np.swapaxes(np.linalg.cholesky(SPD), -1, -2))
    w, v = L.eigh(T(SPD))
    check(w, np.linalg.eigvalsh(SPD))
    check(v @ C.diag_embed(w) @ v.mT, SPD)
    u, s, vh = L.svd(T(B))
    check(s, np.linalg.svd(B, compute_uv=False)) and check(u * s.unsqueeze(-2) @ vh, B)
    q, r = L.qr(T(B))
    check(q @ r, B) and check(q.mT @ q, np.broadcast_to(np.eye(3), (2, 3, 3)))
    check(L.pinv(T(B)), np.linalg.pinv(B))
    check(L.lstsq(T(B[0]), T(A[0, :, :2])).solution,
          np.linalg.lstsq(B[0], A[0, :, :2], rcond=None)[0])
    for ord_ in ("fro", "nuc", 1, -1, np.inf, -np.inf, 2, -2):
        check(L.matrix_norm(T(A), ord_), np.linalg.norm(A, ord_, axis=(-2, -1)))
    check(L.vector_norm(T(A), 3, dim=-1), np.linalg.norm(A, 3, axis=-1))
    check(L.norm(T(A[0])), np.linalg.norm(A[0])) and check(L.norm(T(A[0]), 1), np.linalg.norm(
        A[0], 1))
    with pytest.raises(ShapeError, match="square"):
        L.inv(T(B))


@pytest.mark.parametrize("op, args", [
    ("linalg_solve", (A, B)), ("linalg_slogdet", (-A,)), ("linalg_cholesky", (SPD,))])
def test_decompositions_match_the_kernels(op, args):
    dev = C.tensor(0.0).device
    want = dispatch.device_of(dev).table[op](*[np.asarray(a) for a in args])
    got = OPS[op].decomposition(*[T(a) for a in args])
    check(got, want)


def test_backward_by_finite_differences():
    gradcheck(L.solve, leaf(A), leaf(B))
    gradcheck(L.inv, leaf(A))
    gradcheck(L.det, leaf(A))
    gradcheck(lambda x: L.slogdet(x).logabsdet, leaf(-A))
    gradcheck(lambda x: L.cholesky(x @ x.mT + C.eye(4, dtype=C.float64)), leaf(A))
    gradcheck(lambda x: L.eigh(x + x.mT).eigenvalues, leaf(A))
    # sign-invariant in the eigenvectors: v v^T weighted by the eigenvalues' index
    gradcheck(lambda x: (lambda e: (e.eigenvectors ** 2) * C.arange(4.0, dtype=C.float64))(
        L.eigh(x + x.mT)), leaf(A))
    gradcheck(lambda x: L.matrix_norm(x, "fro"), leaf(A))


def test_svd_and_qr_backward():
    # sign-invariant functions of the factors, tall and wide, against finite differences
    for x in (B, np.swapaxes(B, -1, -2)):
        gradcheck(lambda a: L.svd(a, full_matrices=False).S, leaf(x))
        gradcheck(lambda a: (lambda u, s, vh: (u[..., :1] * s[..., None, :1])
                             @ vh[..., :1, :])(*L.svd(a, False)), leaf(x))
    gradcheck(lambda a: C.abs(L.qr(a).R), leaf(B))
    with pytest.raises(AutogradError, match="wide matrix"):
        L.qr(leaf(np.swapaxes(B, -1, -2))).R.sum().backward()


def test_fallback_decompositions_of_the_lapack_ops():
    p = OPS["linalg_eigh"].decomposition(T(SPD), upper=False)
    check(p[..., 0, :], np.linalg.eigvalsh(SPD))
    w, v = p[..., 0, :], p[..., 1:, :]
    check(v @ C.diag_embed(w) @ v.mT, SPD)
    for x in (B, np.swapaxes(B, -1, -2)):  # tall and wide
        m = x.shape[-2]
        p = OPS["linalg_svd"].decomposition(T(x))
        u, s, vv = p[..., :m, :], p[..., m, :], p[..., m + 1:, :]
        check(s, np.linalg.svd(x, compute_uv=False))
        check(u * s.unsqueeze(-2) @ vv.mT, x)
        p = OPS["linalg_qr"].decomposition(T(x))
        q, rt = p[..., :m, :], p[..., m:, :]
        check(q @ rt.mT, x) and check(q.mT @ q, np.broadcast_to(np.eye(3), (2, 3, 3)))
