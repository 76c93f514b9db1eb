"""The CuPy backend: the toolkit's kernels over ``cupy``, fast composites, transfers, RNG.

:class:`CupyBackend` is built without touching cupy: registering it is free. The first call of
:meth:`~CupyBackend.is_available` (made by corefw when a tensor is first sent to ``cuda``)
imports cupy, asks the CUDA runtime for devices and, if there is one, builds the kernel table
with :class:`corefw.backend.ArrayModuleBackend` (the code corefw-cpu shares) plus
:func:`corefw_cuda.kernels.fast_kernels`.
"""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext

import numpy as np

from corefw.backend import ArrayModuleBackend

from ._cupy import probe

__all__ = ["CupyBackend", "PhiloxStream"]

#: cuRAND's enum value of CURAND_RNG_PSEUDO_PHILOX4_32_10 (curand.h), a counter-based generator
#: whose seeding is a host-side assignment (no state-initialisation kernel).
_CURAND_PHILOX = 161
_MASK64 = (1 << 64) - 1


class CupyBackend(ArrayModuleBackend):
    """Device type ``cuda``: NVIDIA GPUs through CuPy; devices ``cuda:0`` .. ``cuda:N-1``.

    Until :meth:`is_available` has succeeded, ``kernels`` is empty and ``xp`` is None; nothing
    here imports cupy before that.
    """

    device_type = "cuda"
    name = "cupy"
    capabilities = frozenset({"broadcast", "views", "inplace", "random", "float16"})
    #: the toolkit's dtypes, without bfloat16: CuPy has no bfloat16 dtype (up to CuPy 13), so
    #: corefw refuses it here with a DTypeError naming "cupy"
    dtypes = ArrayModuleBackend.dtypes - {"bfloat16"}
    dlpack_device_type = 2  # kDLCUDA

    def __init__(self) -> None:  # deliberately does not call the toolkit's __init__ yet
        self.xp = None
        self.rng = None
        self._kernels: dict | None = None
        self._setup_error: str | None = None
        self._setup_lock = threading.Lock()
        self._scopes: dict[int, object] = {}
        self._pending: list = []  # (event, host buffer) of asynchronous copies in flight

    # -- lazy construction ----------------------------------------------------------------
    @property
    def kernels(self) -> dict:
        """op name -> kernel; empty until the backend has been found available."""
        return self._kernels if self._kernels is not None else {}

    @kernels.setter
    def kernels(self, table: dict) -> None:
        self._kernels = table

    def is_available(self) -> bool:
        """Whether cupy imports and the CUDA runtime reports at least one device."""
        if self._kernels is not None:
            return True
        cp, _, reason = probe()
        if reason is not None or self._setup_error is not None:
            return False
        with self._setup_lock:
            if self._kernels is None:
                try:
                    self._setup(cp)
                except Exception as exc:  # noqa: BLE001 - e.g. a CUDA library that is missing
                    self._kernels = None
                    self._setup_error = (f"cupy found {probe()[1]} device(s) but the backend "
                                         f"could not be built: {type(exc).__name__}: {exc}")
                    return False
        return True

    def unavailable_reason(self) -> str | None:
        """``"cupy is not installed (...)"``, ``"no CUDA device[: <driver error>]"``, or None."""
        return probe()[2] or self._setup_error

    def _setup(self, cp) -> None:
        from cupyx.scipy.special import erf

        from .kernels import fast_kernels

        ArrayModuleBackend.__init__(self, cp, device_type="cuda", name="cupy", erf=erf,
                                    add_at=_make_add_at(cp),
                                    rng_factory=lambda seed: PhiloxStream(cp, seed))
        self.kernels.update(fast_kernels(cp))
        # atomic adds: the order of float additions differs from run to run
        for name in ("scatter_add", "index_put", "index_put_"):
            self.kernels[name] = _nondeterministic(self.kernels[name])

    def _cupy(self):
        if not self.is_available():
            from corefw.errors import BackendUnavailableError

            raise BackendUnavailableError(f"cuda is unavailable: {self.unavailable_reason()}")
        return self.xp

    # -- devices ---------------------------------------------------------------------------
    def device_count(self) -> int:
        """Number of CUDA devices (0 where cupy or a device is missing)."""
        return probe()[1]

    def device_context(self, index: int):
        """A context making device ``index`` current; None with a single device (nothing to
        switch, and no per-kernel cost)."""
        if self.device_count() <= 1:
            return None
        return self._scope(index)

    def _scope(self, index: int):
        scope = self._scopes.get(index)
        if scope is None:
            if self.device_count() <= 1:
                scope = nullcontext()
            else:
                scope = _DeviceScope(self._cupy().cuda.runtime, index)
            self._scopes[index] = scope
        return scope

    def device_name(self, index: int = 0) -> str:
        """The card's name as the driver reports it, e.g. ``"NVIDIA H100 80GB HBM3"``."""
        props = self._cupy().cuda.runtime.getDeviceProperties(index)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    # -- transfers -------------------------------------------------------------------------
    def from_host(self, array, index: int = 0, non_blocking: bool = False):
        """Copy a host array to device ``index``. ``non_blocking`` stages it in pinned memory
        and copies asynchronously on the current stream (the staging buffer is kept alive
        until the copy has completed)."""
        cp = self._cupy()
        arr = np.asarray(array)
        with self._scope(index):
            if not non_blocking or arr.size == 0:
                return cp.asarray(arr)
            stream = cp.cuda.get_current_stream()
            host = _pinned_like(cp, arr)
            host[...] = arr
            out = cp.empty(arr.shape, arr.dtype)
            out.set(host, stream=stream)
            self._keep_alive(cp, stream, host)
            return out

    def to_host(self, array, non_blocking: bool = False) -> np.ndarray:
        """A host copy of ``array``. ``non_blocking`` copies into pinned memory asynchronously
        on the current stream: synchronize before reading the result."""
        cp = self.xp
        if not non_blocking or array.size == 0:
            return array.get()
        src = cp.ascontiguousarray(array)
        host = _pinned_like(cp, src)
        src.get(stream=cp.cuda.get_current_stream(), out=host, blocking=False)
        return host

    def copy_to_device(self, array, index: int, non_blocking: bool = False):
        """A copy of ``array`` (on any cuda device) on device ``index``: a device-to-device
        (peer) copy that never goes through host memory."""
        cp = self._cupy()
        with self._scope(int(array.device.id)):  # a strided source is compacted where it is
            src = cp.ascontiguousarray(array)
        with self._scope(index):
            out = cp.empty(src.shape, src.dtype)
            if src.nbytes:
                stream = cp.cuda.get_current_stream()
                out.data.copy_from_device_async(src.data, src.nbytes, stream)
                if non_blocking:
                    self._keep_alive(cp, stream, src)
                else:
                    stream.synchronize()
            return out

    def pin_memory(self, array) -> np.ndarray:
        """A copy of host ``array`` in page-locked memory (fast, asynchronous uploads)."""
        cp = self._cupy()
        arr = np.asarray(array)
        host = _pinned_like(cp, arr)
        host[...] = arr
        return host

    def from_dlpack(self, ext):
        """A cupy array sharing memory with a DLPack-capable object (a torch CUDA tensor)."""
        return self._cupy().from_dlpack(ext)

    def _keep_alive(self, cp, stream, obj) -> None:
        event = cp.cuda.Event(disable_timing=True)
        event.record(stream)
        self._pending = [(e, o) for e, o in self._pending if not e.done]
        self._pending.append((event, obj))

    # -- RNG -------------------------------------------------------------------------------
    def _random_kernels(self) -> dict:
        return {
            "uniform": lambda shape, low, high, dtype: self.rng.uniform(shape, low, high, dtype),
            "normal": lambda shape, mean, std, dtype: self.rng.normal(shape, mean, std, dtype),
            "randint": lambda shape, low, high, dtype: self.rng.randint(shape, low, high, dtype),
            "randperm": lambda n, dtype: self.rng.permutation(n, dtype),
        }

    def manual_seed(self, seed: int) -> None:
        """Seed the stream of every cuda device."""
        self._cupy()
        self.rng = PhiloxStream(self.xp, seed)

    def get_rng_state(self) -> np.ndarray:
        """The state as uint8 (JSON of ``{"seed", "calls"}``), restorable exactly."""
        self._cupy()
        text = json.dumps({"kind": PhiloxStream.KIND, "seed": self.rng.seed,
                           "calls": self.rng.calls})
        return np.frombuffer(text.encode(), dtype=np.uint8).copy()

    def set_rng_state(self, state) -> None:
        """Restore a state from :meth:`get_rng_state`."""
        from corefw.errors import CorefwError

        self._cupy()
        raw = np.asarray(state, dtype=np.uint8).tobytes()
        try:
            data = json.loads(raw.decode())
            ok = data.get("kind") == PhiloxStream.KIND
        except (ValueError, UnicodeDecodeError, AttributeError):
            ok = False
        if not ok:
            raise CorefwError("cuda set_rng_state: not a state from the cuda backend's "
                              "get_rng_state (expected a uint8 tensor holding its JSON)")
        self.rng.seed, self.rng.calls = int(data["seed"]), int(data["calls"])

    # -- synchronisation and memory --------------------------------------------------------
    def synchronize(self, index: int | None = None) -> None:
        """Wait for all queued work on device ``index`` (every device when None)."""
        cp = self._cupy()
        for i in range(self.device_count()) if index is None else (index,):
            with self._scope(i):
                cp.cuda.runtime.deviceSynchronize()
        self._pending = [(e, o) for e, o in self._pending if not e.done]

    def memory_stats(self, index: int = 0) -> dict[str, int]:
        """CuPy memory-pool and driver figures for device ``index`` (bytes)."""
        cp = self._cupy()
        with self._scope(index):
            pool = cp.get_default_memory_pool()
            free, total = cp.cuda.runtime.memGetInfo()
            return {"bytes_in_use": int(pool.used_bytes()),
                    "bytes_reserved": int(pool.total_bytes()),
                    "bytes_cached": int(pool.free_bytes()),
                    "device_bytes_free": int(free), "device_bytes_total": int(total),
                    "pinned_free_blocks": int(cp.get_default_pinned_memory_pool()
                                              .n_free_blocks())}

    def empty_cache(self) -> None:
        """Return the memory pools' unused blocks to the driver (every device)."""
        if self._kernels is None:
            return
        cp = self.xp
        self.synchronize()
        for i in range(self.device_count()):
            with self._scope(i):
                cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()


class _DeviceScope:
    """``with scope:`` makes one device current and restores the previous one; re-entrant and
    thread-safe (one stack per thread), unlike sharing a ``cupy.cuda.Device`` object."""

    __slots__ = ("index", "_rt", "_tls")

    def __init__(self, runtime, index: int) -> None:
        self.index = index
        self._rt = runtime
        self._tls = threading.local()

    def __enter__(self):
        prev = self._rt.getDevice()
        stack = self._tls.__dict__.setdefault("stack", [])
        stack.append(prev)
        if prev != self.index:
            self._rt.setDevice(self.index)
        return self

    def __exit__(self, *exc) -> None:
        prev = self._tls.stack.pop()
        if prev != self.index:
            self._rt.setDevice(prev)


def _pinned_like(cp, arr: np.ndarray) -> np.ndarray:
    mem = cp.cuda.alloc_pinned_memory(max(arr.nbytes, 1))
    return np.frombuffer(mem, arr.dtype, arr.size).reshape(arr.shape)


def _nondeterministic(fn):
    """Mark a kernel for ``corefw.use_deterministic_algorithms`` (the dispatcher refuses it
    while deterministic algorithms are required)."""
    def kernel(*args, **kwargs):
        return fn(*args, **kwargs)

    kernel.__name__ = getattr(fn, "__name__", "kernel")
    kernel.nondeterministic = True
    return kernel


def _make_add_at(cp):
    """``numpy.add.at`` for cupy: ``cupyx.scatter_add`` where CUDA has the atomic add, int64
    through its two's-complement uint64 view, narrower types through int32."""
    import cupyx

    native = {np.dtype(c) for c in "iILQefd"}

    def add_at(a, key, values) -> None:
        if a.dtype in native:
            cupyx.scatter_add(a, key, cp.asarray(values, dtype=a.dtype))
        elif a.dtype == np.int64:
            cupyx.scatter_add(a.view(cp.uint64), key,
                              cp.asarray(values, dtype=cp.int64).view(cp.uint64))
        else:  # bool, int8, int16, uint8: accumulate in int32, then wrap (or or) back
            wide = a.astype(cp.int32)
            cupyx.scatter_add(wide, key, cp.asarray(values).astype(cp.int32))
            a[...] = wide != 0 if a.dtype == np.bool_ else wide.astype(a.dtype)

    return add_at


def _mix(seed: int, calls: int) -> int:
    """splitmix64 of (seed, call number): an independent 64-bit seed per draw."""
    z = (seed * 0x9E3779B97F4A7C15 + (calls + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class PhiloxStream:
    """The device random stream: ``(seed, calls)``. Draw ``k`` reseeds a cuRAND Philox
    generator (one per device) with ``splitmix64(seed, k)``, so the state is two integers,
    saved and restored exactly, and seeding costs no kernel."""

    KIND = "corefw-cuda-philox-v1"

    def __init__(self, cp, seed: int) -> None:
        self.cp = cp
        self.seed = int(seed) & _MASK64
        self.calls = 0
        self._gens: dict[int, object] = {}
        self._lock = threading.Lock()

    def _next(self):
        cp = self.cp
        dev = cp.cuda.runtime.getDevice()
        with self._lock:
            gen = self._gens.get(dev)
            if gen is None:
                gen = self._gens[dev] = cp.random.RandomState(0, method=_CURAND_PHILOX)
            gen.seed(_mix(self.seed, self.calls))
            self.calls += 1
        return gen

    def _float(self, dtype) -> np.dtype:
        dtype = np.dtype(dtype)
        return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)

    def uniform(self, shape, low, high, dtype):
        """Uniform ``[low, high)`` samples (float16 is drawn in float32 and rounded)."""
        if 0 in tuple(shape):
            return self.cp.empty(shape, dtype)
        out = self._next().random_sample(tuple(shape), dtype=self._float(dtype))
        if low != 0.0 or high != 1.0:
            out = out * (high - low) + low
        return out.astype(dtype, copy=False)

    def normal(self, shape, mean, std, dtype):
        """Normal samples with the given mean and standard deviation."""
        if 0 in tuple(shape):
            return self.cp.empty(shape, dtype)
        out = self._next().normal(mean, std, size=tuple(shape), dtype=self._float(dtype))
        return out.astype(dtype, copy=False)

    def randint(self, shape, low, high, dtype):
        """Integers in ``[low, high)``."""
        if 0 in tuple(shape):
            return self.cp.empty(shape, dtype)
        out = self._next().randint(low, high, size=tuple(shape), dtype=np.int64)
        return out.astype(dtype, copy=False)

    def permutation(self, n: int, dtype):
        """A random permutation of ``0..n-1``."""
        if n == 0:
            return self.cp.empty((0,), dtype)
        return self._next().permutation(int(n)).astype(dtype, copy=False)
