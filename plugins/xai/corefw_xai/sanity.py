"""Sanity checks for attribution methods (Adebayo et al. 2018).

The model-parameter randomisation test re-draws the weights of the model's layers, from the
output backwards (``cascading``, each layer staying random) or one layer at a time
(``independent``), explains the same inputs again and reports, per layer, the Spearman rank
correlation with the explanation of the trained model. A method whose explanations do not
change when the weights it should explain are destroyed fails the check. The published
outcome: gradients decorrelate, guided backpropagation stays similar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import corefw
from corefw import Tensor

from ._core import Explanation

__all__ = ["RandomisationReport", "model_parameter_randomisation", "spearman"]


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, ties given their average rank."""
    order = np.argsort(a, axis=-1, kind="stable")
    ranks = np.empty(a.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(a.shape[-1], dtype=np.float64)[None, :]
                      .repeat(a.shape[0], 0), axis=-1)
    for r in range(a.shape[0]):  # average the ranks of ties
        vals, inv, counts = np.unique(a[r], return_inverse=True, return_counts=True)
        if len(vals) < a.shape[-1]:
            sums = np.zeros(len(vals))
            np.add.at(sums, inv, ranks[r])
            ranks[r] = (sums / counts)[inv]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per row of two (B, n) arrays (0 where a row is constant)."""
    ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), 0.0)


@dataclass
class RandomisationReport:
    """Per randomised layer (in the order they were randomised), the rank correlation of each
    example's explanation with the trained model's (``similarity[layer]``, shape (B,))."""

    mode: str
    layers: list[str]
    similarity: dict[str, np.ndarray] = field(default_factory=dict)

    def mean(self) -> dict[str, float]:
        """Mean correlation over the examples, per layer."""
        return {k: float(np.mean(v)) for k, v in self.similarity.items()}

    def summary(self) -> str:
        """A small text table."""
        width = max([len(n) for n in self.layers] + [5])
        rows = [f"{'layer':<{width}}  spearman (mean over examples)"]
        rows += [f"{n:<{width}}  {m:+.3f}" for n, m in self.mean().items()]
        return "\n".join(rows)


def _layers(model) -> list[tuple[str, object]]:
    out = []
    for name, mod in model.named_modules():
        if any(True for _ in mod.parameters(recurse=False)):
            out.append((name or type(mod).__name__, mod))
    return out[::-1]  # from the output backwards


def _explain(fn, model, inputs, target) -> np.ndarray:
    res = fn(model, inputs, target)
    if isinstance(res, Explanation):
        res = res.attributions
    parts = res if isinstance(res, tuple) else (res,)
    batch = parts[0].shape[0]
    return np.concatenate([p.detach().cpu().numpy().astype(np.float64).reshape(batch, -1)
                           for p in parts], 1)


def _as_fn(method) -> Callable:
    if callable(method) and not isinstance(method, type):
        return method
    from . import _registry

    cls = _registry.lookup(method) if isinstance(method, str) else method
    return lambda model, inputs, target: cls(model).attribute(inputs, target=target)


def model_parameter_randomisation(model, method, inputs, target=None,
                                  mode: str = "cascading", layers=None,
                                  absolute: bool = True, seed: int = 0) -> RandomisationReport:
    """Run the model-parameter randomisation test.

    Args:
        model: a ``corefw.nn.Module``; its parameters are restored afterwards (also on error).
        method: a registered explainer name (``"saliency"``), an explainer class, or a function
            ``fn(model, inputs, target)`` returning attributions or an Explanation.
        inputs, target: what to explain.
        mode: ``"cascading"`` (randomise from the output backwards, cumulatively) or
            ``"independent"`` (one layer at a time, the others trained).
        layers: names (from ``model.named_modules()``) to randomise, in order; default every
            module with its own parameters, from the output backwards.
        absolute: compare ``|phi|`` (Adebayo et al.'s rank correlation of absolute values).
        seed: the seed of the new weights, drawn ``N(0, std(w)^2)`` per parameter.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"model_parameter_randomisation: mode must be 'cascading' or "
                         f"'independent', got {mode!r}")
    fn = _as_fn(method)
    chosen = _layers(model)
    if layers is not None:
        named = dict(model.named_modules())
        missing = [n for n in layers if n not in named]
        if missing:
            raise ValueError(f"model_parameter_randomisation: no layers named {missing}")
        chosen = [(n, named[n]) for n in layers]
    rng = np.random.default_rng(seed)
    post = np.abs if absolute else (lambda a: a)
    trained = post(_explain(fn, model, inputs, target))
    saved = {id(p): (p, p.detach().clone()) for p in model.parameters()}
    report = RandomisationReport(mode, [n for n, _ in chosen])
    try:
        for name, mod in chosen:
            with corefw.no_grad():
                for p in mod.parameters(recurse=False):
                    std = float(np.std(p.detach().cpu().numpy())) or 0.05
                    p.copy_(corefw.tensor(rng.standard_normal(tuple(p.shape)) * std,
                                          dtype=p.dtype, device=p.device))
            report.similarity[name] = spearman(trained, post(_explain(fn, model, inputs,
                                                                      target)))
            if mode == "independent":
                _restore(saved)
    finally:
        _restore(saved)
    return report


def _restore(saved: dict[int, tuple[Tensor, Tensor]]) -> None:
    with corefw.no_grad():
        for p, value in saved.values():
            p.copy_(value)
