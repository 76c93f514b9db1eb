"""Adafactor (Shazeer & Stern, 2018) in PyTorch's form (``torch.optim.Adafactor``): the second
moment of a matrix's gradient kept as a row and a column factor, so its state grows with
rows + columns rather than with the matrix."""

from __future__ import annotations

import math
from typing import Any

import corefw

from .optimizer import Optimizer, ParamsT, _lr, _scalar_state

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    r"""Adafactor (PyTorch's ``torch.optim.Adafactor``).

    For each parameter :math:`\theta` with gradient :math:`g` (negated when ``maximize``),
    at step :math:`t = 1, 2, \ldots`, with ``eps1`` defaulting to the dtype's machine epsilon:

    .. code-block:: text

        b = t ** beta2_decay                       (1 - beta2_t)
        rho = min(lr, 1 / sqrt(t))
        alpha = max(eps2, RMS(theta)) * rho
        theta = theta * (1 - lr * weight_decay)
        if theta has 2 or more dims (factored over the last two):
            R = lerp(R, mean(g^2, dim=-1), b)       (rows, shape (..., m, 1))
            C = lerp(C, mean(g^2, dim=-2), b)       (columns, shape (..., 1, n))
            V = R @ C / max(mean(R, dim=-2), eps1)
        else:
            V = lerp(V, g^2, b)
        U = g / sqrt(max(V, eps1^2))
        theta = theta - alpha / max(1, RMS(U) / d) * U

    State per parameter: ``"step"``, and ``"row_var"``/``"col_var"`` (matrices) or
    ``"variance"`` (vectors and scalars), PyTorch's keys.

    Raises:
        ValueError: a negative ``lr``, ``eps`` or ``weight_decay``, ``beta2_decay > 0`` or
            ``d < 1``.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        for ok, what in ((lr >= 0, f"Learning rate should be >= 0 but is: {lr}"),
                         (beta2_decay <= 0, f"beta2_decay should be <= 0 but is: {beta2_decay}"),
                         (eps[0] is None or eps[0] >= 0,
                          f"epsilon1 should be >= 0 but is: {eps[0]}"),
                         (eps[1] >= 0, f"epsilon2 should be >= 0 but is: {eps[1]}"),
                         (d >= 1, f"Clipping threshold d should be >= 1 but is: {d}"),
                         (weight_decay >= 0,
                          f"weight_decay should be >= 0 but is: {weight_decay}")):
            if not ok:
                raise ValueError(f"Adafactor: {what}")
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                        weight_decay=weight_decay, foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _scalar_state()
        if p.ndim > 1:
            state["row_var"] = corefw.zeros(tuple(p.shape[:-1]) + (1,), dtype=p.dtype,
                                            device=p.device)
            state["col_var"] = corefw.zeros(tuple(p.shape[:-2]) + (1, p.shape[-1]),
                                            dtype=p.dtype, device=p.device)
        else:
            state["variance"] = corefw.zeros_like(p)

    def _update(self, p: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        grad = self._grad(p, group)
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = corefw.finfo(p.dtype).eps
        state["step"].add_(1)
        t = state["step"].item()
        b = t ** group["beta2_decay"]
        rho = min(_lr(group), 1 / math.sqrt(t))
        alpha = max(eps2, p.norm().item() / math.sqrt(max(p.numel(), 1))) * rho
        if group["weight_decay"] != 0:
            p.mul_(1 - _lr(group) * group["weight_decay"])
        sq = grad * grad
        if grad.ndim > 1:
            row, col = state["row_var"], state["col_var"]
            row.lerp_(sq.mean(dim=-1, keepdim=True), b)
            col.lerp_(sq.mean(dim=-2, keepdim=True), b)
            var = (row @ col) / row.mean(dim=-2, keepdim=True).clamp(min=eps1)
        else:
            state["variance"].lerp_(sq, b)
            var = state["variance"]
        update = corefw.rsqrt(var.clamp(min=eps1 * eps1)) * grad
        denom = max(1.0, update.norm().item() / (math.sqrt(max(update.numel(), 1)) * group["d"]))
        p.add_(update, alpha=-alpha / denom)
