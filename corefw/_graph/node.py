"""Graph nodes: one per recorded op call, pointing at the nodes (or leaf tensors) of its inputs.

A node keeps the op's operands (``inputs``), its attributes and its output's native array, so a
VJP rule -- the op's own, or one installed by :func:`~corefw.autograd.override_vjp` -- can see
inputs and output. Everything is dropped once backward has run without ``retain_graph``.
"""

from __future__ import annotations

from .._tensor import wrap
from ..errors import AutogradError
from .grad_mode import STATE

__all__ = ["Node", "OutputRef"]

# Set while anomaly detection records where each node was created (global, as in PyTorch).
EXTRAS = [None]
#: Whether anomaly detection is on (corefw.autograd.detect_anomaly).
ANOMALY = [False]


def record_module(node) -> None:
    """While module provenance is recorded in this thread: the module that made ``node``."""
    stack = STATE.modules
    if node.meta is None:
        node.meta = {}
    node.meta["module"] = stack[-1] if stack else None


class Node:
    """A recorded op call. ``name()`` gives PyTorch-style names like ``'MulBackward'``."""

    __slots__ = ("op", "inputs", "next", "attrs", "out", "out_vc", "dev", "versions", "hooks",
                 "retain", "meta", "freed", "__weakref__")

    def __init__(self, op, inputs, next_edges, attrs, out, dev, versions) -> None:
        self.op = op
        self.inputs = inputs
        self.next = next_edges
        self.attrs = attrs
        self.out = out
        self.dev = dev
        self.versions = versions
        self.out_vc = None
        self.hooks = None
        self.retain = None
        self.meta = None
        self.freed = False

    # -- the ctx a VJP rule sees -------------------------------------------------------------
    @property
    def output(self):
        """The op's result as a Tensor that is part of the graph (for higher-order grads)."""
        if self.freed:
            raise _freed_error(self)
        t = wrap(self.out, self.dev)
        t._node = self
        t._req = True
        t._vc = self.out_vc
        return t

    @property
    def saved_tensors(self):
        """The tensor operands (PyTorch's ``ctx.saved_tensors`` for a builtin op); operands
        packed by saved-tensor hooks are unpacked (the unpack hook runs, as in PyTorch)."""
        if self.meta is not None and "packed" in self.meta:
            return self.meta["packed"].inputs(self)
        return self.inputs

    def name(self) -> str:
        """``'AddBackward'`` style name of this node."""
        title = "".join(part.capitalize() for part in self.op.name.strip("_").split("_"))
        return f"{title}Backward"

    @property
    def next_functions(self):
        """``((node_or_leaf, output_nr), ...)`` as in PyTorch."""
        out = []
        for edge in self.next:
            if isinstance(edge, OutputRef):
                out.append((edge.node, edge.nr))
            else:
                out.append((edge, 0))
        return tuple(out)

    @property
    def module(self):
        """The module that produced this node when provenance recording was on, else None."""
        return self.meta.get("module") if self.meta else None

    def register_hook(self, fn):
        """Hook ``fn(grad_inputs, grad_outputs)`` -- not supported; use Tensor.register_hook."""
        raise AutogradError("Node.register_hook is not supported; use Tensor.register_hook")

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class OutputRef:
    """Edge to output ``nr`` of a multi-output node (custom Functions with several outputs)."""

    __slots__ = ("node", "nr")

    def __init__(self, node: Node, nr: int) -> None:
        self.node = node
        self.nr = nr

    def name(self) -> str:
        return self.node.name()

    def __repr__(self) -> str:
        return f"<{self.node.name()} output {self.nr}>"


def _freed_error(node: Node) -> AutogradError:
    return AutogradError(
        f"Trying to backward through the graph a second time (or to read saved values after "
        f"they have been freed) at {node.name()}: the graph is freed after .backward() or "
        f"autograd.grad(). Pass retain_graph=True to the first call if you need to go through "
        f"it again.")
