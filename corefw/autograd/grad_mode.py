"""Grad modes (re-exported from :mod:`corefw._graph.grad_mode`, where the hot path reads them)."""

from .._graph.grad_mode import *  # noqa: F403
from .._graph.grad_mode import STATE, __all__  # noqa: F401
