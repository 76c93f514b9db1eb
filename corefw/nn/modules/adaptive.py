"""``AdaptiveLogSoftmaxWithLoss`` (Grave et al., 2016), with PyTorch's arguments, submodules
(``head``, ``tail.<i>.0``, ``tail.<i>.1``) and outputs."""

from __future__ import annotations

from collections import namedtuple

import corefw

from ...errors import CorefwIndexError, ShapeError
from .. import functional as F
from ..containers import ModuleList, Sequential
from ..module import Module
from .linear import Linear

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax over many classes: a ``head`` over the ``cutoffs[0]`` frequent
    classes plus one entry per cluster, and per cluster a ``tail`` projection of reduced size
    ``in_features // div_value ** (i + 1)``.

    ``forward(input (N, in_features), target (N,))`` returns ``(output, loss)``: the target log
    probabilities and their negative mean. ``log_prob(input)`` gives all ``(N, n_classes)`` log
    probabilities and ``predict(input)`` the most likely class.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0,
                 head_bias: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             f"n_classes-1 (got {cutoffs} for n_classes={n_classes})")
        kw = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, **kw),
                                        Linear(hsz, osz, bias=False, **kw)))

    def reset_parameters(self) -> None:
        """Reset the head and every tail projection (PyTorch's Linear initialisation)."""
        self.head.reset_parameters()
        for proj in self.tail:
            for lin in proj:
                lin.reset_parameters()

    def _full_log_prob(self, input):
        head = F.log_softmax(self.head(input), 1)
        parts = [head[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster = F.log_softmax(self.tail[i](input), 1)
            parts.append(cluster + head[:, self.shortlist_size + i].unsqueeze(1))
        return corefw.cat(parts, 1)

    def _check(self, input) -> None:
        if input.ndim != 2 or input.shape[1] != self.in_features:
            raise ShapeError(f"AdaptiveLogSoftmaxWithLoss: expected input of shape (N, "
                             f"{self.in_features}), got {tuple(input.shape)}")

    def forward(self, input, target):
        batched = target.ndim == 1
        if target.ndim == 0 and input.ndim == 1:
            input, target = input.unsqueeze(0), target.unsqueeze(0)
        elif not batched or input.ndim != 2 or input.shape[0] != target.shape[0]:
            raise ShapeError(f"AdaptiveLogSoftmaxWithLoss: input {tuple(input.shape)} and "
                             f"target {tuple(target.shape)} should be (N, in_features) and "
                             f"(N,), or unbatched (in_features,) and ()")
        self._check(input)
        if target.numel() and not target.is_meta:
            lo, hi = int(target.amin().item()), int(target.amax().item())
            if lo < 0 or hi >= self.n_classes:
                raise CorefwIndexError(f"Target values should be in [0, {self.n_classes - 1}], "
                                       f"but values in range [{lo}, {hi}] were found.")
        output = self._full_log_prob(input).gather(1, target.unsqueeze(1)).squeeze(1)
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def log_prob(self, input):
        """``(N, n_classes)`` log probabilities of every class."""
        self._check(input)
        return self._full_log_prob(input)

    def predict(self, input):
        """The most likely class of each row, ``(N,)``."""
        return self.log_prob(input).argmax(1)
