"""Graph nodes (re-exported from :mod:`corefw._graph.node`)."""

from .._graph.node import EXTRAS, Node, OutputRef, record_module  # noqa: F401

__all__ = ["Node", "OutputRef"]
