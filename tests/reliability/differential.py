"""Differential fuzzing of corefw's ops against the float64 references of the conformance kit.

An :class:`Op` pairs a corefw call with a reference written in plain NumPy, mostly the kit's own
(:mod:`corefw.testing.reference`, :mod:`corefw.testing.reference_nn`). :func:`outcome` runs both
on the same inputs and classifies the result:

* ``"match"``: corefw's result has the reference's shape and values (nan where it has nan,
  within the tolerance of corefw's result dtype);
* ``"typed"``: corefw raised a :class:`~corefw.errors.CorefwError` (the reference may compute
  something, e.g. numpy's 0 for an integer division by zero; refusing is allowed);
* anything else is a failure: ``"untyped: ..."`` (an error that is not corefw's),
  ``"silent: ..."`` (the reference raised but corefw returned), ``"mismatch: ..."``.

``python tests/reliability/differential.py N`` prints the counts of N random cases (the figures
in docs/reliability.md); tests/reliability/test_fuzz_ops.py runs a bounded hypothesis search.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import corefw
import corefw.nn.functional as F
from corefw.errors import CorefwError
from corefw.testing import reference as R
from corefw.testing import reference_nn as RN

FLOATS = ("float32", "float64")
DTYPES = ("float32", "float64", "int64", "int8", "bool")
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -0.0)


@dataclass(frozen=True)
class Op:
    """``fn(*tensors, **attrs)`` checked against ``ref(*arrays, **attrs)``; ``arity`` tensors,
    ``attrs`` drawn by :func:`draw_attrs` from their kind."""

    name: str
    arity: int
    fn: Callable
    ref: Callable
    attrs: tuple[str, ...] = ()


def _f(x):
    return np.asarray(x, dtype=np.float64)


def _unary(name, ref):
    return Op(name, 1, getattr(corefw, name) if hasattr(corefw, name) else getattr(F, name),
              ref)


def _reduce(name, ref):
    return Op(name, 1, lambda x, dim: getattr(corefw, name)(x, dim=dim), ref, ("dim",))


def _softmax_ref(fn):
    def ref(x, dim):
        x = np.asarray(x)
        axis = _dim_or_none(dim, x.ndim)
        if x.size == 0:
            return _f(x)
        return fn(_f(x), axis) if x.ndim else np.asarray(fn(_f(x).reshape(1), 0)[0])
    return ref


def _mean_ref(x, dim):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError("mean needs a float input")
    return np.mean(_f(x), axis=_dim_or_none(dim, x.ndim))


def _dim_or_none(dim, ndim):
    if dim is None:
        return None
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError("dim out of range")
    return dim % rank if ndim else None


def _red(fn):
    def ref(x, dim):
        x = np.asarray(x)
        axis = _dim_or_none(dim, x.ndim)
        if x.size == 0 and fn in (R.amax, R.amin, R.argmax, R.argmin) and (
                axis is None or x.shape[axis] == 0):
            raise ValueError("max of an empty tensor")
        return fn(x, axis)
    return ref


def _cumsum_ref(x, dim):
    x = np.asarray(x)
    axis = _dim_or_none(0 if dim is None else dim, x.ndim)
    acc = x.astype(np.int64) if x.dtype.kind in "iub" else _f(x)
    return np.cumsum(acc, axis=axis) if x.ndim else acc


def _gather_ref(x, dim, index):
    x, index = np.asarray(x), np.asarray(index)
    if x.ndim != index.ndim:
        raise ValueError("rank")
    d = _dim_or_none(dim, x.ndim) or 0
    if x.ndim == 0:
        if int(index) != 0:
            raise IndexError("out of range")
        return x.copy()
    if index.size and (index.min() < 0 or index.max() >= x.shape[d]):
        raise IndexError("out of range")
    for k in range(x.ndim):
        if k != d and index.shape[k] > x.shape[k]:
            raise IndexError("index larger than input")
    return R.gather(x, d, index)


def _index_select_ref(x, dim, index):
    x, index = np.asarray(x), np.asarray(index)
    d = _dim_or_none(dim, x.ndim) or 0
    if index.ndim > 1:
        raise IndexError("index must be 0-d or 1-D")
    n = x.shape[d] if x.ndim else 1
    if index.size and (index.min() < 0 or index.max() >= n):
        raise IndexError("out of range")
    if x.ndim == 0:
        return x.reshape(1)[index.reshape(-1)].reshape(index.shape)
    return np.take(x, index.reshape(-1), axis=d)


def _linear_ref(x, w):
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim == 0 or w.ndim != 2 or x.dtype != w.dtype:
        raise TypeError("linear needs operands of one dtype, at least 1-D, weight 2-D")
    return R.matmul(x, w.T)


def _matmul_ref(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        raise TypeError("matmul needs at least 1-D operands")
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return R.matmul(_f(a), _f(b))
    return R.matmul(a.astype(np.int64), b.astype(np.int64))


def _conv_ref(x, w, stride, padding):
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim == 3:  # unbatched (C, H, W)
        return _conv_ref(x[None], w, stride, padding)[0]
    if x.ndim != 4 or w.ndim != 4 or x.dtype.kind != "f" or x.dtype != w.dtype:
        raise TypeError("conv2d needs 4-D float operands of one dtype")
    if stride < 1 or padding < 0 or x.shape[1] != w.shape[1]:
        raise ValueError("bad conv")
    h = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
    wo = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1
    if h < 1 or wo < 1 or 0 in x.shape[:2] or 0 in w.shape:
        raise ValueError("empty conv")
    return RN.conv2d(_f(x), _f(w), None, (stride, stride), ((padding, padding),) * 2, (1, 1), 1)


def _setitem_fn(x, i, v):
    y = x.clone()
    y[i] = v
    return y


def _setitem_ref(x, i, v):
    x = np.array(x, copy=True)
    if x.ndim == 0:
        raise IndexError("0-d")
    if not -x.shape[0] <= i < x.shape[0]:
        raise IndexError("out of range")
    if x.dtype.kind in "iu" and not np.iinfo(x.dtype).min <= v <= np.iinfo(x.dtype).max:
        raise OverflowError("does not fit")
    x[i] = bool(v) if x.dtype.kind == "b" else v  # any number stores as a bool, as PyTorch
    return x


def _int_pow_ref(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        if (b < 0).any() and 0 not in np.broadcast_shapes(a.shape, b.shape):
            raise ValueError("integers to negative integer powers")
        return np.power(a.astype(np.int64), b.astype(np.int64))
    return np.power(_f(a), _f(b))


def _py_float(op):
    """Float floor division / remainder with Python's semantics element by element (what
    PyTorch computes, infinities included: ``1.0 // -inf == -1.0``); the kit's textbook
    ``floor(a / b)`` differs only for infinite operands."""
    def one(a, b):
        if b == 0 or a != a or b != b:
            return np.floor(np.float64(a) / np.float64(b)) if op == "floor_divide" else np.nan
        return a // b if op == "floor_divide" else a % b
    vec = np.vectorize(one, otypes=[np.float64])
    exact = R.floor_divide if op == "floor_divide" else R.remainder

    def ref(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "iub" and b.dtype.kind in "iub":
            return exact(a.astype(np.int64), b.astype(np.int64))
        return vec(_f(a).astype(float), _f(b).astype(float))
    return ref


def _int_first(fn):
    """Integer operands keep integer semantics (the reference's own), floats go float64."""
    def ref(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "iub" and b.dtype.kind in "iub":
            return fn(a.astype(np.int64), b.astype(np.int64))
        return fn(_f(a), _f(b))
    return ref


def _no_bool(fn):
    """corefw computes on bools as on the integers 0 and 1 (PyTorch refuses some of these;
    the value is right either way)."""
    def ref(*xs, **kw):
        return fn(*[np.asarray(x).astype(np.int64) if np.asarray(x).dtype.kind == "b" else x
                    for x in xs], **kw)
    return ref


def _float_only(fn):
    """Integer inputs are computed on as floats (corefw promotes; the value is right)."""
    def ref(*xs, **kw):
        return fn(*[_f(x) for x in xs], **kw)
    return ref


OPS: tuple[Op, ...] = (
    _unary("neg", _no_bool(lambda x: -np.asarray(x))),
    _unary("abs", _no_bool(lambda x: np.abs(np.asarray(x)))),
    _unary("exp", lambda x: np.exp(_f(x))),
    _unary("log", lambda x: np.log(_f(x))),
    _unary("sqrt", lambda x: np.sqrt(_f(x))),
    _unary("tanh", lambda x: np.tanh(_f(x))),
    _unary("sin", lambda x: np.sin(_f(x))),
    _unary("sigmoid", R.sigmoid),
    _unary("relu", _no_bool(lambda x: np.maximum(np.asarray(x), 0))),
    _unary("floor", _no_bool(lambda x: np.floor(np.asarray(x)))),
    _unary("erf", R.erf),
    Op("gelu", 1, F.gelu, _float_only(R.gelu)),
    Op("silu", 1, F.silu, _float_only(R.silu)),
    Op("add", 2, corefw.add, _int_first(np.add)),
    Op("sub", 2, corefw.sub, _no_bool(_int_first(np.subtract))),
    Op("mul", 2, corefw.mul, _int_first(np.multiply)),
    Op("div", 2, corefw.div, lambda a, b: _f(a) / _f(b)),
    Op("maximum", 2, corefw.maximum, _int_first(np.maximum)),
    Op("pow", 2, corefw.pow, _int_pow_ref),
    Op("floor_divide", 2, corefw.floor_divide, _py_float("floor_divide")),
    Op("remainder", 2, corefw.remainder, _py_float("remainder")),
    Op("lt", 2, corefw.lt, lambda a, b: _f(a) < _f(b)),
    Op("eq", 2, corefw.eq, lambda a, b: _f(a) == _f(b)),
    _reduce("sum", lambda x, dim: R.sum(x, _dim_or_none(dim, np.ndim(x)))),
    _reduce("amax", _red(R.amax)),
    _reduce("argmax", _red(R.argmax)),
    Op("mean", 1, lambda x, dim: corefw.mean(x, dim=dim), _mean_ref, ("dim",)),
    Op("cumsum", 1, lambda x, dim: corefw.cumsum(x, dim=0 if dim is None else dim),
       _cumsum_ref, ("dim",)),
    Op("softmax", 1, lambda x, dim: corefw.softmax(x, dim=0 if dim is None else dim),
       lambda x, dim: _softmax_ref(R.softmax)(x, 0 if dim is None else dim), ("dim",)),
    Op("log_softmax", 1, lambda x, dim: F.log_softmax(x, dim=0 if dim is None else dim),
       lambda x, dim: _softmax_ref(R.log_softmax)(x, 0 if dim is None else dim), ("dim",)),
    Op("matmul", 2, corefw.matmul, _matmul_ref),
    Op("linear", 2, F.linear, _linear_ref),
    Op("gather", 2, lambda x, i, dim: corefw.gather(x, 0 if dim is None else dim, i),
       lambda x, i, dim: _gather_ref(x, 0 if dim is None else dim, i), ("dim", "index")),
    Op("index_select", 2,
       lambda x, i, dim: corefw.index_select(x, 0 if dim is None else dim, i),
       lambda x, i, dim: _index_select_ref(x, 0 if dim is None else dim, i), ("dim", "index")),
    Op("setitem", 1, _setitem_fn, _setitem_ref, ("position", "value")),
    Op("conv2d", 2, lambda x, w, stride, padding: F.conv2d(x, w, None, stride, padding),
       _conv_ref, ("stride", "padding")),
)
BY_NAME = {op.name: op for op in OPS}


def values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str,
           specials: bool) -> np.ndarray:
    """Small values of ``dtype`` (so integer ops never overflow), floats sprinkled with nan,
    inf, -inf and -0.0 when ``specials``."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("int64", "int8"):
        return rng.integers(-4, 5, size=shape).astype(dtype)
    arr = rng.uniform(-3, 3, size=shape).astype(dtype)
    if specials and arr.size:
        flat = arr.reshape(-1)
        for i in rng.choice(flat.size, size=min(2, flat.size), replace=False):
            flat[i] = SPECIALS[rng.integers(len(SPECIALS))]
    return arr


def _close(got: np.ndarray, want: np.ndarray, dtype) -> str | None:
    want = np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape} != reference {want.shape}"
    if got.dtype.kind == "b" and want.dtype.kind in "iu":
        want = want != 0  # bool arithmetic: True + True is True, as in PyTorch
    if got.dtype.kind == "b" or want.dtype.kind in "iub" and got.dtype.kind in "iub":
        return None if np.array_equal(got.astype(np.int64), want.astype(np.int64)) else (
            f"{got.tolist()} != {want.tolist()}")
    g, w = got.astype(np.float64), want.astype(np.float64)
    if dtype == np.float32 or got.dtype == np.float32:
        w = w.astype(np.float32).astype(np.float64)  # overflow to inf as float32 does
        rtol, atol = 1e-4, 1e-5
    else:
        rtol, atol = 1e-9, 1e-12
    same_nan = np.isnan(g) == np.isnan(w)
    inf = np.isinf(w) | np.isinf(g)
    ok = same_nan & np.where(inf, g == w, np.isclose(g, w, rtol=rtol, atol=atol)
                             | np.isnan(w))
    return None if ok.all() else f"{got.tolist()} != reference {want.tolist()}"


def outcome(op: Op, arrays: list[np.ndarray], attrs: dict) -> str:
    """Run ``op`` through corefw and its reference; see the module docstring."""
    try:
        with np.errstate(all="ignore"):
            want = op.ref(*[a.copy() for a in arrays], **attrs)
        ref_error = None
    except Exception as e:  # noqa: BLE001 - the reference's refusal is data here
        want, ref_error = None, e
    try:
        with np.errstate(all="ignore"):
            tensors = [corefw.tensor(a) for a in arrays]
            got = op.fn(*tensors, **attrs)
    except CorefwError:
        return "typed"
    except Exception as e:  # noqa: BLE001
        return f"untyped: {type(e).__name__}: {e}"
    if ref_error is not None:
        return f"silent: the reference raised {type(ref_error).__name__} ({ref_error})"
    got_np = np.asarray(got.detach().numpy())
    with np.errstate(all="ignore"):
        bad = _close(got_np, want, arrays[0].dtype if arrays else None)
    return "match" if bad is None else f"mismatch: {bad}"


def random_case(rng: np.random.Generator) -> tuple[Op, list[np.ndarray], dict]:
    """One random (op, input arrays, attributes), with 0-d, empty and broadcast shapes."""
    op = OPS[rng.integers(len(OPS))]
    dtype = DTYPES[rng.integers(len(DTYPES))]
    shape = tuple(int(s) for s in rng.integers(0, 4, size=rng.integers(0, 4)))
    specials = bool(rng.random() < 0.3)
    arrays = [values(rng, shape, dtype, specials)]
    attrs: dict = {}
    if op.arity == 2:
        if op.name in ("gather", "index_select"):
            ishape = shape if rng.random() < 0.7 else tuple(
                int(s) for s in rng.integers(0, 3, size=rng.integers(0, 3)))
            arrays.append(rng.integers(-2, 4, size=ishape).astype(np.int64))
        elif op.name == "conv2d":
            dtype2 = dtype if rng.random() < 0.8 else DTYPES[rng.integers(len(DTYPES))]
            arrays = [values(rng, (1, 2, 4, 4), dtype, specials),
                      values(rng, (3, 2, 2, 2), dtype2, False)]
            if rng.random() < 0.3:
                arrays[0] = arrays[0].reshape(2, 4, 4)
        else:
            other = shape if rng.random() < 0.5 else shape[rng.integers(0, len(shape) + 1):]
            if rng.random() < 0.2:
                other = tuple(int(s) for s in rng.integers(0, 4, size=rng.integers(0, 3)))
            dtype2 = dtype if rng.random() < 0.6 else DTYPES[rng.integers(len(DTYPES))]
            if op.name == "linear":
                other = (3, shape[-1] if shape else 2)
            arrays.append(values(rng, other, dtype2, specials))
    if "dim" in op.attrs:
        attrs["dim"] = None if rng.random() < 0.2 else int(rng.integers(-3, 4))
    if "position" in op.attrs:
        attrs["i"] = int(rng.integers(-3, 4))
        attrs["v"] = int(rng.choice([0, 1, 5, -7, 127, 128, 300, -129]))
    if "stride" in op.attrs:
        attrs["stride"] = int(rng.integers(0, 3))
        attrs["padding"] = int(rng.integers(-1, 2))
    if op.name == "setitem":
        attrs = {"i": attrs["i"], "v": attrs["v"]}
    return op, arrays, attrs


def run(n: int, seed: int = 0) -> dict[str, int]:
    """Counts of the outcomes of ``n`` random cases, failures listed under their message."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for _ in range(n):
        op, arrays, attrs = random_case(rng)
        res = outcome(op, arrays, attrs)
        key = res if res in ("match", "typed") else f"{op.name}: {res[:160]}"
        counts[key] = counts.get(key, 0) + 1
    return counts


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    for key, count in sorted(run(n).items(), key=lambda kv: -kv[1]):
        print(f"{count:6d}  {key}")
