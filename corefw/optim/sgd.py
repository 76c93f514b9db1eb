"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import corefw

from ..ops.inplace import sgd_step_
from .optimizer import Optimizer, ParamsT, _check_non_negative, _check_unsupported, _lr

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``):

    .. code-block:: text

        g = g + weight_decay * theta                      (if weight_decay != 0)
        if momentum != 0:
            b = g                                          (first step)
            b = momentum * b + (1 - dampening) * g         (later steps)
            g = g + momentum * b  if nesterov  else  b
        theta = theta - lr * g

    State per parameter: ``"momentum_buffer"`` (only when ``momentum != 0``).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        momentum: momentum factor.
        dampening: dampening of the momentum.
        weight_decay: L2 penalty coefficient.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: maximize the objective instead of minimizing it.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        differentiable: accepted for PyTorch compatibility; must be ``False``.
        fused: accepted for PyTorch compatibility; must be ``None`` or ``False``.

    Raises:
        ValueError: a negative ``lr``, ``momentum`` or ``weight_decay``, or ``nesterov``
            without momentum or with dampening.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_non_negative(lr=lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_unsupported("SGD", differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize, foreach=foreach,
            differentiable=differentiable, fused=fused,
        )
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; return ``closure()``'s loss if a closure is given.

        Each parameter takes one fused update (:func:`corefw.ops.inplace.sgd_step_`: the
        backend's ``sgd_step_`` kernel, or its decomposition into in-place ops).
        """
        return self._step_each(closure, self._update)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        grad = p.grad
        if grad.dtype != p.dtype:  # as the in-place ops would
            grad = grad.to(p.dtype)
        buf = None
        first = False
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = corefw.empty_like(grad)
                first = True
        sgd_step_(p, grad, buf, is_first_step=first, lr=_lr(group), momentum=momentum,
                  dampening=group["dampening"], weight_decay=group["weight_decay"],
                  nesterov=group["nesterov"], maximize=group["maximize"])
