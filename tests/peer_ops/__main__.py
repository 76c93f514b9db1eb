"""Print the peer op suite's per-op report: ``cd tests && python -m peer_ops``."""

from __future__ import annotations

from . import cases_nn, cases_pointwise, cases_reduce, cases_shape  # noqa: F401 (register)
from .harness import report, run_all

if __name__ == "__main__":
    print(report(run_all()))
