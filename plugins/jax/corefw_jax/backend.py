"""The ``jax`` backend: corefw's toolkit over ``jax.numpy``, with JAX's differences handled.

What differs from NumPy (docs/plugins.md, "What ``ArrayModuleBackend`` needs from the array
module"), and what this file does about it:

- arrays are immutable: ``copy_``, ``index_put``/``index_put_`` and ``scatter_add`` return
  updated copies (``x.at[key].set/add``), and the backend declares neither ``"inplace"`` nor
  ``"views"``, so the core functionalizes in-place ops;
- out-of-range indices are clamped by JAX, silently: the indexing kernels check bounds first
  and raise IndexError, as NumPy does;
- 64-bit types need ``jax_enable_x64``, switched on when the backend is first used;
- the random stream is a NumPy ``Generator`` on the host (``rng_factory``), so seeded values
  equal the cpu backend's and the state is NumPy's;
- eager JAX compiles one XLA executable per primitive and shape: the native arrays are lazy
  (``_lazy.LazyArray``, shape and dtype known at once), and every run of kernels between two
  reads of a value is compiled as one ``jax.jit`` graph, cached by its structure.

jax is imported on first use only; registering the backend costs nothing.
"""

from __future__ import annotations

import importlib.util
import threading
from contextlib import AbstractContextManager

import numpy as np

__all__ = ["JaxBackend"]

DTYPES = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32",
                    "float64"})


#: set by corefw_jax.compiler while ``jax.jit`` traces a graph: ``DEFERRED.checks`` is a list,
#: and a host check (index bounds, target range) whose arguments are traced (no values yet)
#: is appended to it as ``(check, args)`` instead of run; the compiler runs it on the call's
#: values
DEFERRED = threading.local()


def _check_bounds(key, shape, op: str) -> None:
    """IndexError for an integer-array index outside ``-size..size-1`` (JAX would clamp)."""
    parts = key if isinstance(key, tuple) else (key,)
    if any(p is Ellipsis for p in parts):
        fill = len(shape) - sum(p is not None and p is not Ellipsis for p in parts)
        i = next(i for i, p in enumerate(parts) if p is Ellipsis)
        parts = parts[:i] + (slice(None),) * fill + parts[i + 1:]
    dim = 0
    for p in parts:
        if p is None:
            continue
        kind = getattr(getattr(p, "dtype", None), "kind", None)
        if kind in ("i", "u") and getattr(p, "size", 1) and dim < len(shape):
            host = np.asarray(p)  # on the host: no XLA compile per index shape
            lo, hi = int(host.min()), int(host.max())
            n = shape[dim]
            if lo < -n or hi >= n:
                bad = hi if hi >= n else lo
                raise IndexError(f"{op}: index {bad} is out of bounds for axis {dim} with "
                                 f"size {n}")
        dim += p.ndim if kind == "b" else 1


def _check_targets(target, ignore_index: int, n_classes: int, op: str) -> None:
    """IndexError for a class index outside ``0..n_classes-1`` (not ``ignore_index``): the
    message of corefw's loss front end (which skips its check while compiling)."""
    t = np.asarray(target)
    bad = t[(t != ignore_index) & ((t < 0) | (t >= n_classes))]
    if bad.size:
        raise IndexError(f"{op}: target {int(bad[0])} is out of bounds for {n_classes} classes "
                         f"(valid: 0..{n_classes - 1}, or ignore_index={ignore_index})")


def _is_mask(p) -> bool:
    """A boolean array of 1+ dims inside an indexing key."""
    dtype = getattr(p, "dtype", None)
    return dtype is not None and np.dtype(dtype) == np.bool_ and getattr(p, "ndim", 0) > 0


def _consumes(p) -> int:
    """How many of the indexed array's dims a key part indexes."""
    if p is None or p is Ellipsis or type(p) is bool:
        return 0
    ndim = getattr(p, "ndim", None)
    if ndim is not None and np.dtype(p.dtype) == np.bool_:
        return ndim  # a mask; a 0-d bool adds an axis, as None does
    return 1


def _numpy_errors(fn):
    """JAX reports a broadcast failure as TypeError; NumPy (and corefw's error mapping,
    docs/plugins.md "What kernel errors become") say ValueError, which becomes ShapeError."""

    def kernel(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError as exc:
            if "broadcast" in str(exc):
                raise ValueError(f"operands could not be broadcast together: {exc}") from exc
            raise

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


def _zero_d(fn):
    """NumPy accepts ``axis=0`` on a 0-d array (corefw passes ``dim=0`` for a 0-d tensor);
    jax.numpy does not: run those on a 1-element view and drop the axis again."""

    def kernel(x, *args, **kwargs):
        if x.ndim:
            return fn(x, *args, **kwargs)
        return fn(x.reshape(1), *args, **kwargs).reshape(())

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    return kernel


#: kernels that stay eager: host random streams and data-dependent shapes
_HOST = frozenset({"uniform", "normal", "randint", "randperm"})
#: elementwise kernels whose Python scalar operands are traced (one executable for every
#: value); ``pow`` keeps its exponent static (JAX's exact integer powers for ``x ** 2``)
_SCALAR_OPERANDS = frozenset({
    "add", "sub", "mul", "div", "maximum", "minimum", "floor_divide", "remainder", "eq", "ne",
    "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or", "bitwise_xor", "where", "full"})


def _skip_identity(op: str, fn):
    """``reshape``/``expand`` to the same shape, ``permute`` by the identity: the array itself
    (view ops, and JAX arrays are immutable), without a compiled call."""
    attr = "dims" if op == "permute" else "shape"

    def kernel(x, **attrs):
        want = attrs[attr]
        same = (tuple(want) == tuple(range(x.ndim)) if op == "permute"
                else tuple(want) == x.shape)
        return x if same else fn(x, **attrs)

    kernel.__name__ = op
    return kernel


def _build():
    """The real backend: imports jax, builds the kernel table."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.scipy.special import erf as jerf

    from corefw.backend import ArrayModuleBackend

    from ._lazy import Engine, LazyArray
    from ._linalg import linalg_kernels
    from ._loss import loss_kernels
    from ._nn import nn_kernels

    engine = Engine.get(jax)

    def add_at(x, key, values):  # pure: the kernels below use its result
        return x.at[key].add(values)

    class _Impl(ArrayModuleBackend):
        capabilities = frozenset({"broadcast", "random"})
        dtypes = DTYPES

        def __init__(self) -> None:
            super().__init__(jnp, device_type="jax", name=f"jax {jax.__version__} (cpu)",
                             erf=lambda x: jerf(x).astype(x.dtype), add_at=add_at,
                             rng_factory=lambda s: np.random.Generator(np.random.PCG64(s)))
            k = self.kernels
            for op in ("softmax", "log_softmax", "logsumexp", "cumsum"):
                k[op] = _zero_d(k[op])
            k["copy_"] = _copy_
            k.update(nn_kernels(jax, jnp))
            k.update(linalg_kernels(jnp))
            k.update(loss_kernels(jnp))
            k["argsort"] = _zero_d(k["argsort"])
            k.update(index_put=_index_put, index_put_=_index_put, index=_index,
                     gather=_gather, scatter_add=_scatter_add,
                     nonzero=None)
            for op, fn in list(k.items()):  # recorded, run as graphs (_lazy.py)
                k[op] = (engine.eager(fn) if op in _HOST else
                         engine.lazy(fn, scalar_operands=op in _SCALAR_OPERANDS))
            k["nonzero"] = _nonzero
            for op in ("reshape", "permute", "expand"):
                k[op] = _skip_identity(op, k[op])
            # indexing: bounds checked on the host first (JAX would clamp)
            for op in ("index_put", "index_put_", "index", "gather", "scatter_add"):
                k[op] = _checked(k[op], op)
            for op in ("cross_entropy", "nll_loss"):  # targets in range, as the front end
                k[op] = _targets_checked(k[op], op)
            for op, fn in list(k.items()):
                k[op] = _numpy_errors(fn)

        def _random_kernels(self) -> dict:
            """The toolkit's random kernels, computed on the host (the generator is there)
            and transferred once: the same values, and no XLA compile per shape."""

            def put(values, dtype):
                return jax.device_put(np.asarray(values, dtype=np.dtype(dtype)))

            def uniform(shape, low, high, dtype):
                out = self.rng.random(shape)
                if low != 0.0 or high != 1.0:
                    out = out * (high - low) + low
                dt = np.dtype(dtype)
                out = np.asarray(out, dtype=dt)
                # rounding to a narrow dtype can reach `high`; the interval is [low, high)
                top = np.nextafter(np.asarray(high, dt), np.asarray(low, dt))
                return put(np.minimum(out, top), dt)

            def normal(shape, mean, std, dtype):
                out = self.rng.standard_normal(shape)
                if mean != 0.0 or std != 1.0:
                    out = out * std + mean
                return put(out, dtype)

            return {"uniform": uniform, "normal": normal,
                    "randint": lambda shape, low, high, dtype: put(
                        self.rng.integers(low, high, size=shape), dtype),
                    "randperm": lambda n, dtype: put(self.rng.permutation(n), dtype)}

        def from_host(self, array, index: int = 0):
            # device_put transfers; jnp.asarray would compile a "stage" per shape and dtype
            return engine.wrap(jax.device_put(np.asarray(array)))

        def to_host(self, array) -> np.ndarray:
            if type(array) is LazyArray:
                array = array.value()
            return np.array(array, copy=True)  # writable, and not tied to the jax buffer

        def synchronize(self, index: int | None = None) -> None:
            engine.sync()
            jax.effects_barrier()

    def _copy_(dst, src):  # immutable: the new value of dst (the core rebinds it)
        return jnp.broadcast_to(jnp.asarray(src, dtype=dst.dtype), dst.shape)

    def _index_put(x, values, key, accumulate):
        ref = x.at[key]
        return ref.add(values) if accumulate else ref.set(values)

    def _gather(x, index, dim):
        if any(i != dim and s != x.shape[i] for i, s in enumerate(index.shape)):
            x = x[tuple(slice(None) if i == dim else slice(0, s)
                        for i, s in enumerate(index.shape))]
        return jnp.take_along_axis(x, index, axis=dim)

    def _scatter_add(x, index, src, dim):
        grid = list(jnp.ogrid[tuple(slice(s) for s in index.shape)])
        grid[dim] = index
        ref, src = x.at[tuple(grid)], src[tuple(slice(s) for s in index.shape)]
        return ref.max(src) if x.dtype == jnp.bool_ else ref.add(src)  # bool: add is "or"

    def _index(x, key):
        return x[key]

    # value-dependent shapes: the count first (a value read on the host), then a kernel whose
    # result shape it fixes, instead of eager jax.numpy (a compile per primitive inside)
    count = engine.lazy(jnp.count_nonzero)
    argwhere = engine.lazy(lambda x, size: jnp.argwhere(x, size=size).astype(jnp.int64))
    mask_dim = engine.lazy(lambda m, size, dim: jnp.nonzero(m, size=size)[dim].astype(jnp.int64))

    def _nonzero(x):
        return argwhere(x, size=int(count(x)))

    def _unmask(key, shape, op):
        """Each boolean mask in ``key`` as its nonzero indices, one integer array per mask
        dimension: NumPy's definition of a mask index; its shape must match the dims it
        indexes (IndexError, as NumPy's)."""
        parts = key if isinstance(key, tuple) else (key,)
        if not any(_is_mask(p) for p in parts):
            return key
        total = sum(_consumes(p) for p in parts)
        out, dim = [], 0
        for p in parts:
            if p is Ellipsis:
                dim += len(shape) - total
            if _is_mask(p):
                want = tuple(shape[dim:dim + p.ndim])
                if tuple(p.shape) != want:
                    raise IndexError(f"{op}: boolean index of shape {tuple(p.shape)} does not "
                                     f"match the indexed shape {want} at dim {dim}")
                n = int(count(p))
                out.extend(mask_dim(p, size=n, dim=j) for j in range(p.ndim))
            else:
                out.append(p)
            dim += _consumes(p)
        return tuple(out)

    def _checked(run, op):
        keyed = op in ("index", "index_put", "index_put_")

        def kernel(x, *args, **attrs):
            if keyed:
                key = attrs["key"] = _unmask(attrs["key"], x.shape, op)
            else:  # gather / scatter_add: the index is operand 1 along ``dim``
                key = (slice(None),) * attrs["dim"] + (args[0],)
            _deferrable(_check_bounds, key, x.shape, op)
            return run(x, *args, **attrs)

        kernel.__name__ = op
        return kernel

    def _targets_checked(run, op):
        def kernel(x, target, weight, **attrs):
            _deferrable(_check_targets, target, attrs["ignore_index"], x.shape[1], op)
            return run(x, target, weight, **attrs)

        kernel.__name__ = op
        return kernel

    def _deferrable(check, *args) -> None:
        """``check(*args)`` now, or, while corefw_jax.compiler traces a graph, on the call's
        values after it (``DEFERRED``): an argument may be traced (no values yet), or pending
        (made in the trace from constants: reading it now would start a nested jit)."""
        deferred = getattr(DEFERRED, "checks", None)
        if deferred is not None:
            deferred.append((check, args))
            return
        check(*args)

    return _Impl()


class JaxBackend:
    """Device type ``jax``. Thin until first used: every member is cheap to read at
    registration; the kernels (and jax) come with the first tensor on the device."""

    device_type = "jax"
    name = "jax (cpu)"
    dtypes = DTYPES
    capabilities = frozenset({"broadcast", "random"})

    def __init__(self) -> None:
        self._impl = None

    def _backend(self):
        if self._impl is None:
            self._impl = _build()
            self.name = self._impl.name
        return self._impl

    # -- availability and devices -------------------------------------------------------------
    def is_available(self) -> bool:
        return importlib.util.find_spec("jax") is not None  # finds, does not import

    def unavailable_reason(self) -> str | None:
        return None if self.is_available() else (
            "jax is not installed (python -m pip install \"corefw-jax[jax]\")")

    def device_count(self) -> int:
        return 1

    def device_context(self, index: int) -> AbstractContextManager | None:
        return None

    # -- kernels and transfers ----------------------------------------------------------------
    @property
    def kernels(self) -> dict:
        return self._backend().kernels if self.is_available() else {}

    def from_host(self, array: np.ndarray, index: int = 0):
        return self._backend().from_host(array, index)

    def to_host(self, array) -> np.ndarray:
        return self._backend().to_host(array)

    # -- random state ---------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        self._backend().manual_seed(seed)

    def get_rng_state(self) -> np.ndarray:
        return self._backend().get_rng_state()

    def set_rng_state(self, state: np.ndarray) -> None:
        self._backend().set_rng_state(state)

    # -- the rest ---------------------------------------------------------------------------------
    def synchronize(self, index: int | None = None) -> None:
        if self._impl is not None:
            self._impl.synchronize()

    def memory_stats(self, index: int = 0) -> dict[str, int]:
        return {}

    def __repr__(self) -> str:
        return f"<JaxBackend device type 'jax' ({'built' if self._impl else 'not built yet'})>"
