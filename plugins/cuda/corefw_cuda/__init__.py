"""corefw-cuda: the device type ``cuda`` (NVIDIA GPUs) on CuPy, a plugin like any third party's.

Installing it registers ``cuda``, ``cuda:0`` .. ``cuda:N-1``. CuPy is an extra
(``pip install 'corefw-cuda[cuda12]'`` or ``[cuda13]``): without it, or without a GPU, the
plugin still loads, ``corefw plugins`` shows ``cuda`` as unavailable with the reason, and sending
a tensor to ``cuda`` raises :class:`corefw.errors.BackendUnavailableError` naming it. Importing
this module (or corefw) never imports cupy.

The helpers below are this plugin's, not corefw's (the core names no backend, so there is no
``corefw.cuda``)::

    import corefw_cuda
    corefw_cuda.is_available(), corefw_cuda.device_count()
    with corefw_cuda.stream():         # kernels inside run on a new CUDA stream
        ...
    corefw_cuda.synchronize(); corefw_cuda.memory_stats(); corefw_cuda.empty_cache()
"""

from __future__ import annotations

from contextlib import contextmanager

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1.1,<2"  # register_compilers
__version__ = "0.1.0"

__all__ = ["current_stream", "device_count", "device_name", "empty_cache", "get_backend",
           "is_available", "memory_allocated", "memory_reserved", "memory_stats",
           "synchronize", "stream", "unavailable_reason"]

_backend: list = []


def get_backend():
    """The plugin's :class:`~corefw_cuda.backend.CupyBackend` (one per process)."""
    if not _backend:
        from .backend import CupyBackend

        _backend.append(CupyBackend())
    return _backend[0]


@hookimpl
def register_backends(register):
    register(get_backend())


@hookimpl
def register_process_groups(register):
    from .nccl import NcclBackend  # light: cupy is imported by create()

    register("nccl", NcclBackend())


@hookimpl
def register_compilers(register):
    from .fuse import cuda_fuse

    register("cuda_fuse", cuda_fuse)


def is_available() -> bool:
    """Whether cupy is installed and a CUDA device is present (imports cupy on first call)."""
    return get_backend().is_available()


def unavailable_reason() -> str | None:
    """Why :func:`is_available` is False, or None."""
    return get_backend().unavailable_reason()


def device_count() -> int:
    """Number of CUDA devices; 0 where cupy or a device is missing."""
    return get_backend().device_count()


def _index(device) -> int:
    if device is None:
        return 0
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    import corefw

    dev = corefw.device(device)
    if dev.type != "cuda":
        from corefw.errors import DeviceError

        raise DeviceError(f"corefw_cuda: expected a cuda device such as 'cuda:0', got "
                          f"{str(dev)!r}")
    return dev.index


def device_name(device=None) -> str:
    """The card's name, e.g. ``"NVIDIA H100 80GB HBM3"``."""
    return get_backend().device_name(_index(device))


def synchronize(device=None) -> None:
    """Wait for all work queued on ``device`` (an int, ``"cuda:1"``; every device if None)."""
    get_backend().synchronize(None if device is None else _index(device))


def memory_stats(device=None) -> dict[str, int]:
    """Memory figures of ``device`` in bytes: ``bytes_in_use`` (live arrays),
    ``bytes_reserved`` (held by CuPy's pool), ``bytes_cached`` (reserved but free),
    ``device_bytes_free`` / ``device_bytes_total`` (the driver's view)."""
    return get_backend().memory_stats(_index(device))


def memory_allocated(device=None) -> int:
    """Bytes held by live arrays on ``device`` (``torch.cuda.memory_allocated``)."""
    return memory_stats(device)["bytes_in_use"]


def memory_reserved(device=None) -> int:
    """Bytes held by CuPy's memory pool on ``device`` (``torch.cuda.memory_reserved``)."""
    return memory_stats(device)["bytes_reserved"]


def empty_cache() -> None:
    """Release the pools' unused blocks to the driver (a no-op where cuda is unavailable)."""
    if get_backend().is_available():
        get_backend().empty_cache()


def current_stream(device=None):
    """The ``cupy.cuda.Stream`` kernels are queued on for ``device``."""
    b = get_backend()
    cp = b._cupy()
    with b._scope(_index(device)):
        return cp.cuda.get_current_stream()


@contextmanager
def stream(s=None, device=None):
    """``with stream():`` queues the kernels inside on ``s`` (a ``cupy.cuda.Stream``; a new
    non-blocking one if None) and yields it. Synchronize it, or the device, before reading
    results on another stream or on the host."""
    b = get_backend()
    cp = b._cupy()
    with b._scope(_index(device)):
        s = cp.cuda.Stream(non_blocking=True) if s is None else s
        with s:
            yield s
