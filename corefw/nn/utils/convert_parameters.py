"""``parameters_to_vector`` / ``vector_to_parameters`` (PyTorch's
``torch.nn.utils.convert_parameters``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import corefw

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _params(parameters: Any) -> list[Any]:
    return [parameters] if isinstance(parameters, corefw.Tensor) else list(parameters)


def _check_same_device(params: list[Any]) -> None:
    devices = {str(p.device) for p in params}
    if len(devices) > 1:
        raise TypeError(
            "Found two parameters on different devices, this is currently not supported "
            f"(devices: {sorted(devices)}); move the module to one device first")


def parameters_to_vector(parameters: Iterable[Any]) -> Any:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    params = _params(parameters)
    _check_same_device(params)
    return corefw.cat([p.reshape(-1) for p in params], 0)


def vector_to_parameters(vec: Any, parameters: Iterable[Any]) -> None:
    """Set the parameters' values from the slices of the 1-D tensor ``vec``, in order.

    As in PyTorch, each parameter's data becomes a view of ``vec`` (the parameter objects,
    and so the optimizers that hold them, stay the same).

    Raises:
        TypeError: ``vec`` is not a tensor, or the parameters are on different devices.
        ShapeError: ``vec``'s length differs from the parameters' total size.
    """
    if not isinstance(vec, corefw.Tensor):
        raise TypeError(f"expected corefw.Tensor, but got: {type(vec).__name__}")
    params = _params(parameters)
    _check_same_device(params)
    total = sum(p.numel() for p in params)
    if vec.dim() != 1 or vec.numel() != total:
        from corefw.errors import ShapeError

        raise ShapeError(
            f"vector_to_parameters: vec has shape {tuple(vec.shape)} but the parameters hold "
            f"{total} elements; pass a 1-D tensor of that length (parameters_to_vector's)")
    pointer = 0
    flat = vec.detach()
    for p in params:
        n = p.numel()
        p.data = flat[pointer:pointer + n].view_as(p)
        pointer += n
