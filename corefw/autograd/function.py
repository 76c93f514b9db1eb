"""``corefw.autograd.Function``: users' own differentiable functions, as in PyTorch.

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y
"""

from __future__ import annotations

from .._graph.grad_mode import SAVED_HOOKS, STATE, no_grad
from .._graph.node import OutputRef
from .._registry import anonymous
from ..errors import AutogradError

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The ``ctx`` of a custom Function: save tensors and anything else for backward."""

    def __init__(self) -> None:
        self._saved = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors) -> None:
        self._saved = tensors
        self._versions = tuple(t._version if t is not None else 0 for t in tensors)

    @property
    def saved_tensors(self):
        packed = getattr(self, "_packed", None)
        if packed is not None:  # recorded under saved_tensors_hooks: unpack each (no versions)
            from .._graph.saved import unpack_saved

            return unpack_saved(packed)
        for t, v in zip(self._saved, self._versions):
            if t is not None and t._version != v:
                raise AutogradError(f"a tensor saved with save_for_backward was modified in "
                                    f"place (version {t._version}, expected {v})")
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._nondiff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call
    ``MyFunction.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function subclasses must implement forward")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses must implement backward")

    @classmethod
    def apply(cls, *args):
        from .._graph.engine import MultiNode
        from .._tensor import Tensor

        ctx = FunctionCtx()
        tensors = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._req for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        if not (STATE.enabled and any(t._req for t in tensors)):
            return out
        op = anonymous(cls.__name__, vjp=_make_vjp(cls, multi, len(args)),
                       owner="autograd.Function")
        edges = tuple((a._node if a._node is not None else (a if a._req else None))
                      if isinstance(a, Tensor) else None for a in args)
        versions = tuple(a._vc[0] if isinstance(a, Tensor) and a._vc is not None else 0
                         for a in args)  # inputs changed in place *before* apply are fine
        if ctx._saved and SAVED_HOOKS[0] and STATE.saved_hooks is not None:  # pack them
            from .._graph.saved import pack_saved

            ctx._packed = pack_saved(ctx._saved, cls.__name__)
            ctx._saved = ()
        node = MultiNode(op, args, edges, None, None, None, versions)
        node.n_out = len(outs)
        node.meta = {"ctx": ctx, "shapes": [(o.shape, o.dtype, o.device) for o in outs]}
        nondiff = getattr(ctx, "_nondiff", set())
        result = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                result.append(o)
                continue
            if id(o) in nondiff:
                result.append(o)
                continue
            o = o.detach() if o._node is not None or any(o is t for t in tensors) else o
            o._node = OutputRef(node, i)
            o._req = True
            result.append(o)
        return tuple(result) if multi else result[0]


def _make_vjp(cls, multi, n_args):
    def vjp(node, grads):
        from .._creation import zeros

        ctx = node.meta["ctx"]
        grads = list(grads)
        if ctx.materialize_grads:
            for i, g in enumerate(grads):
                if g is None:
                    shape, dtype, dev = node.meta["shapes"][i]
                    grads[i] = zeros(shape, dtype=dtype, device=dev)
        out = cls.backward(ctx, *grads)
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) < n_args:
            out = out + (None,) * (n_args - len(out))
        if len(out) != n_args:
            raise AutogradError(f"{cls.__name__}.backward returned {len(out)} gradients, "
                                f"expected {n_args} (one per forward argument)")
        return out
    return vjp
