"""Adamax, Adam's infinity-norm variant (Kingma & Ba, 2015, section 7)."""

from __future__ import annotations

from typing import Any

import corefw

from .adam import _check_adam_like
from .optimizer import Optimizer, ParamsT, _addcdiv_, _check_unsupported, _lr, _scalar_state

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax (PyTorch's ``torch.optim.Adamax``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots`:

    .. code-block:: text

        g = g + weight_decay * theta                      (if weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        theta = theta - lr / (1 - beta1**t) * m / u

    State per parameter: ``"step"`` (a 0-d float32 tensor), ``"exp_avg"`` (m) and
    ``"exp_inf"`` (u).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        betas: coefficients of the gradient's running average and of the infinity norm.
        eps: added to the norm's argument for numerical stability.
        weight_decay: L2 penalty coefficient.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.
        differentiable, capturable: accepted for PyTorch compatibility; must be ``False``.

    Raises:
        ValueError: a negative ``lr``, ``eps`` or ``weight_decay``, or a beta outside [0, 1).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_adam_like(lr, betas, eps, weight_decay)
        _check_unsupported("Adamax", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize, differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["exp_avg"] = corefw.zeros_like(p)
        state["exp_inf"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        grad = self._grad(p, group)
        state["step"].add_(1)
        step = state["step"].item()
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_inf.copy_(corefw.maximum(exp_inf * beta2, grad.abs() + group["eps"]))
        clr = _lr(group) / (1 - beta1**step)
        _addcdiv_(p, exp_avg, exp_inf, value=-clr)

