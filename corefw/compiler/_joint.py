"""The backward half of a joint plan, as one autograd node (an ``autograd.Function``).

The compiled forward's outputs that need a gradient get one node whose backward runs the
captured backward graph on the saved forward values; the engine then accumulates into leaves
and runs their hooks as usual. Under ``create_graph=True`` the captured backward (plain kernel
calls) cannot be differentiated, so the node recomputes the function eagerly instead and warns
once with that reason.
"""

from __future__ import annotations

import warnings

from .._graph.grad_mode import STATE, enable_grad
from .._tensor import wrap
from ..autograd.function import Function
from ._common import CompileWarning, flatten

__all__ = ["attach"]

_warned = [False]


class _Joint(Function):
    @staticmethod
    def forward(ctx, payload, *targets):
        plan, leaves = payload[0], payload[2]
        ctx.payload = payload
        ctx.save_for_backward(*targets)
        return tuple(leaves[i] for i in plan.req_pos)

    @staticmethod
    def backward(ctx, *gouts):
        plan, res, _, recompute, tensors = ctx.payload
        targets = ctx.saved_tensors  # checks their versions, as eager backward would
        if STATE.enabled:  # create_graph=True
            return (None,) + tuple(_eager_grads(recompute, targets, gouts))
        inputs = [res[i] if kind == "out" else gouts[i]._data if kind == "gout" else
                  tensors[i]._data.shape[0] for kind, i in plan.bwd_sources]
        grads = plan.bwd(inputs)
        return (None,) + tuple(None if i is None else wrap(grads[i], t._dev)
                               for i, t in zip(plan.bwd_outs, targets))


def _eager_grads(recompute, targets, gouts):
    from .. import autograd

    if not _warned[0]:
        _warned[0] = True
        warnings.warn("corefw.compile: create_graph=True: the compiled backward is plain kernel "
                      "calls and cannot be differentiated; recomputing the function eagerly "
                      "for this backward", CompileWarning, stacklevel=4)
    with enable_grad():
        outs = recompute()
        return autograd.grad(outs, list(targets), grad_outputs=list(gouts), create_graph=True,
                             allow_unused=True)


def attach(plan, res, leaves, fn, args, kwargs, tensors) -> None:
    """Give ``leaves[plan.req_pos]`` one joint node (in place in ``leaves``)."""
    def recompute():
        from .._tensor import Tensor

        out = flatten(fn(*args, **kwargs))[0]
        return [out[i] for i in plan.req_pos if isinstance(out[i], Tensor)]

    targets = [tensors[i] for i in plan.target_pos]
    outs = _Joint.apply((plan, res, leaves, recompute, tensors), *targets)
    for i, o in zip(plan.req_pos, outs):
        leaves[i] = o
