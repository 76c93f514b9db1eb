"""Cases for memory, reduction, movement, indexing and linalg primitives, and the composites
built on them (logsumexp, softmax, log_softmax, einsum)."""

from __future__ import annotations

import numpy as np

import corefw
from corefw.plugins import call_op

from . import reference as R
from .cases import INT, UNARY_SHAPES, NotApplicable, OpCase, Sample, register_case
from .cases import values as V


def case(op, make, fn, ref, **kw):
    """Register an :class:`OpCase` whose ``make(rng, variant, dtype)`` ignores the backend."""
    return register_case(OpCase(op, lambda rng, variant, dtype, env: make(rng, variant, dtype),
                                fn, ref, **kw))


def _int64_for_ints(dtype: str) -> str:
    return "int64" if dtype in INT or dtype == "bool" else dtype


# -- memory -----------------------------------------------------------------------------------
_FULL = {"basic": ((2, 3), 1.5, 3), "0-d": ((), -2.25, -2), "empty": ((0, 3), 1.0, 1),
         "large": ((257, 259), 0.5, 7)}


def _full_make(rng, variant, dtype):
    shape, fval, ival = _FULL[variant]
    value = True if dtype == "bool" else ival if dtype in INT else fval
    if dtype == "uint8":
        value = abs(value)
    return Sample((), {"size": shape, "fill_value": value})


case("full", _full_make, lambda size, fill_value, device, dtype: corefw.full(
    size, fill_value, dtype=dtype, device=device), lambda size, fill_value: np.full(
    size, fill_value), kinds="fib", variants=tuple(_FULL), grad=(), creation=True)

_ARANGE = {"basic": ((0.5, 3.1, 0.25), (-3, 7, 2)), "empty": ((1.0, 1.0, 0.5), (4, 4, 1)),
           "negative-step": ((2.0, -1.1, -0.5), (5, -3, -3)),
           "large": ((0.0, 6000.0, 0.125), (0, 100000, 1))}


def _arange_make(rng, variant, dtype):
    fl, it = _ARANGE[variant]
    if dtype in ("int8", "uint8", "int16") and variant == "large":
        raise NotApplicable("the large arange does not fit in this dtype")
    if dtype == "uint8":
        it = {"basic": (1, 9, 2), "negative-step": (9, 1, -3)}.get(variant, it)
    start, end, step = fl if "float" in dtype else it
    return Sample((), {"start": start, "end": end, "step": step})


case("arange", _arange_make, lambda start, end, step, device, dtype: corefw.arange(
    start, end, step, dtype=dtype, device=device), R.arange, kinds="fi",
     variants=tuple(_ARANGE), grad=(), creation=True)
case("clone", lambda rng, variant, dtype: Sample((V(rng, UNARY_SHAPES[variant], dtype),)),
     lambda x: x.clone(), lambda x: np.array(x), kinds="fib",
     variants=("basic", "0-d", "empty", "noncontig", "large"))


def _cast_make(rng, variant, dtype, env):
    target = variant[3:]
    if target not in env.dtypes or target == dtype:
        raise NotApplicable(f"the backend does not declare {target}" if target != dtype else
                            "same dtype")
    x = V(rng, (3, 4), dtype, "offint" if "float" in dtype else "any")
    if "float" in dtype:
        x = (x * 9).astype(dtype)
    if target == "uint8" or dtype == "uint8":
        x = np.abs(x)
    return Sample((x,), {"dtype": target}, out_dtype=target)


register_case(OpCase(
    "cast", _cast_make, lambda x, dtype: x.to(getattr(corefw, dtype if dtype != "bool" else
                                                      "bool_")),
    R.cast, kinds="fib", variants=tuple(f"to-{d}" for d in (
        "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
        "float64"))))


def _copy_make(rng, variant, dtype):
    dst = {"basic": (3, 4), "broadcast": (3, 4), "0-d": (), "empty": (0, 4),
           "noncontig": (4, 5)}[variant]
    src = (4,) if variant == "broadcast" else dst
    return Sample((V(rng, dst, dtype), V(rng, src, dtype)))


def _copy_fn(x, src):
    y = x.clone()
    y.copy_(src)
    return y


case("copy_", _copy_make, _copy_fn, lambda x, src: np.broadcast_to(src, x.shape).copy(),
     kinds="fib", variants=("basic", "broadcast", "0-d", "empty", "noncontig"), grad=())

# -- reductions -------------------------------------------------------------------------------
_RED = {"basic": ((3, 4), None, False), "dim": ((2, 3, 4), (1,), False),
        "keepdim": ((2, 3, 4), (0, 2), True), "neg-dims": ((2, 3, 4), (-1, 1), False),
        "all-keep": ((2, 3, 4), (0, 1, 2), True), "0-d": ((), None, False),
        "empty": ((0, 3), (1,), False), "empty-dim": ((0, 3), (0,), False),
        "noncontig": ((4, 5), (0,), False), "strided": ((3, 4), (-1,), True),
        "large": ((257, 259), (1,), False)}


def _reduction(op, fn, ref, domain="any", kinds="fib", variants=tuple(_RED), out_dtype=None,
               tol=1.0):
    def make(rng, variant, dtype):
        shape, dim, keepdim = _RED[variant]
        return Sample((V(rng, shape, dtype, domain),), {"dim": dim, "keepdim": keepdim})

    case(op, make, fn, ref, kinds=kinds, variants=variants, out_dtype=out_dtype, tol=tol)


_reduction("sum", lambda x, dim, keepdim: corefw.sum(x, dim, keepdim), R.sum,
           out_dtype=_int64_for_ints, tol=4.0)
_reduction("prod", lambda x, dim, keepdim: corefw.prod(x, dim, keepdim), R.prod, domain="pos",
           out_dtype=_int64_for_ints, variants=("basic", "dim", "keepdim", "neg-dims",
                                                "all-keep", "0-d", "empty", "empty-dim",
                                                "noncontig", "strided"))
_NO_EMPTY_DIM = tuple(v for v in _RED if v != "empty-dim")  # max of nothing is an error
_reduction("amax", lambda x, dim, keepdim: corefw.amax(x, () if dim is None else dim, keepdim),
           R.amax, domain="distinct", variants=_NO_EMPTY_DIM)
_reduction("amin", lambda x, dim, keepdim: corefw.amin(x, () if dim is None else dim, keepdim),
           R.amin, domain="distinct", variants=_NO_EMPTY_DIM)
_NORM = {"basic": ((3, 4), None, False, 2.0), "dim": ((2, 3, 4), (1,), False, 2.0),
         "keepdim": ((2, 3, 4), (0, 2), True, 2.0), "p1": ((3, 4), (1,), False, 1.0),
         "p3": ((3, 4), None, False, 3.0), "noncontig": ((4, 5), (0,), False, 2.0)}
case("vector_norm", lambda rng, variant, dtype: Sample(
    (V(rng, _NORM[variant][0], dtype, "distinct"),),
    {"dim": _NORM[variant][1], "keepdim": _NORM[variant][2], "ord": _NORM[variant][3]}),
    lambda x, dim, keepdim, ord: corefw.norm(x, ord, dim, keepdim), R.vector_norm, kinds="f",
    variants=tuple(_NORM))
_ARG = {"basic": ((3, 4), None, False), "dim": ((2, 3, 4), 1, False),
        "keepdim": ((2, 3, 4), 2, True), "0-d": ((), None, False),
        "noncontig": ((4, 5), 0, False), "large": ((257, 259), 1, False)}


def _arg_case(op, fn, ref):
    def make(rng, variant, dtype):
        shape, dim, keepdim = _ARG[variant]
        return Sample((V(rng, shape, dtype, "distinct"),), {"dim": dim, "keepdim": keepdim})

    case(op, make, fn, ref, kinds="fi", variants=tuple(_ARG), grad=(), out_dtype="int64")


_arg_case("argmax", lambda x, dim, keepdim: corefw.argmax(x, dim, keepdim), R.argmax)
_arg_case("argmin", lambda x, dim, keepdim: corefw.argmin(x, dim, keepdim), R.argmin)
_CUM = {"basic": ((3, 4), 1), "dim0": ((3, 4), 0), "neg-dim": ((3, 4), -1),
        "empty": ((0, 3), 0), "strided": ((3, 4), 0),
        "noncontig": ((4, 5), 1), "large": ((257, 259), 0)}
case("cumsum", lambda rng, variant, dtype: Sample((V(rng, _CUM[variant][0], dtype),),
                                                  {"dim": _CUM[variant][1]}),
     lambda x, dim: corefw.cumsum(x, dim), R.cumsum, kinds="fib", variants=tuple(_CUM),
     out_dtype=_int64_for_ints, tol=4.0)
_reduction("logsumexp", lambda x, dim, keepdim: corefw.logsumexp(
    x, tuple(range(x.ndim)) if dim is None else dim, keepdim),
    lambda x, dim, keepdim: R.logsumexp(x, dim, keepdim), kinds="f",
    variants=("basic", "dim", "keepdim", "neg-dims", "all-keep", "0-d", "noncontig", "strided",
              "large"))
_SOFT = {"basic": ((3, 4), 1), "dim0": ((3, 4), 0), "neg-dim": ((3, 4), -1),
         "3d": ((2, 3, 4), 1), "0-d": ((), 0), "empty": ((0, 3), 1), "noncontig": ((4, 5), 1),
         "strided": ((3, 4), 0), "large": ((257, 259), 1)}
for _op, _ref in (("softmax", R.softmax), ("log_softmax", R.log_softmax)):
    case(_op, lambda rng, variant, dtype: Sample((V(rng, _SOFT[variant][0], dtype),),
                                                 {"dim": _SOFT[variant][1]}),
         (lambda name: lambda x, dim: call_op(name, x, dim=dim))(_op), _ref,
         variants=tuple(_SOFT))

# -- movement ---------------------------------------------------------------------------------
_RESHAPE = {"basic": ((3, 4), (2, 6)), "0-d": ((), (1, 1)), "empty": ((0, 3), (3, 0)),
            "infer": ((2, 3, 4), (4, -1)), "noncontig": ((4, 5), (20,)),
            "large": ((257, 259), (259, 257))}
case("reshape", lambda rng, variant, dtype: Sample((V(rng, _RESHAPE[variant][0], dtype),),
                                                   {"shape": _RESHAPE[variant][1]}),
     lambda x, shape: x.reshape(shape), lambda x, shape: np.reshape(x, shape), kinds="fib",
     variants=tuple(_RESHAPE))
_PERMUTE = {"basic": ((2, 3, 4), (2, 0, 1)), "0-d": ((), ()), "empty": ((0, 2, 3), (1, 2, 0)),
            "noncontig": ((4, 5), (1, 0)), "large": ((257, 259), (1, 0))}
case("permute", lambda rng, variant, dtype: Sample((V(rng, _PERMUTE[variant][0], dtype),),
                                                   {"dims": _PERMUTE[variant][1]}),
     lambda x, dims: x.permute(*dims), lambda x, dims: np.transpose(x, dims), kinds="fib",
     variants=tuple(_PERMUTE))
_EXPAND = {"basic": ((3, 1), (3, 4)), "broadcast": ((4,), (2, 3, 4)), "0-d": ((), (2, 2)),
           "empty": ((0, 1), (0, 3)), "noncontig": ((1, 5), (4, 5))}
case("expand", lambda rng, variant, dtype: Sample((V(rng, _EXPAND[variant][0], dtype),),
                                                  {"shape": _EXPAND[variant][1]}),
     lambda x, shape: x.expand(*shape), lambda x, shape: np.broadcast_to(x, shape).copy(),
     kinds="fib", variants=tuple(_EXPAND))
_FLIP = {"basic": ((3, 4), (0,)), "2d": ((3, 4), (0, 1)), "empty": ((0, 3), (1,)),
         "noncontig": ((4, 5), (1,)), "large": ((257, 259), (1,))}
case("flip", lambda rng, variant, dtype: Sample((V(rng, _FLIP[variant][0], dtype),),
                                                {"dims": _FLIP[variant][1]}),
     lambda x, dims: corefw.flip(x, dims), lambda x, dims: np.flip(x, dims).copy(),
     kinds="fib", variants=tuple(_FLIP))
_SLICE = {"basic": ((5, 6), (slice(1, 4), slice(None, None, 2))),
          "int": ((5, 6), (2, Ellipsis)), "newaxis": ((5, 6), (None, slice(0, 2), -1)),
          "0-d": ((), (Ellipsis,)), "empty": ((5, 6), (slice(2, 2),)),
          "noncontig": ((4, 5), (slice(1, None), slice(0, 3))),
          "large": ((257, 259), (slice(None, None, 3), slice(1, -1)))}
case("slice", lambda rng, variant, dtype: Sample((V(rng, _SLICE[variant][0], dtype),),
                                                 {"key": _SLICE[variant][1]}),
     lambda x, key: x[key], lambda x, key: np.array(x[key]), kinds="fib",
     variants=tuple(_SLICE))
_PAD = {"basic": ((3, 4), (1, 2), 0.0), "2d": ((3, 4), (1, 0, 2, 1), 1.5),
        "empty": ((0, 3), (1, 1), 0.0),
        "noncontig": ((4, 5), (2, 1), -1.0)}


def _pad_make(rng, variant, dtype):
    shape, pads, value = _PAD[variant]
    if "float" not in dtype:
        value = 0
    return Sample((V(rng, shape, dtype),), {"pad": pads, "value": value})


def _pad_ref(x, pad, value):
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return R.pad(x, pairs, value)


case("pad", _pad_make, lambda x, pad, value: corefw.pad(x, pad, value=value), _pad_ref,
     kinds="fi", variants=tuple(_PAD))
_CAT = {"basic": (((2, 3), (4, 3)), 0), "dim1": (((2, 3), (2, 1), (2, 2)), 1),
        "empty": (((0, 3), (2, 3)), 0), "noncontig": (((4, 5), (4, 5)), 1),
        "large": (((257, 259), (100, 259)), 0)}
case("cat", lambda rng, variant, dtype: Sample(
    tuple(V(rng, s, dtype) for s in _CAT[variant][0]), {"dim": _CAT[variant][1]},
    grad=tuple(range(len(_CAT[variant][0])))),
    lambda *xs, dim: corefw.cat(list(xs), dim), lambda *xs, dim: np.concatenate(xs, dim),
    kinds="fib", variants=tuple(_CAT))

# -- indexing ---------------------------------------------------------------------------------
_GATHER = {"basic": ((3, 4), (3, 5), 1), "dim0": ((3, 4), (2, 4), 0),
           "neg-dim": ((3, 4), (2, 3), -1),
           "empty": ((3, 4), (3, 0), 1), "noncontig": ((4, 5), (4, 3), 1)}


def _gather_make(rng, variant, dtype):
    xs, ishape, dim = _GATHER[variant]
    index = rng.integers(0, xs[dim], size=ishape)
    return Sample((V(rng, xs, dtype), index), {"dim": dim})


case("gather", _gather_make, lambda x, index, dim: corefw.gather(x, dim, index),
     lambda x, index, dim: R.gather(x, dim, index), kinds="fib", variants=tuple(_GATHER))


def _scatter_make(rng, variant, dtype):
    xs, ishape, dim = _GATHER[variant]
    index = rng.integers(0, xs[dim], size=ishape)  # repeated indices must add up
    return Sample((V(rng, xs, dtype), index, V(rng, ishape, dtype)), {"dim": dim},
                  grad=(0, 2))


case("scatter_add", _scatter_make,
     lambda x, index, src, dim: corefw.scatter_add(x, dim, index, src),
     lambda x, index, src, dim: R.scatter_add(x, dim, index, src), kinds="fi",
     variants=tuple(_GATHER))
case("nonzero", lambda rng, variant, dtype: Sample((V(rng, UNARY_SHAPES[variant], dtype,
                                                      "ties"),)),
     corefw.nonzero, R.nonzero, kinds="fib", grad=(), out_dtype="int64",
     variants=("basic", "0-d", "empty", "noncontig", "large"))


def _index_make(rng, variant, dtype):
    x = V(rng, (5, 3), dtype)
    if variant == "basic":
        return Sample((x, np.array([4, 0, 0, 2])), {"lead": 0})
    if variant == "mask":
        return Sample((x, rng.random((5, 3)) < 0.5), {"lead": 0})
    if variant == "dim1":
        return Sample((x, np.array([2, 0, 2])), {"lead": 1})
    if variant == "2d-index":
        return Sample((x, np.array([[1, 4], [0, 1]])), {"lead": 0})
    return Sample((x, np.zeros(0, dtype=np.int64)), {"lead": 0})  # empty


case("index", _index_make, lambda x, idx, lead: x[(slice(None),) * lead + (idx,)],
     lambda x, idx, lead: np.array(x[(slice(None),) * lead + (idx,)]), kinds="fib",
     variants=("basic", "mask", "dim1", "2d-index", "empty"))


def _index_put_make(rng, variant, dtype):
    x = V(rng, (5, 3), dtype)
    idx = np.array([4, 0, 2]) if variant == "basic" else np.array([1, 3, 1, 1])
    return Sample((x, idx, V(rng, (len(idx), 3), dtype)), {"accumulate": variant != "basic"},
                  grad=(0, 2))


def _index_put_fn(x, idx, v, accumulate):
    from corefw.ops.indexing import index_put

    return index_put(x, (idx,), v, accumulate)


case("index_put", _index_put_make, _index_put_fn,
     lambda x, idx, v, accumulate: R.index_put(x, (idx,), v, accumulate), kinds="fi",
     variants=("basic", "accumulate"))


def _setitem(x, idx, v, **_):
    y = x.clone()
    y[idx] = v
    return y


case("index_put_", lambda rng, variant, dtype: _index_put_make(rng, "basic", dtype), _setitem,
     lambda x, idx, v, **_: R.index_put(x, (idx,), v), kinds="fib", grad=())

# -- linalg -----------------------------------------------------------------------------------
_MATMUL = {"basic": ((3, 4), (4, 5)), "vector": ((4,), (4,)), "matvec": ((3, 4), (4,)),
           "vecmat": ((4,), (4, 5)), "batched": ((2, 1, 3, 4), (3, 4, 2)),
           "empty": ((0, 4), (4, 5)), "empty-k": ((3, 0), (0, 5)),
           "batch-mat": ((2, 2, 3), (3, 4)), "vec-batch": ((3,), (2, 3, 4)),
           "batch-vec": ((2, 2, 3), (3,)), "empty-batch": ((0, 2, 3), (3, 1)),
           "noncontig": ((4, 5), (5, 4)), "strided": ((2, 3), (3, 4)),
           "large": ((64, 128), (128, 96))}


def _matmul_make(rng, variant, dtype):
    if variant == "large" and "float" not in dtype:
        raise NotApplicable("large integer products overflow")
    sa, sb = _MATMUL[variant]
    return Sample((V(rng, sa, dtype), V(rng, sb, dtype)), grad=(0, 1))


case("matmul", _matmul_make, lambda a, b: a @ b, R.matmul, kinds="fi", variants=tuple(_MATMUL),
     tol=4.0)
_EINSUM = {  # id -> (equation, the explicit equation of the reference, operand shapes)
    "basic": ("ij,jk->ik", None, (3, 4), (4, 5)),
    "batched": ("bij,bjk->bik", None, (2, 3, 4), (2, 4, 2)),
    "outer": ("i,j->ij", None, (3,), (4,)), "trace": ("ii->", None, (3, 3)),
    "trace-implicit": ("ii", "ii->", (3, 3)), "diagonal": ("ii->i", None, (4, 4)),
    "batch-diagonal": ("bii->bi", None, (2, 3, 3)),
    "split-diagonal": ("ibi->bi", None, (3, 2, 3)),
    "sum": ("ij->", None, (3, 4)), "transpose": ("ij->ji", None, (3, 4)),
    "implicit": ("ij,jk", "ij,jk->ik", (2, 3), (3, 4)),
    "implicit-sorted": ("ba", "ba->ab", (2, 3)),
    "ellipsis": ("...ij,...jk->...ik", "zij,zjk->zik", (2, 2, 3), (2, 3, 2)),
    "ellipsis-broadcast": ("...ij,...jk->...ik", "yzij,yzjk->yzik", (2, 1, 2, 2), (2, 2, 2)),
    "bilinear": ("bn,anm,bm->ba", None, (2, 2), (2, 2, 3), (2, 3)),
    "dot": ("i,i->", None, (4,), (4,)), "noncontig": ("ij,jk->ik", None, (3, 4), (4, 5)),
}


def _einsum_make(rng, variant, dtype):
    eq, explicit, *shapes = _EINSUM[variant]
    return Sample(tuple(V(rng, s, dtype) for s in shapes),
                  {"equation": eq, "explicit": explicit or eq}, grad=tuple(range(len(shapes))))


def _einsum_ref(*ops, equation, explicit):
    """Operands of a broadcast ellipsis get leading 1s up to the explicit letters."""
    terms = explicit.split("->")[0].split(",")
    return R.einsum(explicit, *(np.reshape(a, (1,) * (len(t) - np.ndim(a)) + np.shape(a))
                                for t, a in zip(terms, ops)))


case("einsum", _einsum_make, lambda *ops, equation, explicit: corefw.einsum(equation, *ops),
     _einsum_ref, variants=tuple(_EINSUM), gradgrad=True)
