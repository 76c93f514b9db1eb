"""Finding CuPy and a CUDA device, and the one list of CuPy names the plugin relies on.

Nothing here imports cupy at module import: :func:`probe` does, once, when the backend is first
asked whether it is available. ``import cupy`` works on a machine without a GPU (device calls
then raise ``CUDARuntimeError``), so the probe asks the runtime for the device count and turns
each failure into a one-line reason for ``corefw plugins`` and for the error raised when a
tensor is sent to ``cuda``.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import sys
import threading

__all__ = ["CUPY_NAMES", "INSTALL_HINT", "REPLACED_TOOLKIT_DEFAULTS", "missing_names", "probe",
           "reset_probe", "resolve"]

INSTALL_HINT = "pip install 'corefw-cuda[cuda12]' (or [cuda13], matching the NVIDIA driver)"

#: Every cupy / cupyx attribute the plugin uses, as dotted paths. The toolkit's kernels use
#: more (``xp.exp`` ...): ``tests/test_cuda_names.py`` scans this package's sources and
#: corefw's backend toolkit and checks that every name they reach on cupy is listed here, and,
#: where cupy is installed, that each one exists.
CUPY_NAMES: tuple[str, ...] = (
    # module layout, dtypes, devices, streams, memory
    "cupy.ndarray", "cupy.ndarray.get", "cupy.ndarray.set", "cupy.asarray", "cupy.nextafter",
    "cupy.ascontiguousarray", "cupy.empty", "cupy.float16", "cupy.float32", "cupy.float64",
    "cupy.int32", "cupy.int64", "cupy.uint64", "cupy.iinfo",
    "cupy.cuda.runtime.getDeviceCount", "cupy.cuda.runtime.getDevice",
    "cupy.cuda.runtime.setDevice", "cupy.cuda.runtime.CUDARuntimeError",
    "cupy.cuda.runtime.getDeviceProperties", "cupy.cuda.runtime.memGetInfo",
    "cupy.cuda.runtime.deviceSynchronize", "cupy.cuda.runtime.runtimeGetVersion",
    "cupy.cuda.runtime.driverGetVersion",
    "cupy.cuda.nccl",  # the nccl process group (nccl.py); its names are checked where NCCL is
    "cupy.cuda.Device", "cupy.cuda.Stream", "cupy.cuda.Stream.synchronize", "cupy.cuda.Event",
    "cupy.cuda.Event.record", "cupy.cuda.Event.done", "cupy.cuda.get_current_stream",
    "cupy.cuda.alloc_pinned_memory", "cupy.cuda.MemoryPointer.copy_from_device_async",
    "cupy.get_default_memory_pool", "cupy.cuda.MemoryPool.used_bytes",
    "cupy.cuda.MemoryPool.total_bytes", "cupy.cuda.MemoryPool.free_bytes",
    "cupy.cuda.MemoryPool.free_all_blocks", "cupy.get_default_pinned_memory_pool",
    "cupy.cuda.PinnedMemoryPool.n_free_blocks", "cupy.cuda.PinnedMemoryPool.free_all_blocks",
    "cupy.from_dlpack",
    # random numbers: cuRAND Philox, reseeded per draw (backend.PhiloxStream)
    "cupy.random.RandomState", "cupy.random.RandomState.seed",
    "cupy.random.RandomState.random_sample", "cupy.random.RandomState.normal",
    "cupy.random.RandomState.randint", "cupy.random.RandomState.permutation",
    # the two functions NumPy's namespace spells differently
    "cupyx.scipy.special", "cupyx.scipy.special.erf", "cupyx.scatter_add",
    # fused kernels (kernels.py)
    "cupy.ElementwiseKernel", "cupy.ReductionKernel",
    # CUDA-graph replay of cuda_fuse (_cuda_graph.py)
    "cupy.cuda.Graph", "cupy.cuda.Graph.launch", "cupy.cuda.Stream.begin_capture",
    "cupy.cuda.Stream.end_capture", "cupy.cuda.Stream.wait_event", "cupy.cuda.Stream.record",
    "cupy.cuda.MemoryPool", "cupy.cuda.MemoryPool.malloc", "cupy.cuda.using_allocator",
    "cupy.copyto", "cupy.ndarray.copy", "cupy.ndarray.device", "cupy.ndarray.flags",
    # what corefw's backend toolkit and corefw_cuda.xp_kernels reach through ``xp``
    "cupy.abs", "cupy.add", "cupy.arange", "cupy.argmax", "cupy.argmin",
    "cupy.argwhere", "cupy.bitwise_and", "cupy.bitwise_or", "cupy.bitwise_xor",
    "cupy.broadcast_to", "cupy.ceil", "cupy.clip", "cupy.concatenate", "cupy.cos",
    "cupy.cumsum", "cupy.einsum", "cupy.equal", "cupy.exp", "cupy.expm1", "cupy.flip",
    "cupy.floor", "cupy.floor_divide", "cupy.full", "cupy.greater", "cupy.greater_equal",
    "cupy.invert", "cupy.isinf", "cupy.less", "cupy.less_equal", "cupy.log", "cupy.log1p",
    "cupy.logaddexp", "cupy.matmul", "cupy.max", "cupy.maximum", "cupy.mean", "cupy.min",
    "cupy.minimum", "cupy.multiply", "cupy.negative", "cupy.not_equal", "cupy.ogrid",
    "cupy.pad", "cupy.power", "cupy.prod", "cupy.remainder", "cupy.reshape", "cupy.round",
    "cupy.sign", "cupy.sin", "cupy.sqrt",
    "cupy.squeeze", "cupy.stack", "cupy.subtract", "cupy.sum", "cupy.swapaxes",
    "cupy.take_along_axis", "cupy.tan", "cupy.tanh", "cupy.transpose", "cupy.true_divide",
    "cupy.where", "cupy.zeros",
)

#: Names the toolkit reaches only through defaults the plugin replaces (``add_at=``,
#: ``rng_factory=``), so cupy need not have them (it has no ``random.PCG64``).
REPLACED_TOOLKIT_DEFAULTS = frozenset({"cupy.add.at", "cupy.random.Generator",
                                       "cupy.random.PCG64"})

_lock = threading.Lock()
_state: dict = {}


def resolve(path: str, root=None):
    """The object at a dotted ``path`` such as ``"cupy.cuda.Device"`` (imports submodules)."""
    head, *rest = path.split(".")
    obj = importlib.import_module(head) if root is None else root
    done = head
    for part in rest:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(f"{done}.{part}")
        done = f"{done}.{part}"
    return obj


def missing_names(names=CUPY_NAMES) -> list[str]:
    """The names of ``names`` that the installed cupy lacks (cupy must be importable)."""
    out = []
    for name in names:
        try:
            resolve(name)
        except Exception:  # noqa: BLE001 - any failure means "not usable"
            out.append(name)
    return out


def probe(refresh: bool = False) -> tuple[object | None, int, str | None]:
    """``(cupy module or None, device count, reason or None)``, computed once (thread-safe).

    The reason is ``"cupy is not installed (...)"``, ``"cupy failed to import: ..."``,
    ``"no CUDA device"`` or ``"no CUDA device: <the CUDA runtime's error>"``.
    """
    if _state and not refresh:
        return _state["result"]
    with _lock:
        if _state and not refresh:
            return _state["result"]
        _state["result"] = _probe()
        return _state["result"]


def reset_probe() -> None:
    """Forget the cached probe (tests; a driver installed while the process runs)."""
    with _lock:
        _state.clear()


def _probe() -> tuple[object | None, int, str | None]:
    if "cupy" not in sys.modules:  # cheap answers first: importing cupy takes seconds
        if importlib.util.find_spec("cupy") is None:
            return None, 0, f"cupy is not installed ({INSTALL_HINT})"
        missing = _driver_missing()
        if missing:
            return None, 0, f"no CUDA device: {missing}"
    try:
        import cupy
    except ModuleNotFoundError as exc:
        if exc.name in ("cupy", None) or (exc.name or "").startswith("cupy"):
            return None, 0, f"cupy is not installed ({INSTALL_HINT})"
        return None, 0, f"cupy failed to import: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install must not crash corefw
        return None, 0, f"cupy failed to import: {type(exc).__name__}: {_one_line(exc)}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError, or a missing libcudart
        return cupy, 0, f"no CUDA device: {_one_line(exc)}"
    if count <= 0:
        return cupy, 0, "no CUDA device"
    return cupy, count, None


def _driver_missing() -> str | None:
    """Why the NVIDIA driver library cannot be loaded, or None when it can. Without it no CUDA
    device can exist, and answering ``corefw.cuda.is_available()`` needs no ``import cupy``
    (seconds; tutorials call it first thing). cupy's runtime loads the same library by the same
    name, so this never refuses a machine cupy would accept."""
    names = {"win32": ("nvcuda.dll",), "darwin": ()}.get(sys.platform,
                                                          ("libcuda.so.1", "libcuda.so"))
    for name in names:
        try:
            ctypes.CDLL(name)
            return None
        except OSError:
            continue
    return "no NVIDIA driver found (the CUDA driver library libcuda could not be loaded)"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
