"""Adam (Kingma & Ba, 2015), its AMSGrad variant, and AdamW (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from typing import Any

import corefw

from ..ops.inplace import adam_step_
from .optimizer import (
    Optimizer,
    ParamsT,
    _addcdiv_,
    _check_non_negative,
    _check_unsupported,
    _lr,
    _scalar_state,
)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots`:

    .. code-block:: text

        g = g + weight_decay * theta                      (Adam, if weight_decay != 0)
        theta = theta * (1 - lr * weight_decay)           (AdamW instead: decoupled decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                              (if amsgrad; used instead of v)
        theta = theta - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``"step"`` (a 0-d float32 tensor), ``"exp_avg"`` (m),
    ``"exp_avg_sq"`` (v) and, with ``amsgrad``, ``"max_exp_avg_sq"``.

    Args:
        params: tensors or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate: a float, or a 1-element floating tensor (on the parameters' device
            with ``capturable``), which the schedulers fill in place, so that a compiled step
            reads it as an input instead of capturing again for every new lr.
        betas: coefficients of the running averages of the gradient and its square.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient (added to the gradient).
        amsgrad: use the maximum of the past squared-gradient averages (Reddi et al., 2018).
        foreach: accepted for PyTorch compatibility; corefw has one implementation.
        maximize: maximize the objective instead of minimizing it.
        capturable: keep ``step`` on the parameter's device and compute the bias corrections
            there, as tensors, instead of reading the step with ``.item()``: a compiled step is
            then one device graph that a ``jax.jit`` or CUDA-graph compiler takes whole (as
            PyTorch's flag makes Adam safe to capture in a CUDA graph). Eagerly it costs a few
            0-d tensor ops per parameter; results equal the default's to rounding.
        differentiable, fused: accepted for PyTorch compatibility; must be unset.

    Raises:
        ValueError: a negative ``lr``, ``eps`` or ``weight_decay``, or a beta outside [0, 1).
    """

    _decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | corefw.Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_adam_like(lr, betas, eps, weight_decay)
        _check_unsupported(
            type(self).__name__, differentiable=differentiable, fused=fused,
        )
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable, fused=fused,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state(device=p.device if group["capturable"] else None)
        state["exp_avg"] = corefw.zeros_like(p)
        state["exp_avg_sq"] = corefw.zeros_like(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        if amsgrad and "max_exp_avg_sq" not in state:  # amsgrad switched on later
            state["max_exp_avg_sq"] = corefw.zeros_like(p)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        state["step"].add_(1)
        if group["capturable"]:  # a tensor: the bias corrections below are tensor ops
            step = state["step"]
            if p.dtype.is_floating_point and p.dtype != step.dtype:
                step = step.to(p.dtype)  # float64 corrections for float64 parameters
        else:
            step = state["step"].item()
            lr = _lr(group)  # a tensor lr read like the step (lifted when compiled)
            if not amsgrad and p.grad.dtype == p.dtype:  # one fused update
                adam_step_(p, p.grad, exp_avg, exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2,
                           eps=eps, weight_decay=weight_decay,
                           decoupled=self._decoupled_weight_decay, maximize=group["maximize"],
                           step=step)
                return
        grad = self._grad(p, group)
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                p.mul_(1 - lr * weight_decay)
            else:
                grad = grad + p * weight_decay
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if amsgrad:
            max_sq = state["max_exp_avg_sq"]
            max_sq.copy_(corefw.maximum(max_sq, exp_avg_sq))
            denom = (max_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        _addcdiv_(p, exp_avg, denom, value=-lr / bias_correction1)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``).

    The same update as :class:`Adam`, except that weight decay shrinks the parameter
    directly, ``theta = theta * (1 - lr * weight_decay)``, before the moments are updated,
    instead of adding ``weight_decay * theta`` to the gradient. The default
    ``weight_decay`` is ``1e-2``. Arguments, state and errors are Adam's.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | corefw.Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            foreach=foreach, maximize=maximize, capturable=capturable,
            differentiable=differentiable, fused=fused,
        )


def _check_adam_like(lr: Any, betas: tuple[float, float], eps: float,
                     weight_decay: float) -> None:
    """PyTorch's argument checks of the Adam family (same messages)."""
    _check_non_negative(lr=lr, eps=eps)
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    _check_non_negative(weight_decay=weight_decay)
