"""The ``refdev`` backend: corefw's primitives, each written here from scratch with NumPy.

Only the primitives of :mod:`corefw.ops.primitives` have kernels, so every composite (softmax,
conv2d, layer_norm, cross_entropy ...) runs through its decomposition: this backend is what a
new device looks like on its first day. Floating kernels compute in float64 and round the
result to the tensor's dtype (float32 or float64), which makes refdev a reference to compare
faster devices with. Storage is a private NumPy array: transfers copy, and results of movement
ops are copies (the backend does not declare "views").
"""

from __future__ import annotations

import json
import math

import numpy as np

DTYPES = frozenset({"bool", "int32", "int64", "float32", "float64"})
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _arr(x):
    """Kernels return arrays, never NumPy scalars."""
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def _wide(fn):
    """A float kernel computed in float64 and rounded to the input's dtype."""
    def kernel(*args, **kw):
        like = next(a for a in args if isinstance(a, np.ndarray))
        wide = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                else a for a in args]
        out = _arr(fn(*wide, **kw))
        return out.astype(like.dtype) if like.dtype.kind == "f" and out.dtype.kind == "f" \
            else out
    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


def _exact(fn):
    """An integer/bool-safe kernel: NumPy's result as an array."""
    def kernel(*args, **kw):
        return _arr(fn(*args, **kw))
    return kernel


def _binary(fn):
    """Elementwise binary op: float operands in float64, integers exactly."""
    def kernel(a, b):
        floats = [x for x in (a, b) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
        if floats:
            out = fn(np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a,
                     np.asarray(b, dtype=np.float64) if isinstance(b, np.ndarray) else b)
            out = _arr(out)
            return out.astype(floats[0].dtype) if out.dtype.kind == "f" else out
        return _arr(fn(a, b))
    return kernel


def _reduce(fn):
    def kernel(x, dim, keepdim):
        if x.dtype.kind == "f":
            return _arr(fn(x.astype(np.float64), axis=dim, keepdims=keepdim)).astype(x.dtype)
        return _arr(fn(x, axis=dim, keepdims=keepdim))
    return kernel


def _gather(x, index, dim):
    out = np.empty(index.shape, dtype=x.dtype)
    for pos in np.ndindex(*index.shape):
        src = list(pos)
        src[dim] = index[pos]
        out[pos] = x[tuple(src)]
    return out


def _scatter_add(x, index, src, dim):
    out = x.copy()
    for pos in np.ndindex(*index.shape):
        dst = list(pos)
        dst[dim] = index[pos]
        out[tuple(dst)] += src[pos]
    return out


def _index_put_(x, values, key, accumulate):
    if accumulate:
        np.add.at(x, key, values)
    else:
        x[key] = values
    return x


def _copy_(dst, src):
    dst[...] = src
    return dst


def _matmul(a, b):
    if a.dtype.kind == "f":
        return _arr(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(a.dtype)
    return _arr(np.matmul(a, b))


def _round(x):
    """Halves to even, written out: floor(x + 0.5), minus one on odd ties."""
    r = np.floor(x + 0.5)
    return np.where((r - x == 0.5) & (np.mod(r, 2) != 0), r - 1, r)


def primitive_kernels() -> dict:
    """One kernel per primitive (random ones come from the backend's generator)."""
    k = {
        "full": lambda shape, fill_value, dtype: np.full(shape, fill_value, dtype=dtype),
        "arange": lambda start, end, step, dtype: np.array(
            [start + i * step for i in range(max(0, math.ceil((end - start) / step)))],
            dtype=np.float64).astype(dtype),
        "clone": lambda x: x.copy(),
        "cast": lambda x, dtype: (np.trunc(x) if x.dtype.kind == "f" and
                                  np.dtype(dtype).kind in "iu" else x).astype(dtype),
        "copy_": _copy_,
        "erf": _wide(_erf), "round": _wide(_round),
        "bitwise_not": _exact(lambda x: ~x),
        "where": lambda c, a, b: _arr(np.where(c, a, b)),
        "sum": _reduce(np.sum), "prod": _reduce(np.prod), "amax": _reduce(np.max),
        "amin": _reduce(np.min),
        "argmax": lambda x, dim, keepdim: _arr(np.argmax(x, axis=dim, keepdims=keepdim)),
        "argmin": lambda x, dim, keepdim: _arr(np.argmin(x, axis=dim, keepdims=keepdim)),
        "cumsum": lambda x, dim: (np.cumsum(x.astype(np.float64), axis=dim).astype(x.dtype)
                                  if x.dtype.kind == "f" else np.cumsum(x, axis=dim)),
        "reshape": lambda x, shape: x.reshape(shape).copy(),
        "permute": lambda x, dims: np.transpose(x, dims).copy(),
        "expand": lambda x, shape: np.broadcast_to(x, shape).copy(),
        "flip": lambda x, dims: np.flip(x, dims).copy(),
        "slice": lambda x, key: np.array(x[key], copy=True),
        "pad": lambda x, pad, value: np.pad(x, pad, constant_values=value),
        "cat": lambda *xs, dim: np.concatenate(xs, axis=dim),
        "gather": _gather, "scatter_add": _scatter_add,
        "nonzero": lambda x: np.argwhere(x).astype(np.int64),
        "index": lambda x, key: np.array(x[key], copy=True),
        "index_put": lambda x, values, key, accumulate: _index_put_(x.copy(), values, key,
                                                                    accumulate),
        "index_put_": _index_put_,
        "matmul": _matmul,
    }
    for name, fn in {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
                     "sin": np.sin, "cos": np.cos, "floor": np.floor,
                     "ceil": np.ceil}.items():
        k[name] = _wide(fn)
    for name, fn in {"neg": np.negative, "abs": np.abs, "sign": np.sign}.items():
        k[name] = _exact(fn)
    for name, fn in {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                     "div": np.true_divide, "pow": np.power, "maximum": np.maximum,
                     "minimum": np.minimum, "floor_divide": np.floor_divide,
                     "remainder": np.remainder, "eq": np.equal, "ne": np.not_equal,
                     "lt": np.less, "le": np.less_equal, "gt": np.greater,
                     "ge": np.greater_equal, "bitwise_and": np.bitwise_and,
                     "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor}.items():
        k[name] = _binary(fn)
    return k


class RefBackend:
    """Device type ``refdev``: one device, host memory, primitives only."""

    device_type = "refdev"
    name = "numpy-reference"
    dtypes = DTYPES
    capabilities = frozenset({"broadcast", "inplace", "random"})

    def __init__(self) -> None:
        self.kernels = primitive_kernels()
        self._rng = np.random.Generator(np.random.PCG64(0))
        self.kernels.update({
            "uniform": lambda shape, low, high, dtype: np.minimum(
                self._rng.random(shape) * (high - low) + low,
                np.nextafter(high, low)).astype(dtype),
            "normal": lambda shape, mean, std, dtype: (
                self._rng.standard_normal(shape) * std + mean).astype(dtype),
            "randint": lambda shape, low, high, dtype: self._rng.integers(
                low, high, size=shape).astype(dtype),
            "randperm": lambda n, dtype: self._rng.permutation(n).astype(dtype),
        })

    # -- device -------------------------------------------------------------------------------
    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def device_count(self) -> int:
        return 1

    def device_context(self, index: int):
        return None

    def from_host(self, array, index: int = 0):
        return np.array(array, copy=True)  # refdev owns its storage

    def to_host(self, array):
        return np.array(array, copy=True)

    def synchronize(self, index: int | None = None) -> None:
        return None

    def memory_stats(self, index: int = 0) -> dict[str, int]:
        return {}

    # -- random -------------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(int(seed)))

    def get_rng_state(self):
        raw = json.dumps(self._rng.bit_generator.state).encode()
        return np.frombuffer(raw, dtype=np.uint8).copy()

    def set_rng_state(self, state) -> None:
        self._rng.bit_generator.state = json.loads(np.asarray(state, np.uint8).tobytes())

    def __repr__(self) -> str:
        return "<RefBackend device type 'refdev'>"
