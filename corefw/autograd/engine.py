"""The backward engine (re-exported from :mod:`corefw._graph.engine`)."""

from .._graph.engine import ANOMALY, POST_HOOKS, MultiNode, run_backward  # noqa: F401

__all__ = ["MultiNode", "run_backward"]
