"""``corefw.set_num_threads`` / ``get_num_threads`` (PyTorch's API), routed to every backend
that has thread pools (the optional ``set_num_threads`` / ``get_num_threads`` methods of
:class:`~corefw.backend.protocol.Backend`); the core names no backend."""

from __future__ import annotations

from .. import dispatch

__all__ = ["get_num_threads", "set_num_threads"]


def set_num_threads(n: int) -> None:
    """Use ``n`` host threads for intra-op parallelism (BLAS, fused kernels)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    for backend in dispatch.backends().values():
        fn = getattr(backend, "set_num_threads", None)
        if fn is not None:
            fn(n)


def get_num_threads() -> int:
    """The number of host threads used for intra-op parallelism (1 if no backend says)."""
    counts = [fn() for b in dispatch.backends().values()
              if (fn := getattr(b, "get_num_threads", None)) is not None]
    return max(counts) if counts else 1
