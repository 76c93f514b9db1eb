"""Stochastic weight averaging and EMA of weights (PyTorch's ``torch.optim.swa_utils``):
:class:`AveragedModel`, :class:`SWALR`, :func:`update_bn` and the averaging functions."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import corefw

from ..nn.module import Module
from ._lr_base import LRScheduler
from ._lr_cycle import _per_group
from .optimizer import Optimizer

__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn",
           "get_swa_avg_fn", "get_swa_multi_avg_fn", "update_bn"]


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Any, Any, Any], Any]:
    """``avg_fn`` of an exponential moving average: ``decay * avg + (1 - decay) * current``."""

    def ema_update(ema_param: Any, current_param: Any, num_averaged: Any) -> Any:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Any, Any, Any], Any]:
    """``avg_fn`` of the running mean: ``avg + (current - avg) / (n + 1)``."""

    def swa_update(averaged_param: Any, current_param: Any, num_averaged: Any) -> Any:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[list, list, Any], None]:
    """``multi_avg_fn`` of the EMA: updates the averaged tensors of a list in place."""

    def ema_update(ema_params: list, current_params: list, num_averaged: Any) -> None:
        for e, c in zip(ema_params, current_params):
            if e.dtype.is_floating_point:
                e.lerp_(c, 1 - decay)
            else:  # integer buffers (counters) cannot be averaged: follow the model
                e.copy_(c)

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[list, list, Any], None]:
    """``multi_avg_fn`` of the running mean, in place over lists of tensors."""

    def swa_update(averaged_params: list, current_params: list, num_averaged: Any) -> None:
        n = float(num_averaged) + 1
        for a, c in zip(averaged_params, current_params):
            if a.dtype.is_floating_point:
                a.add_((c - a) / n)
            else:  # integer buffers (counters) cannot be averaged: follow the model
                a.copy_(c)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are the average of ``model``'s over the calls to
    :meth:`update_parameters` (SWA by default; EMA with ``get_ema_multi_avg_fn(decay)``).

    Args:
        model: the model to average (deep-copied).
        device: where to keep the average (default: where the model is).
        avg_fn: ``avg_fn(averaged, current, n_averaged) -> new averaged``, per tensor.
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, n_averaged)``, in place.
        use_buffers: average the buffers too (else they are copied from ``model``).

    Buffers: ``n_averaged`` (int64, how many models were averaged), so the state-dict keys
    are ``module.<name>`` and ``n_averaged`` as in PyTorch.
    """

    def __init__(self, model: Module, device: Any = None,
                 avg_fn: Callable[[Any, Any, Any], Any] | None = None,
                 multi_avg_fn: Callable[[list, list, Any], None] | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: only one of avg_fn and multi_avg_fn should be "
                             "provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged",
                             corefw.tensor(0, dtype=corefw.int64, device=device or "cpu"))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters (and buffers, with ``use_buffers``) into the
        average."""
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine, theirs = list(self.module.parameters()), list(model.parameters())
        n = int(self.n_averaged.item())
        with corefw.no_grad():
            averaged = [p.detach() for p in mine]
            current = [p.detach().to(a.device) for p, a in zip(theirs, averaged)]
            if n == 0:
                for a, c in zip(averaged, current):
                    a.copy_(c)
            elif self.avg_fn is not None:
                for a, c in zip(averaged, current):
                    a.copy_(self.avg_fn(a, c, self.n_averaged.to(a.device)))
            else:
                multi = self.multi_avg_fn or get_swa_multi_avg_fn()
                multi(averaged, current, self.n_averaged)
            if not self.use_buffers:  # keep the buffers in sync with the source model
                for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                    b_avg.copy_(b_model.detach().to(b_avg.device))
            self.n_averaged.add_(1)


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the BatchNorm running statistics of ``model`` with one pass over ``loader``
    (after weight averaging the stored ones no longer fit the weights).

    Each batch (or the first element of a list/tuple batch) is fed to ``model`` in training
    mode with the norms' momentum set to ``None`` (a plain average over the pass).
    """
    from ..nn.modules.normalization import _BatchNorm

    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with corefw.no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` epochs (cosine or linear),
    then keep it: the lr schedule of the SWA phase.

    Raises:
        ValueError: an unknown ``anneal_strategy`` or a negative ``anneal_epochs``.
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float],
                 anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        for lr, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must by one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs}")
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t: float) -> float:
        """The fraction of the way to ``swa_lr`` at progress ``t`` in [0, 1]."""
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        self._warn_get_lr()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]
