"""PyTorch's further products, written with ``matmul`` and elementwise ops (so they run on
every backend and differentiate through them): ``addmm``/``addmv``/``addbmm``/``baddbmm``,
``cross``, ``kron``, ``tensordot``, ``cdist``, ``vdot``, ``inner``, ``chain_matmul``."""

from __future__ import annotations

import math

from .._registry import FN
from ..errors import ShapeError
from ._dims import normalize_dims
from .registry import publish

__all__ = ["addbmm", "addmm", "addmv", "addr", "baddbmm", "cdist", "cross", "inner", "kron",
           "tensordot", "vdot"]


def _scaled(input, prod, beta, alpha):
    prod = prod if alpha == 1 else prod * alpha
    if beta == 0:  # PyTorch ignores input (even NaN) when beta is 0
        return prod + FN.zeros_like(input) if tuple(input.shape) != tuple(prod.shape) else prod
    return (input if beta == 1 else input * beta) + prod


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``."""
    return _scaled(input, FN.mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``."""
    return _scaled(input, FN.mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``."""
    return _scaled(input, FN.outer(vec1, vec2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return _scaled(input, FN.bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``."""
    return _scaled(input, FN.sum(FN.bmm(batch1, batch2), 0), beta, alpha)


def cross(input, other, dim: int | None = None):
    """The cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    shape = FN.broadcast_shapes(input.shape, other.shape)
    input, other = FN.expand(input, tuple(shape)), FN.expand(other, tuple(shape))
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise ShapeError(f"cross: no dimension of size 3 in shape {tuple(shape)}")
    (d,) = normalize_dims(dim, len(shape), "cross")
    if shape[d] != 3:
        raise ShapeError(f"cross: dimension {dim} must have size 3, got shape {tuple(shape)}")

    def c(t, i):
        return FN.select(t, d, i)

    a0, a1, a2 = c(input, 0), c(input, 1), c(input, 2)
    b0, b1, b2 = c(other, 0), c(other, 1), c(other, 2)
    return FN.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def kron(input, other):
    """The Kronecker product: block ``(i, j)`` is ``input[i, j] * other``."""
    nd = max(input.ndim, other.ndim)
    a = FN.reshape(input, (1,) * (nd - input.ndim) + tuple(input.shape))
    b = FN.reshape(other, (1,) * (nd - other.ndim) + tuple(other.shape))
    a_shape = tuple(v for s in a.shape for v in (s, 1))
    b_shape = tuple(v for s in b.shape for v in (1, s))
    out = FN.reshape(a, a_shape) * FN.reshape(b, b_shape)
    return FN.reshape(out, tuple(x * y for x, y in zip(a.shape, b.shape)))


def tensordot(a, b, dims=2):
    """Contract the last ``dims`` dims of ``a`` with the first ``dims`` of ``b`` (or the
    listed pairs ``dims=([a dims], [b dims])``)."""
    if isinstance(dims, int):
        if dims < 0:
            raise ShapeError(f"tensordot: dims must be non-negative, got {dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    da = [normalize_dims(d, a.ndim, "tensordot")[0] for d in da]
    db = [normalize_dims(d, b.ndim, "tensordot")[0] for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: contracted dims differ in size: a dim {i} "
                             f"({a.shape[i]}) vs b dim {j} ({b.shape[j]})")
    fa = [d for d in range(a.ndim) if d not in da]
    fb = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    am = FN.reshape(FN.permute(a, tuple(fa + da)), (-1, k) if fa else (1, k))
    bm = FN.reshape(FN.permute(b, tuple(db + fb)), (k, -1) if fb else (k, 1))
    out = FN.mm(am, bm)
    return FN.reshape(out, tuple(a.shape[d] for d in fa) + tuple(b.shape[d] for d in fb))


def inner(input, other):
    """Sum over the last dims of both (a scalar product for vectors)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    return tensordot(input, other, ([-1], [-1]))


def vdot(input, other):
    """The dot product of two 1-D tensors (real tensors: the same as ``dot``)."""
    return FN.dot(input, other)


def cdist(x1, x2, p: float = 2.0, compute_mode: str | None = None):
    """Pairwise ``p``-norm distances between the rows of ``x1`` (..., P, M) and ``x2``
    (..., R, M): shape (..., P, R)."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(f"cdist: expected (..., P, M) and (..., R, M) with the same M, got "
                         f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    diff = FN.unsqueeze(x1, -2) - FN.unsqueeze(x2, -3)  # (..., P, R, M)
    if p == 2:  # the norm's gradient at zero distance is 0, as in PyTorch
        return FN.norm(diff, 2, -1)
    return FN.norm(diff, p, -1)


publish(globals(), __all__, methods="addbmm addmm addmv addr baddbmm cross inner kron vdot")
