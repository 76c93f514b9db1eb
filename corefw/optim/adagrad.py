"""Adagrad (Duchi, Hazan & Singer, 2011)."""

from __future__ import annotations

from typing import Any

import corefw

from .optimizer import (
    Optimizer,
    ParamsT,
    _addcdiv_,
    _check_non_negative,
    _check_unsupported,
    _lr,
    _scalar_state,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots`:

    .. code-block:: text

        clr = lr / (1 + (t - 1) * lr_decay)
        g = g + weight_decay * theta                      (if weight_decay != 0)
        s = s + g * g                                      (s starts at initial_accumulator_value)
        theta = theta - clr * g / (sqrt(s) + eps)

    State per parameter, created by the constructor: ``"step"`` (a 0-d float32 tensor) and
    ``"sum"`` (s).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty coefficient.
        initial_accumulator_value: starting value of the squared-gradient sum.
        eps: added to the denominator for numerical stability.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.
        differentiable, fused: accepted for PyTorch compatibility; must be unset.

    Raises:
        ValueError: a negative ``lr``, ``lr_decay``, ``weight_decay``,
            ``initial_accumulator_value`` or ``eps``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                            initial_accumulator_value=initial_accumulator_value, eps=eps)
        _check_unsupported("Adagrad", differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, foreach=foreach,
            maximize=maximize, differentiable=differentiable, fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    self._init_state(p, group, state)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["sum"] = corefw.full_like(p, group["initial_accumulator_value"])

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        grad = self._grad(p, group)
        state["step"].add_(1)
        step = state["step"].item()
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        clr = _lr(group) / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum.addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(group["eps"])
        _addcdiv_(p, grad, std, value=-clr)
