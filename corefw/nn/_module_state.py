"""``Module``'s state dict: ``state_dict`` and ``load_state_dict`` with PyTorch's keys (a base
class of :class:`corefw.nn.Module`, kept apart by job)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import corefw
from corefw import Tensor

from ._module_helpers import _IncompatibleKeys, convert_like, plan_load
from .parameter import Parameter

__all__ = ["StateDictMethods"]


class StateDictMethods:
    """Parameters and persistent buffers by dotted name (``"0.weight"``, ``"bn.running_mean"``),
    out and back in. Reads the ``Module`` bookkeeping (``_parameters``, ``_buffers``,
    ``_non_persistent_buffers_set``, ``_modules``)."""

    def _state_entries(self, prefix: str = ""
                       ) -> Iterator[tuple[str, StateDictMethods, str, Tensor]]:
        """``(key, owner, attribute name, tensor)`` for every state_dict entry, shared ones under
        every path (PyTorch's keys)."""
        for name, param in self._parameters.items():
            if param is not None:
                yield prefix + name, self, name, param
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                yield prefix + name, self, name, buf
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_entries(prefix + name + ".")

    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, as an ordered dict.

        Values are detached aliases (they share memory with the module's tensors) unless
        ``keep_vars=True``, which returns the Parameter objects themselves.
        """
        if destination is None:
            destination = OrderedDict()
        for key, _, _, tensor in self._state_entries(prefix):
            destination[key] = tensor if keep_vars else tensor.detach()
        return destination

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module.

        Values (corefw tensors or NumPy arrays) are copied in place under ``no_grad``, cast to
        each tensor's dtype and moved to its device, so optimizers holding the parameters keep
        working. With ``assign=True`` the module takes the values themselves instead.

        Everything is checked before anything is copied: on an error the module is unchanged.
        A shape mismatch or a non-tensor value is always an error; missing and unexpected keys
        are errors when ``strict`` (the default). Errors raise
        :class:`~corefw.errors.StateDictError` listing all problems. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        plan, missing, unexpected = plan_load(self._state_entries(), state_dict, strict,
                                              self._get_name())
        with corefw.no_grad():
            # Convert everything first so a failing cast/move also leaves the module unchanged.
            plan = [(o, n, cur, convert_like(val, cur, assign)) for o, n, cur, val in plan]
            for owner, name, current, value in plan:
                if not assign:
                    current.copy_(value)
                elif name in owner._parameters:
                    if not isinstance(value, Parameter):
                        value = Parameter(value, requires_grad=current.requires_grad)
                    owner._parameters[name] = value
                else:
                    owner._buffers[name] = value
        return _IncompatibleKeys(missing, unexpected)
