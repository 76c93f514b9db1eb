"""Cases for the PyTorch-parity ops: inverse trigonometric and hyperbolic functions,
``argsort`` (and ``sort``/``topk``/``kthvalue``/``median`` through it), ``repeat``,
``repeat_interleave``, ``unfold``, ``diagonal``, ``diag_embed``, ``cumprod``, ``scatter``,
and functions that run an existing primitive (``narrow`` -> slice, ``rot90`` -> flip,
``index_add`` -> index_put)."""

from __future__ import annotations

import numpy as np

import corefw

from . import reference_parity as R
from .cases import INT, OpCase, Sample, register_case
from .cases import values as V
from .cases_core import binary, unary

UNARY = ("basic", "0-d", "empty", "noncontig", "large")


def _f(dtype: str) -> str:
    return dtype if "float" in dtype else "float32"


def case(op, make, fn, ref, **kw):
    """Register an :class:`OpCase` whose ``make(rng, variant, dtype)`` ignores the backend."""
    return register_case(OpCase(op, lambda rng, variant, dtype, env: make(rng, variant, dtype),
                                fn, ref, **kw))


# -- inverse trigonometric and hyperbolic -----------------------------------------------------
unary("asin", corefw.asin, R.unary_math("asin"), domain="unit")
unary("acos", corefw.acos, R.unary_math("acos"), domain="unit")
unary("atan", corefw.atan, R.unary_math("atan"), domain="any", kinds="fi", out_dtype=_f)
unary("sinh", corefw.sinh, R.unary_math("sinh"), domain="small")
unary("cosh", corefw.cosh, R.unary_math("cosh"), domain="small")
unary("asinh", corefw.asinh, R.unary_math("asinh"), domain="any")
unary("acosh", lambda x: corefw.acosh(x + 1.5), lambda x: R.unary_math("acosh")(x + 1.5),
      domain="pos")
unary("atanh", corefw.atanh, R.unary_math("atanh"), domain="unit")
binary("atan2", corefw.atan2, R.atan2, domain=("nonzero", "nonzero"))


# -- sorting ----------------------------------------------------------------------------------
_SORT = {"basic": ((3, 6), 1, False), "dim0": ((5, 3), 0, False), "desc": ((3, 6), 1, True),
         "ties": ((4, 7), 1, False), "ties-desc": ((4, 7), -1, True), "3d": ((2, 3, 4), 1, False),
         "empty": ((0, 3), 1, False), "noncontig": ((4, 5), 0, False),
         "large": ((257, 259), 1, False)}


def _sort_make(rng, variant, dtype):
    shape, dim, desc = _SORT[variant]
    domain = "ties" if variant.startswith("ties") else "distinct"
    return Sample((V(rng, shape, dtype, domain),), {"dim": dim, "descending": desc})


case("argsort", _sort_make, lambda x, dim, descending: corefw.argsort(x, dim, descending),
     lambda x, dim, descending: R.argsort(x, dim, descending), kinds="fib",
     variants=tuple(_SORT), grad=(), out_dtype="int64")


def _gather_rows(x, idx, dim):
    return np.take_along_axis(np.asarray(x, np.float64 if x.dtype.kind in "fV" else x.dtype),
                              idx, axis=dim)


case("argsort", _sort_make,
     lambda x, dim, descending: corefw.sort(x, dim, descending).values,
     lambda x, dim, descending: _gather_rows(x, R.argsort(x, dim, descending), dim),
     kinds="fi", variants=("basic", "dim0", "desc", "3d", "noncontig"),
     doc="sort's values (differentiable through gather)")
_TOPK = {"basic": ((3, 6), 2, 1, True), "smallest": ((3, 6), 3, -1, False),
         "dim0": ((5, 4), 1, 0, True)}
case("argsort", lambda rng, variant, dtype: Sample(
    (V(rng, _TOPK[variant][0], dtype, "distinct"),),
    {"k": _TOPK[variant][1], "dim": _TOPK[variant][2], "largest": _TOPK[variant][3]}),
    lambda x, k, dim, largest: corefw.topk(x, k, dim, largest).values,
    lambda x, k, dim, largest: np.take(_gather_rows(x, R.argsort(x, dim, largest), dim),
                                       range(k), axis=dim),
    kinds="fi", variants=tuple(_TOPK), doc="topk's values")
case("argsort", lambda rng, variant, dtype: Sample((V(rng, (3, 7), dtype, "distinct"),),
                                                   {"dim": 1}),
     lambda x, dim: corefw.median(x, dim).values,
     lambda x, dim: np.sort(np.asarray(x, np.float64), dim).take(3, axis=dim), kinds="f",
     doc="median's values")


# -- movement composites ----------------------------------------------------------------------
_REPEAT = {"basic": ((2, 3), (2, 2)), "lead": ((3,), (2, 1, 3)), "0-d": ((), (3,)),
           "zero": ((2, 3), (0, 1)), "noncontig": ((4, 5), (1, 2))}
case("repeat", lambda rng, variant, dtype: Sample((V(rng, _REPEAT[variant][0], dtype),),
                                                  {"repeats": _REPEAT[variant][1]}),
     lambda x, repeats: x.repeat(*repeats), R.repeat, kinds="fib", variants=tuple(_REPEAT))
_RI = {"basic": ((2, 3), 2, 1), "dim0": ((3, 2), 3, 0), "zero": ((2, 3), 0, 1),
       "noncontig": ((4, 5), 2, 0)}
case("repeat_interleave", lambda rng, variant, dtype: Sample(
    (V(rng, _RI[variant][0], dtype),), {"repeats": _RI[variant][1], "dim": _RI[variant][2]}),
    lambda x, repeats, dim: corefw.repeat_interleave(x, repeats, dim), R.repeat_interleave,
    kinds="fib", variants=tuple(_RI))
_UNFOLD = {"basic": ((2, 7), 1, 3, 2), "dim0": ((6, 3), 0, 2, 1), "overlap": ((9,), 0, 4, 1),
           "whole": ((2, 5), 1, 5, 3), "noncontig": ((4, 5), 0, 2, 2)}
case("unfold", lambda rng, variant, dtype: Sample(
    (V(rng, _UNFOLD[variant][0], dtype),),
    dict(zip(("dimension", "size", "step"), _UNFOLD[variant][1:]))),
    lambda x, dimension, size, step: x.unfold(dimension, size, step), R.unfold, kinds="fib",
    variants=tuple(_UNFOLD))
_DIAG = {"basic": ((3, 4), 0, 0, 1), "offset": ((3, 4), 1, 0, 1), "negative": ((4, 3), -2, 0, 1),
         "3d": ((2, 3, 4), 0, 2, 0), "past": ((2, 3), 5, 0, 1), "noncontig": ((4, 5), 1, 1, 0)}
case("diagonal", lambda rng, variant, dtype: Sample(
    (V(rng, _DIAG[variant][0], dtype),),
    dict(zip(("offset", "dim1", "dim2"), _DIAG[variant][1:]))),
    lambda x, offset, dim1, dim2: corefw.diagonal(x, offset, dim1, dim2), R.diagonal,
    kinds="fib", variants=tuple(_DIAG))
_EMBED = {"basic": ((3,), 0, 0, 1), "offset": ((2, 3), 1, -2, -1),
          "negative": ((2, 3), -2, -1, -2), "3d": ((2, 3), 0, 0, 2)}
case("diag_embed", lambda rng, variant, dtype: Sample(
    (V(rng, _EMBED[variant][0], dtype),),
    dict(zip(("offset", "dim1", "dim2"), _EMBED[variant][1:]))),
    lambda x, offset, dim1, dim2: corefw.diag_embed(x, offset, dim1, dim2), R.diag_embed,
    kinds="fib", variants=tuple(_EMBED))


# -- scans and scatter ------------------------------------------------------------------------
_CUM = {"basic": ((3, 4), 1), "dim0": ((4, 3), 0), "zeros": ((3, 5), 1),
        "noncontig": ((4, 5), 1), "empty": ((0, 3), 0)}


def _cumprod_make(rng, variant, dtype):
    shape, dim = _CUM[variant]
    x = V(rng, shape, dtype, "nonzero" if dtype not in INT else "small")
    if variant == "zeros":  # exact zeros: the gradient must not divide by them
        x[:, 2] = 0
    return Sample((x,), {"dim": dim})


case("cumprod", _cumprod_make, lambda x, dim: corefw.cumprod(x, dim), R.cumprod, kinds="fi",
     variants=tuple(_CUM), out_dtype=lambda d: "int64" if d in INT else d, tol=4.0)
_SCATTER = {"basic": ((4, 5), (3, 5), 0), "dim1": ((3, 6), (3, 2), 1),
            "3d": ((2, 4, 3), (2, 2, 3), 1)}


def _scatter_make(rng, variant, dtype):
    xs, ishape, dim = _SCATTER[variant]
    index = np.empty(ishape, dtype=np.int64)
    moved = np.moveaxis(index, dim, -1)  # a view: distinct targets per slot
    for pos in np.ndindex(*moved.shape[:-1]):
        moved[pos] = rng.permutation(xs[dim])[:ishape[dim]]
    return Sample((V(rng, xs, dtype), index, V(rng, ishape, dtype)), {"dim": dim},
                  grad=(0, 2))


case("scatter", _scatter_make, lambda x, index, src, dim: corefw.scatter(x, dim, index, src),
     lambda x, index, src, dim: R.scatter(x, dim, index, src), kinds="fib",
     variants=tuple(_SCATTER))


# -- functions that run one existing primitive ------------------------------------------------
case("slice", lambda rng, variant, dtype: Sample((V(rng, (4, 6), dtype),),
                                                 {"dim": 1, "start": -4, "length": 3}),
     lambda x, dim, start, length: corefw.narrow(x, dim, start, length),
     lambda x, dim, start, length: np.asarray(x)[:, 2:5], kinds="fib", variants=("narrow",),
     doc="narrow")
case("flip", lambda rng, variant, dtype: Sample((V(rng, (3, 4), dtype),), {"k": 1}),
     lambda x, k: corefw.rot90(x, k), lambda x, k: np.rot90(np.asarray(x), k), kinds="fib",
     variants=("rot90",), doc="rot90")


def _index_add_make(rng, variant, dtype):
    return Sample((V(rng, (4, 3), dtype), np.array([0, 2, 0]), V(rng, (3, 3), dtype)),
                  {"dim": 0}, grad=(0, 2))


def _index_add_ref(x, index, source, dim):
    out = np.array(x, dtype=np.float64 if np.asarray(x).dtype.kind in "fV" else x.dtype)
    for i, j in enumerate(index):
        out[j] = out[j] + source[i]
    return out


case("index_put", _index_add_make,
     lambda x, index, source, dim: corefw.index_add(x, dim, index, source), _index_add_ref,
     kinds="fi", variants=("index_add",), doc="index_add")



# -- linalg -----------------------------------------------------------------------------------
_LA = ("float32", "float64")
_SOLVE = {"basic": ((3, 3), (3, 2)), "batch": ((2, 4, 4), (2, 4, 1)),
          "broadcast": ((3, 3), (2, 3, 2))}


def _well_conditioned(rng, shape, dtype):
    a = V(rng, shape, "float64") + 3 * np.eye(shape[-1])
    return a.astype(dtype)


case("linalg_solve", lambda rng, variant, dtype: Sample(
    (_well_conditioned(rng, _SOLVE[variant][0], dtype), V(rng, _SOLVE[variant][1], dtype))),
    lambda a, b: corefw.linalg.solve(a, b), R.solve, kinds=_LA, variants=tuple(_SOLVE),
    grad=(0, 1), tol=4.0)
case("linalg_slogdet", lambda rng, variant, dtype: Sample(
    (_well_conditioned(rng, (2, 3, 3) if variant == "batch" else (4, 4), dtype) * (
        -1 if variant == "negative" else 1),)),
    lambda a: corefw.stack(list(corefw.linalg.slogdet(a)), -1), R.slogdet, kinds=_LA,
    variants=("basic", "batch", "negative"), tol=4.0)


def _spd(rng, variant, dtype):
    shape = (2, 3, 3) if variant == "batch" else (4, 4)
    a = V(rng, shape, "float64")
    return Sample(((a @ np.swapaxes(a, -1, -2) + 2 * np.eye(shape[-1])).astype(dtype),))


case("linalg_cholesky", _spd, lambda a: corefw.linalg.cholesky(a), R.cholesky, kinds=_LA,
     variants=("basic", "batch"), grad=(), tol=4.0)


def _eig_ref(a):
    a = np.asarray(a, np.float64)
    w = np.linalg.eigvalsh(a)  # eigenvalues only: eigenvectors have no unique sign
    return np.sort(w, -1)


case("linalg_eigh", _spd, lambda a: corefw.linalg.eigh(a).eigenvalues, _eig_ref, kinds=_LA,
     variants=("basic", "batch"), grad=(), tol=8.0)
case("linalg_svd", _spd, lambda a: corefw.linalg.svd(a).S,
     lambda a: np.sort(np.sqrt(np.linalg.eigvalsh(np.asarray(a, np.float64) @ np.swapaxes(
         np.asarray(a, np.float64), -1, -2))), -1)[..., ::-1], kinds=_LA,
     variants=("basic", "batch"), grad=(), tol=8.0)
case("linalg_qr", _spd, lambda a: corefw.abs(corefw.linalg.qr(a).R),
     lambda a: np.abs(R.cholesky(np.swapaxes(a, -1, -2) @ np.asarray(a, np.float64))
                      ).swapaxes(-1, -2), kinds=_LA, variants=("basic", "batch"), grad=(),
     tol=8.0, doc="|R| is the transposed Cholesky factor of A^T A")
