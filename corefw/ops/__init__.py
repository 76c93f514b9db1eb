"""The ops layer: every op's declaration (corefw/ops/*.py) and its public function. Backends
implement the primitives listed in :mod:`corefw.ops.primitives`."""

from .primitives import GROUPS, PRIMITIVES
from .registry import OPS, OpDef, declare, defvjp, get_op, register_op

__all__ = ["GROUPS", "OPS", "PRIMITIVES", "OpDef", "declare", "defvjp", "get_op",
           "register_op"]
