"""``Module``'s device and dtype methods: ``to``, ``to_empty``, ``cpu``, ``float``, ``double``,
``half``, ``bfloat16`` (a base class of :class:`corefw.nn.Module`, kept apart by job)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import corefw
from corefw import Tensor
from corefw.errors import DTypeError

from ._module_helpers import parse_to

__all__ = ["DeviceDtypeMethods"]

_M = TypeVar("_M", bound="DeviceDtypeMethods")


class DeviceDtypeMethods:
    """Moving and casting a module's parameters and buffers in place (parameters stay the same
    objects, so optimizers built before stay valid). Reads the ``Module`` bookkeeping
    (``_parameters``, ``_buffers``, ``children()``)."""

    def _apply(self: _M, fn: Callable[[Tensor], Tensor]) -> _M:
        for module in self.children():
            module._apply(fn)
        with corefw.no_grad():
            for param in self._parameters.values():
                if param is None:
                    continue
                param.data = fn(param.data)  # keeps the Parameter object: optimizers stay valid
                grad = param.grad
                if grad is not None:
                    grad.data = fn(grad.data)
            for key, buf in self._buffers.items():
                if buf is not None:
                    self._buffers[key] = fn(buf)
        return self

    def to_empty(self: _M, *, device: Any, recurse: bool = True) -> _M:
        """Give every parameter and buffer uninitialised storage on ``device`` (PyTorch's way
        to materialise a model built on the ``meta`` device); initialise it afterwards, e.g.
        with each submodule's ``reset_parameters()``."""
        return self._apply(lambda t: corefw.empty(t.shape, dtype=t.dtype, device=device))

    def to(self: _M, *args: Any, **kwargs: Any) -> _M:
        """Move and/or cast parameters and buffers in place; returns ``self``.

        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its device and
        dtype), or keywords ``device=``, ``dtype=``. A dtype applies to floating-point tensors
        only; integer buffers such as ``num_batches_tracked`` keep theirs. Parameters stay the
        same objects (their data is replaced), so an optimizer built before ``to`` still works.
        """
        device, dtype = parse_to(args, kwargs)
        if dtype is not None and not dtype.is_floating_point:
            raise DTypeError(f"Module.to only accepts floating point dtypes, but got desired "
                             f"dtype={dtype}; cast integer tensors individually")

        def convert(t: Tensor) -> Tensor:
            if device is not None:
                t = t.to(device)
            if dtype is not None and t.dtype.is_floating_point:
                t = t.to(dtype)
            return t

        return self._apply(convert)

    def cpu(self: _M) -> _M:
        """Move every parameter and buffer to the host device."""
        return self.to("cpu")

    def float(self: _M) -> _M:
        """Cast floating-point parameters and buffers to float32."""
        return self.to(corefw.float32)

    def double(self: _M) -> _M:
        """Cast floating-point parameters and buffers to float64."""
        return self.to(corefw.float64)

    def half(self: _M) -> _M:
        """Cast floating-point parameters and buffers to float16."""
        return self.to(corefw.float16)

    def bfloat16(self: _M) -> _M:
        """Cast floating-point parameters and buffers to bfloat16."""
        return self.to(corefw.bfloat16)
