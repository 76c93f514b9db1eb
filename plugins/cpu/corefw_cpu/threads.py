"""CPU threads: BLAS (and numexpr) thread pools, controlled through threadpoolctl.

Policy (docs/performance.md, "CPU threads"): an explicit ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is respected; otherwise, when the backend is first
used, corefw uses the cores that are idle: ``max(1, cores - round(load average))``. On a busy
machine that is one thread (a spinning BLAS pool on shared cores made small GEMMs 5-30x
slower); on a quiet one, every core. ``corefw.set_num_threads(n)`` overrides it.
"""

from __future__ import annotations

import os
import sys

_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_state = {"n": None, "limiter": None}


def default_num_threads() -> int:
    """The policy above (without applying it)."""
    for var in _ENV:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return cores
    return max(1, min(cores, cores - round(load)))


def set_num_threads(n: int) -> None:
    """Limit the BLAS and numexpr thread pools to ``n`` threads."""
    from threadpoolctl import threadpool_limits

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _state["limiter"] = threadpool_limits(limits=n)
    numexpr = sys.modules.get("numexpr")  # not imported for this: cpu_fuse applies it later
    if numexpr is not None:
        numexpr.set_num_threads(n)
    _state["n"] = n


def get_num_threads() -> int:
    """The thread count set by :func:`set_num_threads` or the default policy."""
    if _state["n"] is None:
        from threadpoolctl import threadpool_info

        pools = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        return max(pools) if pools else 1
    return _state["n"]


def apply_default() -> None:
    """Apply the default policy (called when the cpu backend is created)."""
    if any(os.environ.get(v) for v in _ENV):
        return  # the user's environment already decided
    try:
        set_num_threads(default_num_threads())
    except ImportError:  # threadpoolctl missing: leave the pools alone
        pass
