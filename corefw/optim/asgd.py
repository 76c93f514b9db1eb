"""Averaged SGD (Polyak & Juditsky, 1992) and Rprop (Riedmiller & Braun, 1993)."""

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

__all__ = ["ASGD", "Rprop"]


class ASGD(Optimizer):
    r"""Averaged stochastic gradient descent (PyTorch's ``torch.optim.ASGD``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots` (eta starts at ``lr``, mu at 1):

    .. code-block:: text

        g = g + weight_decay * theta                      (if weight_decay != 0)
        theta = theta * (1 - lambd * eta) - eta * g
        ax = theta  if mu == 1  else  ax + mu * (theta - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)

    ``ax`` is the running average of the iterates (averaging starts after ``t0`` steps);
    evaluate with it by copying it into the parameters.

    State per parameter: ``"step"``, ``"eta"``, ``"mu"`` (0-d float32 tensors) and ``"ax"``.

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        lambd: decay term.
        alpha: power of the eta update.
        t0: the step at which averaging starts.
        weight_decay: L2 penalty coefficient.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.
        differentiable, capturable: accepted for PyTorch compatibility; must be ``False``.

    Raises:
        ValueError: a negative ``lr`` or ``weight_decay``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_non_negative(lr=lr, weight_decay=weight_decay)
        _check_unsupported("ASGD", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize, differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["eta"] = _scalar_state(_lr(group))
        state["mu"] = _scalar_state(1.0)
        state["ax"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, lambd, alpha = _lr(group), group["lambd"], group["alpha"]
        grad = self._grad(p, group)
        state["step"].add_(1)
        step = state["step"].item()
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        eta = state["eta"].item()
        p.mul_(1 - lambd * eta)
        p.add_(grad, alpha=-eta)
        ax, mu = state["ax"], state["mu"].item()
        if mu != 1:
            ax.add_((p - ax).mul_(mu))
        else:
            ax.copy_(p)
        state["eta"].fill_(lr / ((1 + lambd * lr * step) ** alpha))
        state["mu"].fill_(1 / max(1, step - group["t0"]))


class Rprop(Optimizer):
    r"""Resilient backpropagation (PyTorch's ``torch.optim.Rprop``).

    Only the sign of the gradient is used. For each element, with gradient :math:`g`
    (negated when ``maximize``) and the previous step's (masked) gradient :math:`g'`:

    .. code-block:: text

        s = sign(g * g')
        step_size = clamp(step_size * (etaplus if s > 0 else etaminus if s < 0 else 1),
                          step_size_min, step_size_max)
        g = 0 where s < 0                          (after a sign change: no move this step)
        theta = theta - sign(g) * step_size
        g' = g

    State per parameter: ``"step"`` (a 0-d float32 tensor), ``"prev"`` (g') and
    ``"step_size"`` (starts at ``lr`` everywhere).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: the initial step size.
        etas: (etaminus, etaplus), the factors that shrink and grow the step size.
        step_sizes: (minimal, maximal) step size.
        capturable, differentiable: accepted for PyTorch compatibility; must be ``False``.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.

    Raises:
        ValueError: a negative ``lr`` or etas outside ``0 < etaminus < 1 < etaplus``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_non_negative(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _check_unsupported("Rprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["prev"] = corefw.zeros_like(p)
        state["step_size"] = corefw.full_like(p, _lr(group))

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        grad = self._grad(p, group)
        state["step"].add_(1)
        prev, step_size = state["prev"], state["step_size"]
        sign = (grad * prev).sign()
        one = corefw.ones_like(step_size)  # the factors in the parameter's dtype, as PyTorch
        factor = corefw.where(sign > 0, one * etaplus,
                              corefw.where(sign < 0, one * etaminus, one))
        step_size.mul_(factor).clamp_(step_size_min, step_size_max)
        grad = grad.masked_fill(factor == etaminus, 0.0)
        p.addcmul_(grad.sign(), step_size, value=-1)
        prev.copy_(grad)
