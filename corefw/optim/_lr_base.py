"""The base class of the learning-rate schedulers (see :mod:`corefw.optim.lr_scheduler`)."""

from __future__ import annotations

import warnings
from typing import Any

import corefw

from .optimizer import Optimizer

__all__ = ["LRScheduler"]


def set_lr(group: dict[str, Any], lr: Any) -> None:
    """``group["lr"] = lr``; a tensor lr (``SGD(params, lr=corefw.tensor(0.1))``) is filled
    in place instead, as PyTorch's schedulers do: the same tensor stays an input of a
    compiled step, so a new lr needs no new capture."""
    current = group["lr"]
    if isinstance(current, corefw.Tensor):
        with corefw.no_grad():
            current.fill_(lr)
    else:
        group["lr"] = lr


def current_lrs(optimizer: Optimizer) -> list[Any]:
    """Each group's lr now (tensor lrs copied, so that a later fill does not change them)."""
    return [g["lr"].clone() if isinstance(g["lr"], corefw.Tensor) else g["lr"]
            for g in optimizer.param_groups]


_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` is deprecated (as in PyTorch): call "
    "`scheduler.step()` without it; the lr is then set from the closed form if one exists."
)


class LRScheduler:
    """Base class of the schedulers; subclasses implement :meth:`get_lr`.

    Args:
        optimizer: the wrapped optimizer.
        last_epoch: the index of the last epoch; ``-1`` starts from the optimizer's current
            lrs (stored as ``group["initial_lr"]``), otherwise every group must already hold
            ``"initial_lr"`` (resuming).

    Attributes:
        base_lrs: the initial lr of each group.
        last_epoch: the number of ``step()`` calls so far (0 after construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                lr = group["lr"]
                group.setdefault("initial_lr", lr.clone() if isinstance(lr, corefw.Tensor)
                                 else lr)
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        "resuming an optimizer"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._get_lr_called_within_step = False
        self._step_count = 0
        self.step()

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (PyTorch's layout)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)

    def get_last_lr(self) -> list[float]:
        """The lrs of the groups as this scheduler last set them."""
        return self._last_lr

    def get_lr(self) -> list[float]:
        """The lrs for ``self.last_epoch`` (called by ``step``; use ``get_last_lr`` instead)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def _warn_get_lr(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use "
                "`get_last_lr()`.",
                UserWarning,
                stacklevel=3,
            )

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or, deprecated, jump to ``epoch``) and set the groups' lrs."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", True):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`. Call "
                "`optimizer.step()` first, then `lr_scheduler.step()`, or the first value "
                "of the schedule is skipped.",
                UserWarning,
                stacklevel=2,
            )
        self._step_count += 1
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            set_lr(group, lr)
        self._last_lr = current_lrs(self.optimizer)


_LRScheduler = LRScheduler  # PyTorch's old name
