"""Data attribution: TracInCP (Pruthi et al. 2020), with Captum's names and arguments.

The influence of a training example ``z`` on a test example ``z'`` is the sum over saved
checkpoints ``c`` of ``lr_c * grad_theta L(z') . grad_theta L(z)``, the loss gradients taken at
the checkpoint's parameters (all of them, or those of ``layers``). Positive scores mark
*proponents* (training examples whose gradient steps lowered the test loss), negative ones
*opponents*. Self-influence ``sum_c lr_c |grad L(z)|^2`` finds mislabelled or unusual examples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

import corefw
from corefw import Tensor

from ._results import InfluenceScores
from .errors import XaiError

__all__ = ["TracInCP", "load_checkpoint"]


def load_checkpoint(model, path) -> float:
    """Captum's default ``checkpoints_load_func``: load a checkpoint into ``model`` and return
    its learning rate. The file (``corefw.save``) holds a state dict, or a dict with
    ``"model_state_dict"`` and optionally ``"learning_rate"`` (default 1.0). A state dict may
    also be given directly instead of a path."""
    state = path if isinstance(path, dict) else corefw.load(os.fspath(path))
    lr = 1.0
    if "model_state_dict" in state:
        lr = float(state.get("learning_rate", 1.0))
        state = state["model_state_dict"]
    elif "learning_rate" in state:
        state = dict(state)
        lr = float(state.pop("learning_rate"))
    model.load_state_dict(state)
    return lr


def _examples(dataset) -> list[tuple]:
    """Training examples as tuples ``(inputs..., label)`` with a batch dim of 1 each."""
    if isinstance(dataset, (tuple, list)) and dataset and all(isinstance(t, Tensor)
                                                             for t in dataset):
        n = dataset[0].shape[0]
        return [tuple(t[i:i + 1] for t in dataset) for i in range(n)]
    out = []
    for batch in dataset:  # a Dataset of examples or a DataLoader of batches
        items = tuple(batch)
        is_batch = isinstance(dataset, corefw.data.DataLoader)
        if not is_batch:
            items = tuple(t.unsqueeze(0) if isinstance(t, Tensor) else corefw.tensor([t])
                          for t in items)
        n = items[0].shape[0]
        out += [tuple(t[i:i + 1] for t in items) for i in range(n)]
    return out


class TracInCP:
    """Influence of each training example on test predictions, from checkpoints.

    Registered as ``tracin_cp`` (kind "data"): ``explain(model, (x_test, y_test),
    method="tracin_cp", init={"train_dataset": ..., "checkpoints": ..., "loss_fn": ...})``
    calls :meth:`attribute`, which returns an :class:`~corefw_xai._results.InfluenceScores`.

    Args:
        model: the ``corefw.nn.Module`` (its parameters are restored after each call).
        train_dataset: a ``Dataset`` of ``(inputs..., label)`` examples, a ``DataLoader`` of
            such batches, or a tuple of tensors ``(inputs..., labels)``.
        checkpoints: a directory (every file in it, sorted), a list of paths, or a list of
            state dicts.
        checkpoints_load_func: ``fn(model, checkpoint) -> learning rate``.
        layers: names of the modules whose parameters' gradients count (default all).
        loss_fn: ``loss_fn(outputs, labels)``, e.g. ``nn.MSELoss(reduction="sum")``; gradients
            are taken one example at a time, so any reduction gives per-example gradients.
        batch_size: accepted for Captum's signature (examples are processed one by one).
        test_loss_fn: the loss for test examples (default ``loss_fn``).
    """

    name = "tracin_cp"
    kind = "data"
    result_type = InfluenceScores

    def __init__(self, model, train_dataset, checkpoints, checkpoints_load_func: Callable =
                 load_checkpoint, layers: Sequence[str] | None = None,
                 loss_fn: Callable | None = None, batch_size: int = 1,
                 test_loss_fn: Callable | None = None,
                 sample_wise_grads_per_batch: bool = False) -> None:
        if loss_fn is None:
            raise XaiError("TracInCP: loss_fn is required, e.g. nn.CrossEntropyLoss("
                           "reduction='sum') or nn.MSELoss(reduction='sum')")
        self.model = model
        self.train = _examples(train_dataset)
        if isinstance(checkpoints, (str, os.PathLike)):
            folder = os.fspath(checkpoints)
            checkpoints = [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
        self.checkpoints = list(checkpoints)
        if not self.checkpoints:
            raise XaiError("TracInCP: no checkpoints given")
        self.load = checkpoints_load_func
        self.loss_fn, self.test_loss_fn = loss_fn, test_loss_fn or loss_fn
        named = dict(model.named_modules())
        if layers is not None:
            missing = [n for n in layers if n not in named]
            if missing:
                raise XaiError(f"TracInCP: no layers named {missing}; names: "
                               f"{', '.join(n for n in named if n)}")
            self.params = [p for n in layers for p in named[n].parameters()]
        else:
            self.params = list(model.parameters())
        self.batch_size = batch_size

    def _grads(self, examples: list[tuple], loss_fn) -> np.ndarray:
        """Flattened loss gradients (n, n_params) at the current parameters."""
        rows = []
        for ex in examples:
            *xs, y = ex
            with corefw.enable_grad():
                loss = loss_fn(self.model(*xs), y)
                if loss.ndim:
                    loss = loss.sum()
                gs = corefw.autograd.grad(loss, self.params, allow_unused=True,
                                          materialize_grads=True)
            rows.append(np.concatenate([g.detach().cpu().numpy().astype(np.float64).ravel()
                                        for g in gs]))
        return np.stack(rows)

    def _over_checkpoints(self, fn) -> np.ndarray:
        saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        total = None
        try:
            for ckpt in self.checkpoints:
                lr = float(self.load(self.model, ckpt))
                part = lr * fn()
                total = part if total is None else total + part
        finally:
            self.model.load_state_dict(saved)
        return total

    def influence(self, inputs, k: int | None = None, proponents: bool = True,
                  show_progress: bool = False):
        """Influence scores of every training example on each test example of ``inputs``
        (a tuple ``(inputs..., labels)``): a (n_test, n_train) tensor; with ``k``, the indices
        and scores of the ``k`` strongest proponents (``proponents=False``: opponents),
        each (n_test, k), as Captum's ``KMostInfluentialResults(indices, influence_scores)``.
        """
        scores = self.attribute(inputs)
        return scores.scores if k is None else scores.top(k, proponents)

    def attribute(self, inputs, target=None) -> InfluenceScores:
        """The influence matrix of :meth:`influence` as an
        :class:`~corefw_xai._results.InfluenceScores` (``.scores``, ``.top(k)``,
        ``.summary()``); ``inputs`` is ``(inputs..., labels)``, the labels being the targets
        (``target`` is accepted for the registry's calling convention and must be None)."""
        if target is not None:
            raise XaiError("TracInCP.attribute: the test labels are the last element of "
                           "inputs, (inputs..., labels); target must be None")
        test = _examples(tuple(inputs))
        return InfluenceScores(corefw.tensor(self._over_checkpoints(
            lambda: self._grads(test, self.test_loss_fn) @ self._grads(self.train,
                                                                        self.loss_fn).T)))

    def self_influence(self, inputs=None, show_progress: bool = False,
                       outer_loop_by_checkpoints: bool = False) -> Tensor:
        """``sum_c lr_c |grad L(z)|^2`` for each example of ``inputs`` (default the training
        set): shape (n,)."""
        exs = self.train if inputs is None else _examples(tuple(inputs))
        return corefw.tensor(self._over_checkpoints(
            lambda: np.sum(self._grads(exs, self.loss_fn) ** 2, 1)))
