"""NAdam, Adam with Nesterov momentum (Dozat, 2016), and RAdam, rectified Adam (Liu et al.,
2020); both with PyTorch's optional decoupled weight decay."""

from __future__ import annotations

import math
from typing import Any

import corefw

from .adam import _check_adam_like
from .optimizer import (
    Optimizer,
    ParamsT,
    _addcdiv_,
    _check_non_negative,
    _check_unsupported,
    _lr,
    _scalar_state,
)

__all__ = ["NAdam", "RAdam"]


class _AdamFamily(Optimizer):
    """Shared constructor and state of NAdam and RAdam."""

    def _setup(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        _check_adam_like(defaults["lr"], defaults["betas"], defaults["eps"],
                         defaults["weight_decay"])
        _check_unsupported(type(self).__name__, capturable=defaults["capturable"],
                           differentiable=defaults["differentiable"])
        Optimizer.__init__(self, params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["exp_avg"] = corefw.zeros_like(p)
        state["exp_avg_sq"] = corefw.zeros_like(p)

    def _moments(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> tuple:
        """Advance the step and both moments; returns (grad, step)."""
        beta1, beta2 = group["betas"]
        lr, weight_decay = _lr(group), group["weight_decay"]
        grad = self._grad(p, group)
        state["step"].add_(1)
        step = state["step"].item()
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * weight_decay)
            else:
                grad = grad + p * weight_decay
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        return grad, step


class NAdam(_AdamFamily):
    r"""NAdam (PyTorch's ``torch.optim.NAdam``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots`, with :math:`\psi` = ``momentum_decay``:

    .. code-block:: text

        g = g + weight_decay * theta            (theta *= 1 - lr * weight_decay if decoupled)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * psi));  P_t = mu_1 * ... * mu_t
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        d = sqrt(v / (1 - beta2**t)) + eps
        theta = theta - lr * (1 - mu_t) / (1 - P_t) * g / d
                      - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d

    State per parameter: ``"step"``, ``"mu_product"`` (P, both 0-d float32 tensors),
    ``"exp_avg"`` (m) and ``"exp_avg_sq"`` (v).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: added to the denominator for numerical stability.
        weight_decay: weight decay coefficient.
        momentum_decay: the momentum schedule's decay (psi).
        decoupled_weight_decay: shrink the parameter directly (NAdamW) instead of adding
            ``weight_decay * theta`` to the gradient.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.
        capturable, differentiable: accepted for PyTorch compatibility; must be ``False``.

    Raises:
        ValueError: a negative ``lr``, ``eps``, ``weight_decay`` or ``momentum_decay``, or a
            beta outside [0, 1).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_non_negative(momentum_decay=momentum_decay)
        self._setup(params, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable,
        ))

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        state["mu_product"] = _scalar_state(1.0)  # PyTorch's key order
        state["exp_avg"] = corefw.zeros_like(p)
        state["exp_avg_sq"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, psi = _lr(group), group["momentum_decay"]
        grad, step = self._moments(p, group, state)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = state["mu_product"].mul_(mu).item()
        denom = (state["exp_avg_sq"] / (1 - beta2**step)).sqrt_().add_(group["eps"])
        _addcdiv_(p, grad, denom, value=-lr * (1.0 - mu) / (1.0 - mu_product))
        _addcdiv_(p, state["exp_avg"], denom,
                  value=-lr * mu_next / (1.0 - mu_product * mu_next))


class RAdam(_AdamFamily):
    r"""RAdam (PyTorch's ``torch.optim.RAdam``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots`:

    .. code-block:: text

        g = g + weight_decay * theta            (theta *= 1 - lr * weight_decay if decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            theta = theta - lr * m_hat * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)
        else:
            theta = theta - lr * m_hat

    State per parameter: ``"step"`` (a 0-d float32 tensor), ``"exp_avg"`` (m) and
    ``"exp_avg_sq"`` (v).

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: added to the denominator for numerical stability.
        weight_decay: weight decay coefficient.
        decoupled_weight_decay: shrink the parameter directly (RAdamW) instead of adding
            ``weight_decay * theta`` to the gradient.
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.
        capturable, differentiable: accepted for PyTorch compatibility; must be ``False``.

    Raises:
        ValueError: a negative ``lr``, ``eps`` or ``weight_decay``, or a beta outside [0, 1).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        self._setup(params, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
            capturable=capturable, differentiable=differentiable,
        ))

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr = _lr(group)
        _, step = self._moments(p, group, state)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        m_hat = state["exp_avg"] / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            denom = state["exp_avg_sq"].sqrt().add_(group["eps"])
            _addcdiv_(p, m_hat, denom, value=-lr * rect * math.sqrt(bias_correction2))
        else:
            p.add_(m_hat, alpha=-lr)
