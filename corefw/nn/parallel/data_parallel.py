"""``DataParallel`` (single process)."""

from __future__ import annotations

from typing import Any

from ..module import Module

__all__ = ["DataParallel"]


class DataParallel(Module):
    """PyTorch's ``DataParallel`` API: runs ``module`` as it is, on the device its parameters
    are on (corefw does not split a batch over devices within one process; use
    :class:`DistributedDataParallel` with one rank per device). ``state_dict()`` keys are the
    module's under ``module.``, as in PyTorch, so checkpoints carry over."""

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0) -> None:
        super().__init__()
        self.module = module
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)
