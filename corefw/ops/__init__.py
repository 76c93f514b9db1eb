"""The op registry. The op modules (elementwise, reduction, shape, indexing, linalg,
activation, inplace) register their ops when ``corefw`` is imported."""

from .primitives import GROUPS, PRIMITIVES
from .registry import OPS, Op, defvjp, get_op, register_op

__all__ = ["GROUPS", "OPS", "PRIMITIVES", "Op", "defvjp", "get_op", "register_op"]
