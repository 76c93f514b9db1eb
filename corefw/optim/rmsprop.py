"""RMSprop (Hinton, Coursera lecture 6e), with optional momentum and centering (Graves, 2013)."""

from __future__ import annotations

from typing import Any

import corefw

from .optimizer import (
    Optimizer,
    ParamsT,
    _check_non_negative,
    _check_unsupported,
    _lr,
    _scalar_state,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``):

    .. code-block:: text

        g = g + weight_decay * theta                      (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            d = sqrt(v - g_avg * g_avg) + eps
        else:
            d = sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / d
            theta = theta - lr * b
        else:
            theta = theta - lr * g / d

    State per parameter: ``"step"`` (a 0-d float32 tensor), ``"square_avg"`` (v),
    ``"momentum_buffer"`` (b, when ``momentum > 0``), ``"grad_avg"`` (when ``centered``).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient.
        momentum: momentum factor.
        centered: normalize by an estimate of the gradient's variance instead of its
            second moment.
        capturable, differentiable: accepted for PyTorch compatibility; must be ``False``.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.

    Raises:
        ValueError: a negative ``lr``, ``eps``, ``momentum``, ``weight_decay`` or ``alpha``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                            alpha=alpha)
        _check_unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
            weight_decay=weight_decay, capturable=capturable, foreach=foreach,
            maximize=maximize, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["square_avg"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, alpha, eps = _lr(group), group["alpha"], group["eps"]
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        grad = self._grad(p, group)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = corefw.zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = corefw.zeros_like(p)
        state["step"].add_(1)
        if weight_decay != 0:
            grad = grad + p * weight_decay
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
            avg = square_avg.clone().addcmul_(grad_avg, grad_avg, value=-1).sqrt()
        else:
            avg = square_avg.sqrt()
        avg.add_(eps)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf.mul_(momentum).addcdiv_(grad, avg)
            p.add_(buf, alpha=-lr)
        else:
            p.addcdiv_(grad, avg, value=-lr)
