"""Anomaly detection: record where each op was created, name the op whose gradient is NaN."""

from __future__ import annotations

import traceback

from ..errors import AutogradError
from .node import ANOMALY, EXTRAS


class detect_anomaly:  # noqa: N801
    """Context manager (and decorator): while active, each node remembers the stack that
    created it, and a NaN in a computed gradient raises an error naming the op and that
    stack."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = ANOMALY[0]
        set_detect_anomaly(True)

    def __exit__(self, *exc):
        set_detect_anomaly(self._prev)
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with detect_anomaly():
                return fn(*a, **k)
        return wrapper


def set_detect_anomaly(mode: bool) -> None:
    ANOMALY[0] = bool(mode)
    EXTRAS[0] = record_stack if mode else None


def is_anomaly_enabled() -> bool:
    return ANOMALY[0]


def record_stack(node) -> None:
    if node.meta is None:
        node.meta = {}
    node.meta["stack"] = "".join(traceback.format_stack()[:-4])


def check_grads(node, grads) -> None:
    import numpy as np

    for i, g in enumerate(grads):
        if g is None:
            continue
        if np.isnan(np.asarray(g.detach())).any():
            where = (node.meta or {}).get("stack", "  (created before anomaly detection was "
                                                  "enabled)\n")
            raise AutogradError(f"Function '{node.name()}' returned nan values in its {i}th "
                                f"output. The op was created at (most recent call last):\n"
                                f"{where}")


__all__ = ["EXTRAS", "check_grads", "detect_anomaly", "is_anomaly_enabled", "record_stack",
           "set_detect_anomaly"]
