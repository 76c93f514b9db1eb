"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's names)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import corefw

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _as_list(tensors: Any) -> list[Any]:
    if isinstance(tensors, corefw.Tensor):
        return [tensors]
    return list(tensors)


def _vector_norm(x: Any, norm_type: float) -> Any:
    """The ``norm_type``-norm of ``x`` seen as one vector, a 0-d tensor of ``x``'s dtype."""
    if norm_type == math.inf:
        return x.abs().amax() if x.numel() else corefw.zeros((), dtype=x.dtype, device=x.device)
    if norm_type == -math.inf:
        return x.abs().amin()
    if norm_type == 0:
        return (x != 0).sum().to(x.dtype)
    if norm_type == 1:
        return x.abs().sum()
    if norm_type == 2:
        return (x * x).sum().sqrt()
    return (x.abs() ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(
    tensors: Any,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Any:
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector.

    Args:
        tensors: a tensor or an iterable of tensors (typically gradients).
        norm_type: the order of the norm; ``math.inf`` for the largest absolute value.
        error_if_nonfinite: raise if the norm is ``nan`` or ``inf``.
        foreach: accepted for PyTorch compatibility; ignored.

    Returns:
        A 0-d tensor on the first tensor's device (``tensor(0.)`` for no tensors).
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return corefw.tensor(0.0)
    device = tensors[0].device
    dtypes = {t.dtype for t in tensors}
    dtype = tensors[0].dtype if len(dtypes) == 1 else corefw.float32
    with corefw.no_grad():
        norms = [_vector_norm(t.detach(), norm_type).to(device).to(dtype) for t in tensors]
        total = _vector_norm(corefw.stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(
    parameters: Any, max_norm: float, total_norm: Any, foreach: bool | None = None
) -> None:
    """Scale the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm +
    1e-6))``, given their precomputed ``total_norm`` (see :func:`get_total_norm`)."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    with corefw.no_grad():
        coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.device).to(g.dtype))


def clip_grad_norm_(
    parameters: Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Any:
    """Clip the gradient norm of ``parameters`` in place (PyTorch's ``clip_grad_norm_``).

    The norm is computed over all gradients together, as if concatenated into one vector; if
    it exceeds ``max_norm`` every gradient is multiplied by ``max_norm / (norm + 1e-6)``.
    Parameters whose ``.grad`` is ``None`` are skipped.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        max_norm: the largest allowed norm.
        norm_type: the order of the norm; ``math.inf`` for the largest absolute value.
        error_if_nonfinite: raise ``RuntimeError`` if the total norm is ``nan`` or ``inf``
            (otherwise the gradients are scaled by it anyway, as PyTorch does).
        foreach: accepted for PyTorch compatibility; ignored.

    Returns:
        The total norm of the gradients before clipping, a 0-d tensor.
    """
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_value_(
    parameters: Iterable[Any] | Any, clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient of ``parameters`` in place to ``[-clip_value, clip_value]``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        clip_value: the largest allowed absolute value of a gradient element.
        foreach: accepted for PyTorch compatibility; ignored.
    """
    clip_value = float(clip_value)
    with corefw.no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
