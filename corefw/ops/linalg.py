"""Matrix products: ``matmul`` (NumPy semantics, 1-D to N-D batched) and ``einsum``."""

from __future__ import annotations

from .. import _dtype
from .. import _rules as R
from .._call import apply, diagnose, record2, unary
from .._graph.grad_mode import STATE
from .._tensor import Tensor
from ..errors import ShapeError
from .reduction import _SUM, sum_to
from .registry import FN, cross, declare, publish

__all__ = ["bmm", "dot", "einsum", "linear", "matmul", "mm", "mv", "outer"]

_new = object.__new__


def _matmul_vjp(ctx, g):
    a, b = ctx.inputs
    if a._data.ndim == 2 and b._data.ndim == 2:  # the common case, without reshapes
        return (matmul(g, _t2(b)) if a._req else None,
                matmul(_t2(a), g) if b._req else None)
    reshape, transpose = _shape.reshape, _shape.transpose
    # 1-D operands as matrices; only the operand a gradient reads is touched (saves=cross)
    sa = a.shape if a.ndim > 1 else (1, a.shape[0])
    sb = b.shape if b.ndim > 1 else (b.shape[0], 1)
    g2 = reshape(g, _out_shape(sa, sb))
    ga = gb = None
    if a._req:
        ga = g2 @ transpose(reshape(b, sb), -1, -2)
        ga = reshape(sum_to(ga, sa), a.shape)
    if b._req:
        gb = transpose(reshape(a, sa), -1, -2) @ g2
        gb = reshape(sum_to(gb, sb), b.shape)
    return ga, gb


_T2 = {"dims": (1, 0)}  # shared: attrs are never changed once given to an op


def _t2(x):
    return unary(_shape._PERMUTE, x, _T2)


def _out_shape(sa, sb):
    import numpy as np

    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    return tuple(batch) + (sa[-2], sb[-1])


_MATMUL = declare("matmul", rule=R.matmul, vjp=_matmul_vjp, saves=cross, primitive=True)


def matmul(input, other):
    """Matrix product with NumPy's rules for 1-D operands and batch broadcasting."""
    try:  # fast path: 2-D operands of one dtype on one device, the rule's checks inline
        a, b = input._data, other._data
        dev = input._dev
        fast = a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0] and \
            a.dtype is b.dtype and other._dev is dev
    except AttributeError:
        fast = False
    if fast:  # apply() without its generic loop over operands
        try:
            out = dev.table["matmul"](a, b)
        except Exception as exc:
            raise diagnose(_MATMUL, (input, other), None, exc) from exc
        t = _new(Tensor)  # wrap(out, dev), inline
        t._data = out
        t._dev = dev
        t._node = None
        t._req = False
        t._vc = None
        if (input._req or other._req) and STATE.enabled:
            record2(_MATMUL, input, other, out, dev, t)
        return t
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("matmul: both operands must be tensors")
    sa, sb = input._data.shape, other._data.shape
    if not sa or not sb:
        raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(sa)} and {tuple(sb)}")
    ka = sa[-1]
    kb = sb[-2] if len(sb) > 1 else sb[0]
    if ka != kb:
        a = "x".join(map(str, sa if len(sa) > 1 else (1,) + tuple(sa)))
        b = "x".join(map(str, sb if len(sb) > 1 else tuple(sb) + (1,)))
        raise ShapeError(f"matmul: mat1 and mat2 shapes cannot be multiplied ({a} and {b})")
    if input._data.dtype != other._data.dtype:
        from .elementwise import cast

        dt = _dtype.promote_types(input.dtype, other.dtype)
        input, other = cast(input, dt), cast(other, dt)
    return apply(_MATMUL, (input, other))


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(f"mm: expected 2-D tensors, got {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ShapeError(f"bmm: expected 3-D tensors with equal batch, got {input.shape} "
                         f"and {mat2.shape}")
    return matmul(input, mat2)


def mv(input, vec):
    return matmul(input, vec)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise ShapeError(f"dot: expected 1-D tensors, got {input.shape} and {other.shape}")
    return matmul(input, other)


def outer(input, vec2):
    from .shape import reshape

    return reshape(input, (-1, 1)) * reshape(vec2, (1, -1))


# -- linear: one node for x @ W.T + b --------------------------------------------------------
def _linear_decomp(input, weight, bias=None):
    from .shape import transpose

    out = matmul(input, transpose(weight, 0, 1))
    return out if bias is None else out + bias


def _rows(t):
    """``(..., n) -> (M, n)`` (a view for contiguous tensors)."""
    return t if t._data.ndim == 2 else _shape.reshape(t, (-1, t._data.shape[-1]))


def _linear_vjp(ctx, g):
    """``gx = g @ W``, ``gW = g.T @ x`` (over every leading dim), ``gb = sum of g``."""
    x, w, b = ctx.inputs
    gx = apply(_MATMUL, (g, w)) if x._req else None
    gw = apply(_MATMUL, (_t2(_rows(g)), _rows(x))) if w._req else None
    gb = None
    if b is not None and b._req:
        nd = g._data.ndim
        gb = apply(_SUM, (g,), {"dim": tuple(range(nd - 1)), "keepdim": False}) if nd > 1 \
            else g
    return gx, gw, gb


def _linear_saves(operands):
    """input and weight crosswise (as matmul), never the bias"""
    return cross(operands)[:2] + (False,) * (len(operands) - 2)


_LINEAR = declare("linear", rule=R.linear, vjp=_linear_vjp, decomposition=_linear_decomp,
                  saves=_linear_saves,
                  doc="input @ weight.T + bias (input (*, in), weight (out, in), bias "
                      "(out,) or None)")


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (PyTorch's F.linear).

    One graph node (op ``linear``) when input, weight and bias share a dtype and the weight is
    2-D; otherwise, and while VJP overrides that do not name ``linear`` are active (explainers
    that give ``matmul`` and ``add`` their own rules), the ``matmul`` + ``add`` decomposition.
    """
    try:
        xd, wd = input._data, weight._data
        if wd.ndim == 2 and xd.ndim and xd.shape[-1] == wd.shape[1] and xd.dtype == wd.dtype \
                and (bias is None or bias._data.dtype == wd.dtype
                     and bias._data.shape == wd.shape[:1]) \
                and (not STATE.overrides or "linear" in STATE.overrides):
            return apply(_LINEAR, (input, weight, bias))
    except AttributeError:
        pass
    if input.shape[-1] != weight.shape[-1]:
        rows = input.numel() // max(input.shape[-1], 1)
        raise ShapeError(f"linear: mat1 and mat2 shapes cannot be multiplied "
                         f"({rows}x{input.shape[-1]} and {weight.shape[1]}x{weight.shape[0]})")
    if weight.ndim != 2:
        out = matmul(input, weight)
        return out + bias if bias is not None else out
    return _linear_decomp(input, weight, bias)


def _parse_einsum(equation, shapes):
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: {equation!r} names {len(terms)} operands, got "
                         f"{len(shapes)}")
    used = set("".join(terms)) - {"."}
    free = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    ell_n = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes)
                 if "..." in t), default=0)
    ell = "".join(free[:ell_n])
    expanded = []
    for t, s in zip(terms, shapes):
        if "..." in t:
            n = len(s) - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_n - n:])
        if len(t) != len(s):
            raise ShapeError(f"einsum: subscripts {t!r} do not match operand of shape {s}")
        expanded.append(t)
    sizes: dict[str, tuple[int, int]] = {}  # letter -> (size, operand) of a non-1 size
    for k, (t, s) in enumerate(zip(expanded, shapes)):
        for c, n in zip(t, s):
            seen = sizes.get(c)
            if seen is not None and n != 1 and n != seen[0]:
                raise ShapeError(f"einsum: subscript {c!r} has size {seen[0]} in operand "
                                 f"{seen[1]} but size {n} in operand {k} ({equation!r})")
            if n != 1 and seen is None:
                sizes[c] = (n, k)
    if rhs is None:
        counts = {}
        for c in "".join(expanded):
            counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return expanded, rhs


def _einsum_decomp(*operands, equation):
    """Align every operand to one index order, multiply with broadcasting, sum the rest."""
    from .reduction import sum as rsum
    from .shape import permute, reshape

    terms, rhs = _parse_einsum(equation, [o.shape for o in operands])
    letters = list(rhs) + sorted({c for t in terms for c in t} - set(rhs))
    prod = None
    for t, x in zip(terms, operands):
        for c in set(t):  # repeated index within a term: take the diagonal
            while t.count(c) > 1:
                i, j = t.index(c), t.index(c, t.index(c) + 1)
                x = _diagonal(x, i, j)
                t = t[:j] + t[j + 1:]
        order = sorted(range(len(t)), key=lambda k: letters.index(t[k]))
        x = permute(x, order) if order != list(range(len(t))) else x
        present = [t[k] for k in order]
        shape, it = [], iter(x.shape)
        for c in letters:
            shape.append(next(it) if c in present else 1)
        x = reshape(x, shape)
        prod = x if prod is None else prod * x
    extra = tuple(range(len(rhs), len(letters)))
    return rsum(prod, extra) if extra else prod


def _diagonal(x, i, j):
    """The diagonal of dims ``i < j``, at position ``i`` (``diagonal`` puts it last)."""
    from .shape import movedim

    return movedim(FN.diagonal(x, 0, i, j), -1, i)


_EINSUM = declare("einsum", decomposition=_einsum_decomp)


def einsum(equation: str, *operands):
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``; ``...`` broadcasts."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    _parse_einsum(equation, [o.shape for o in operands])  # validates, with clear errors
    return apply(_EINSUM, tuple(operands), {"equation": equation})


from . import shape as _shape  # noqa: E402

publish(globals(), __all__, methods="""matmul dot mm bmm""")
