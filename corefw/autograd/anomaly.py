"""Anomaly detection (re-exported from :mod:`corefw._graph.anomaly`)."""

from .._graph.anomaly import *  # noqa: F403
from .._graph.anomaly import __all__  # noqa: F401
