"""Muon (Jordan et al., 2024) in PyTorch's form (``torch.optim.Muon``): momentum SGD for
2-d parameters whose update is orthogonalized by a quintic Newton-Schulz iteration."""

from __future__ import annotations

import math
from typing import Any

import corefw

from .optimizer import Optimizer, ParamsT, _lr

__all__ = ["Muon"]

_NS = (3.4445, -4.7750, 2.0315)


def zeropower_via_newtonschulz(g, coefficients=_NS, steps: int = 5, eps: float = 1e-7):
    """``X -> a X + (b G + c G^2) X`` with ``G = X X^T``, ``steps`` times, from
    ``X = g / ||g||`` (transposed when tall): roughly ``U V^T`` of ``g = U S V^T``."""
    if steps >= 100:
        raise ValueError(f"Muon: ns_steps must be below 100, got {steps}")
    if g.ndim != 2:
        raise ValueError(f"Muon: expected a 2-d gradient, got shape {tuple(g.shape)}")
    a, b, c = coefficients
    tall = g.shape[0] > g.shape[1]
    x = g.mT if tall else g
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.mT if tall else x


class Muon(Optimizer):
    r"""Muon (PyTorch's ``torch.optim.Muon``), for 2-d parameters only.

    For each parameter :math:`\theta` (m x n) with gradient :math:`g`:

    .. code-block:: text

        buf = lerp(buf, g, 1 - momentum)
        u = lerp(g, buf, momentum) if nesterov else buf
        u = newton_schulz(u)                                 (see zeropower_via_newtonschulz)
        theta = theta * (1 - lr * weight_decay) - lr' * u

    with ``lr' = lr * sqrt(max(1, m / n))`` (``adjust_lr_fn="original"`` or None),
    ``0.2 * lr * sqrt(max(m, n))`` (``"match_rms_adamw"``). State: ``"momentum_buffer"``.

    Differs from PyTorch: the Newton-Schulz iteration runs in the parameter's dtype, where
    PyTorch runs it in bfloat16 (so corefw's update is the more exact one).

    Raises:
        ValueError: a negative ``lr``, ``momentum`` or ``weight_decay``, an unknown
            ``adjust_lr_fn``, or a parameter that is not 2-d.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = _NS, eps: float = 1e-7,
                 ns_steps: int = 5, adjust_lr_fn: str | None = None) -> None:
        for ok, what in ((lr >= 0, f"Learning rate should be >= 0 but is: {lr}"),
                         (momentum >= 0, f"momentum should be >= 0 but is: {momentum}"),
                         (weight_decay >= 0,
                          f"weight decay should be >= 0 but is: {weight_decay}"),
                         (adjust_lr_fn in (None, "original", "match_rms_adamw"),
                          f"Adjust learning rate function {adjust_lr_fn} is not supported")):
            if not ok:
                raise ValueError(f"Muon: {what}")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                        nesterov=nesterov, ns_coefficients=ns_coefficients, eps=eps,
                        ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon only supports 2-d parameters, got one of shape "
                                     f"{tuple(p.shape)}; optimize the others with AdamW")

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["momentum_buffer"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        grad = p.grad
        buf = state["momentum_buffer"]
        buf.lerp_(grad, 1 - group["momentum"])
        update = grad.lerp(buf, group["momentum"]) if group["nesterov"] else buf
        update = zeropower_via_newtonschulz(update, group["ns_coefficients"],
                                            group["ns_steps"], group["eps"])
        m, n = p.shape
        fn = group["adjust_lr_fn"]
        ratio = 0.2 * math.sqrt(max(m, n)) if fn == "match_rms_adamw" else math.sqrt(
            max(1, m / n))
        p.mul_(1 - _lr(group) * group["weight_decay"])
        p.add_(update, alpha=-_lr(group) * ratio)
