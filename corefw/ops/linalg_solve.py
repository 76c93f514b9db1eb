"""``torch.linalg``'s solvers: ``solve``, ``inv``, ``slogdet``, ``det`` and ``cholesky``, and the
helpers every ``corefw.linalg`` module shares (the square-matrix check, the batched transpose,
the named result tuples).

``linalg_solve`` (with ``inv`` as ``solve(A, I)``) and ``linalg_slogdet`` have decompositions
(Gauss-Jordan elimination with partial pivoting, one step per column) and their
matrix-calculus VJPs; ``det`` is ``sign * exp(logabsdet)``. ``linalg_cholesky`` has a
column-by-column decomposition and Murray's VJP. Public through :mod:`corefw.linalg`
(:mod:`corefw.ops.linalg_torch`).
"""

from __future__ import annotations

from .. import _rules as R
from .._call import apply
from .._registry import FN
from ..errors import ShapeError
from .registry import declare

__all__ = ["cholesky", "det", "inv", "slogdet", "solve"]


def _square(op, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"linalg.{op}: expected a batch of square matrices (..., n, n), got "
                         f"shape {tuple(a.shape)}")
    if not a.dtype.is_floating_point:
        from ..errors import DTypeError

        raise DTypeError(f"linalg.{op}: expected a floating-point tensor, got {a.dtype}")


def _mT(x):  # noqa: N802
    return FN.transpose(x, -2, -1)


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
