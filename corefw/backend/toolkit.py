"""The backend toolkit: a complete kernel table from any NumPy-like array module ``xp``.

``ArrayModuleBackend(xp, ...)`` implements :class:`~corefw.backend.protocol.Backend` for numpy,
cupy, or any module with NumPy's API (Chainer's ``get_array_module`` idea), so corefw-cpu and
corefw-cuda share this code and a third party can start from it. Subclasses add fast kernels
for composites by updating ``self.kernels``. Tested by the conformance kit against an
independent float64 reference, never against itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np

__all__ = ["ArrayModuleBackend", "array_kernels", "composite_kernels"]


def _as_array(xp, fn):
    """NumPy returns scalars for 0-d results; kernels must return arrays."""
    nd = xp.ndarray
    asarray = xp.asarray

    def kernel(*args, **kwargs):
        r = fn(*args, **kwargs)
        return r if r.__class__ is nd else asarray(r)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


def array_kernels(xp, *, erf: Callable, add_at: Callable) -> dict[str, Callable]:
    """Kernels for every primitive except the random ones, written once against ``xp``."""
    a = lambda fn: _as_array(xp, fn)  # noqa: E731

    def copy_(dst, src):  # in place: returns dst itself (backends with "inplace")
        dst[...] = src
        return dst

    def gather(x, index, dim):
        if any(i != dim and s != x.shape[i] for i, s in enumerate(index.shape)):
            x = x[tuple(slice(None) if i == dim else slice(0, s)
                        for i, s in enumerate(index.shape))]
        return xp.take_along_axis(x, index, axis=dim)

    def _grid(index, dim):
        grid = list(xp.ogrid[tuple(slice(s) for s in index.shape)])
        grid[dim] = index
        return tuple(grid)

    def scatter_add(x, index, src, dim):
        out = x.copy()
        add_at(out, _grid(index, dim), src[tuple(slice(s) for s in index.shape)])
        return out

    # operands first, attributes by keyword, as the dispatcher calls every kernel
    def index_put(x, values, key, accumulate):
        out = x.copy()
        return index_put_(out, values, key, accumulate)

    def index_put_(x, values, key, accumulate):
        if accumulate:
            add_at(x, key, values)
        else:
            x[key] = values
        return x

    def reduce(fn):
        return a(lambda x, dim, keepdim: fn(x, axis=dim, keepdims=keepdim))

    kernels = {
        "full": lambda shape, fill_value, dtype: xp.full(shape, fill_value, dtype=dtype),
        "arange": lambda start, end, step, dtype: xp.arange(start, end, step, dtype=dtype),
        "clone": lambda x: x.copy(),
        "cast": lambda x, dtype: x.astype(dtype),
        "copy_": copy_,
        "erf": a(lambda x: erf(x).astype(x.dtype, copy=False)),  # SciPy has no float16 loop
        "sum": reduce(xp.sum), "prod": reduce(xp.prod), "amax": reduce(xp.max),
        "amin": reduce(xp.min),
        "argmax": a(lambda x, dim, keepdim: xp.argmax(x, axis=dim, keepdims=keepdim)),
        "argmin": a(lambda x, dim, keepdim: xp.argmin(x, axis=dim, keepdims=keepdim)),
        "cumsum": lambda x, dim: (xp.cumsum(x, axis=dim, dtype=xp.float32).astype(x.dtype)
                                  if x.dtype == xp.float16 else xp.cumsum(x, axis=dim)),
        "reshape": lambda x, shape: xp.reshape(x, shape),
        "permute": lambda x, dims: xp.transpose(x, dims),
        "expand": lambda x, shape: xp.broadcast_to(x, shape),
        "flip": lambda x, dims: xp.flip(x, dims).copy(),  # not a view op: new memory
        "slice": a(lambda x, key: x[key]),
        "pad": lambda x, pad, value: xp.pad(x, pad, constant_values=value),
        "cat": lambda *xs, dim: xp.concatenate(xs, axis=dim),
        "gather": gather, "scatter_add": scatter_add,
        "nonzero": lambda x: xp.argwhere(x).astype(xp.int64),
        "index": a(lambda x, key: x[key]),
        "index_put": index_put, "index_put_": index_put_,
        "matmul": a(xp.matmul),
        "where": a(xp.where),
    }
    for name, fn in {
        "neg": xp.negative, "exp": xp.exp, "log": xp.log, "sqrt": xp.sqrt, "tanh": xp.tanh,
        "sin": xp.sin, "cos": xp.cos, "abs": xp.abs, "sign": xp.sign, "floor": xp.floor,
        "ceil": xp.ceil, "round": xp.round, "bitwise_not": xp.invert,
        "add": xp.add, "sub": xp.subtract, "mul": xp.multiply, "div": xp.true_divide,
        "pow": xp.power, "maximum": xp.maximum, "minimum": xp.minimum,
        "floor_divide": xp.floor_divide, "remainder": xp.remainder,
        "eq": xp.equal, "ne": xp.not_equal, "lt": xp.less, "le": xp.less_equal,
        "gt": xp.greater, "ge": xp.greater_equal, "bitwise_and": xp.bitwise_and,
        "bitwise_or": xp.bitwise_or, "bitwise_xor": xp.bitwise_xor,
    }.items():
        kernels[name] = a(fn)
    return kernels


def composite_kernels(xp) -> dict[str, Callable]:
    """Faster kernels for common composites (one pass instead of a chain of primitives)."""
    a = lambda fn: _as_array(xp, fn)  # noqa: E731

    def softmax(x, dim):
        e = xp.exp(x - xp.max(x, axis=dim, keepdims=True))
        e /= xp.sum(e, axis=dim, keepdims=True)
        return e

    def log_softmax(x, dim):
        s = x - xp.max(x, axis=dim, keepdims=True)
        s -= xp.log(xp.sum(xp.exp(s), axis=dim, keepdims=True))
        return s

    def logsumexp(x, dim, keepdim):
        m = xp.max(x, axis=dim, keepdims=True)
        m = xp.where(xp.isinf(m), 0, m)
        out = xp.log(xp.sum(xp.exp(x - m), axis=dim, keepdims=True)) + m
        return out if keepdim else xp.squeeze(out, axis=dim)

    def sigmoid(x):  # exp of -|x| only: no overflow for large negative inputs
        z = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)

    def clamp(x, min=None, max=None):  # noqa: A002
        return xp.clip(x, min, max)

    def softplus(x, beta=1.0, threshold=20.0):
        bx = x * beta
        return xp.where(bx > threshold, x, (xp.logaddexp(0, bx) / beta).astype(x.dtype))

    def einsum(*ops, equation):
        out = xp.einsum(equation, *ops)
        # one operand relabelled (a transpose, a diagonal) comes back as a view of it
        return out.copy() if len(ops) == 1 and getattr(out, "base", None) is not None else out

    return {
        "relu": a(lambda x: xp.maximum(x, 0)),
        "sigmoid": sigmoid,
        "log1p": a(xp.log1p), "expm1": a(xp.expm1),
        "rsqrt": a(lambda x: 1 / xp.sqrt(x)), "reciprocal": a(lambda x: 1 / x),
        "tan": a(xp.tan), "clamp": a(clamp), "softplus": a(softplus),
        "softmax": a(softmax), "log_softmax": a(log_softmax), "logsumexp": a(logsumexp),
        "einsum": a(einsum),
    }


class ArrayModuleBackend:
    """A :class:`~corefw.backend.protocol.Backend` over a NumPy-like module ``xp``.

    ``xp`` needs NumPy's array API for what the kernels call, with int64 and the dtypes in
    :attr:`dtypes`; its arrays must be mutable and slice into views (the toolkit's ``copy_``
    and ``index_put_`` assign in place). ``erf(x)`` is the elementwise error function in
    ``x``'s dtype (default: ``math.erf`` vectorised on the host, slow). ``add_at(x, key,
    values)`` is the unbuffered in-place ``x[key] += values`` where repeated indices
    accumulate (default ``xp.add.at``). ``rng_factory(seed)`` makes the random generator
    (default: a ``Generator`` over ``PCG64`` from ``xp``'s own ``random`` namespace); it must
    provide NumPy ``Generator``'s ``random(shape)``, ``standard_normal(shape)``,
    ``integers(low, high, size=shape)``, ``permutation(n)`` and a readable, assignable
    ``bit_generator.state`` dict. docs/plugins.md has the full contract.
    """

    #: mutable arrays that slice into views, as NumPy's and CuPy's (docs/plugins.md, "What the
    #: capabilities mean"); a subclass over an immutable library declares fewer
    capabilities = frozenset({"broadcast", "views", "inplace", "random"})
    #: the compiler ``corefw.compile`` uses for this device by default (plugin API 1.2; see
    #: corefw.backend.Backend): a subclass names one it registers, None means ``replay``
    default_compiler: str | None = None
    dtypes = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64", "float16",
                        "float32", "float64"})

    def __init__(self, xp, *, device_type: str, name: str, erf: Callable | None = None,
                 add_at: Callable | None = None, rng_factory: Callable | None = None) -> None:
        self.xp = xp
        self.device_type = device_type
        self.name = name
        erf = erf or _vectorized_erf(xp)
        add_at = add_at or xp.add.at
        self._rng_factory = rng_factory or (lambda s: xp.random.Generator(xp.random.PCG64(s)))
        self.rng = self._rng_factory(0)
        self.kernels: dict[str, Callable] = array_kernels(xp, erf=erf, add_at=add_at)
        self.kernels.update(composite_kernels(xp))
        self.kernels.update(self._random_kernels())

    # -- random ---------------------------------------------------------------------------
    def _random_kernels(self) -> dict[str, Callable]:
        xp = self.xp

        def uniform(shape, low, high, dtype):
            out = self.rng.random(shape)
            if low != 0.0 or high != 1.0:
                out = out * (high - low) + low
            out = xp.asarray(out, dtype=dtype)
            # rounding to a narrow dtype can reach `high`; the interval is [low, high)
            top = xp.nextafter(xp.asarray(high, dtype), xp.asarray(low, dtype))
            return xp.minimum(out, top)

        def normal(shape, mean, std, dtype):
            out = self.rng.standard_normal(shape)
            if mean != 0.0 or std != 1.0:
                out = out * std + mean
            return xp.asarray(out, dtype=dtype)

        def randint(shape, low, high, dtype):
            return xp.asarray(self.rng.integers(low, high, size=shape), dtype=dtype)

        def randperm(n, dtype):
            return xp.asarray(self.rng.permutation(n), dtype=dtype)

        return {"uniform": uniform, "normal": normal, "randint": randint, "randperm": randperm}

    def manual_seed(self, seed: int) -> None:
        self.rng = self._rng_factory(int(seed))

    def get_rng_state(self) -> np.ndarray:
        from .._random import encode_state

        return encode_state(self.rng.bit_generator.state)

    def set_rng_state(self, state: np.ndarray) -> None:
        from .._random import decode_state

        self.rng.bit_generator.state = decode_state(state)

    # -- device ---------------------------------------------------------------------------
    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> str | None:
        return None

    def device_count(self) -> int:
        return 1

    def device_context(self, index: int) -> AbstractContextManager | None:
        return None

    def from_host(self, array: np.ndarray, index: int = 0):
        return self.xp.asarray(array)

    def is_contiguous(self, array) -> bool:
        """Dense, row-major and writable (an expanded array is none of these)."""
        flags = array.flags  # CuPy's flags have no "writeable": its arrays always are
        return bool(flags.c_contiguous and getattr(flags, "writeable", True))

    def to_host(self, array) -> np.ndarray:
        return np.asarray(array)

    def synchronize(self, index: int | None = None) -> None:
        return None

    def memory_stats(self, index: int = 0) -> dict[str, int]:
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} device type {self.device_type!r}>"


def _vectorized_erf(xp):
    scalar = np.vectorize(math.erf, otypes=[np.float64])

    def erf(x):
        return xp.asarray(scalar(np.asarray(x)), dtype=x.dtype)

    return erf
