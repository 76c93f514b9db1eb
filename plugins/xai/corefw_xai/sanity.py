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

__all__ = ["RandomisationReport", "SanityReport", "Verdict", "model_parameter_randomisation",
           "sanity_check", "spearman", "ssim"]


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


# -- a check that decides ------------------------------------------------------------------
def ssim(a: np.ndarray, b: np.ndarray, win_size: int = 7, data_range: float = 1.0) -> float:
    """Structural similarity of two 2-D maps (Wang et al. 2004) with scikit-image's defaults:
    a uniform ``win_size`` window (shrunk to the map's smaller side when larger; odd), sample
    covariances, K1 = 0.01, K2 = 0.03, averaged over the valid window positions."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = min(win_size, *a.shape)
    w -= 1 - w % 2
    view = np.lib.stride_tricks.sliding_window_view
    pa, pb = view(a, (w, w)), view(b, (w, w))
    n = w * w
    ma, mb = pa.mean((-2, -1)), pb.mean((-2, -1))
    cov = n / (n - 1) if n > 1 else 1.0
    va = pa.var((-2, -1)) * cov
    vb = pb.var((-2, -1)) * cov
    vab = ((pa - ma[..., None, None]) * (pb - mb[..., None, None])).mean((-2, -1)) * cov
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
    return float(s.mean())


def _maps(fn, model, inputs, target) -> np.ndarray:
    """|phi| per example as (B, H, W) maps (channels summed) or (B, 1, n) vectors."""
    res = fn(model, inputs, target)
    if isinstance(res, Explanation):
        res = res.attributions
    a = (res[0] if isinstance(res, tuple) else res).detach().cpu().numpy().astype(np.float64)
    a = np.abs(a)
    if a.ndim >= 4:
        return a.reshape(a.shape[0], -1, *a.shape[-2:]).sum(1)
    return a.reshape(a.shape[0], 1, -1)


def _similarity(measure: str, a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per example: Spearman of |phi| over the masked positions, or SSIM of |phi| / max."""
    out = np.zeros(a.shape[0])
    for i in range(a.shape[0]):
        if measure == "spearman":
            m = mask[i].reshape(-1)
            out[i] = spearman(a[i].reshape(1, -1)[:, m], b[i].reshape(1, -1)[:, m])[0]
        else:
            na = a[i] / (a[i].max() or 1.0)
            nb = b[i] / (b[i].max() or 1.0)
            out[i] = ssim(na, nb)
    return out


@dataclass
class Verdict:
    """One method's outcome, means over the examples: ``vs_randomised`` is the similarity of
    its explanations of the trained model to those after cascading randomisation, averaged
    over the stages (``cascade``: the output layer randomised, then also the layer below, ...,
    down to every layer); ``vs_untrained`` the similarity to an untrained model's."""

    method: str
    measure: str
    vs_randomised: float
    vs_untrained: float
    threshold: float
    cascade: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Both similarities below the threshold: the explanation depends on what was learnt."""
        return max(self.vs_randomised, self.vs_untrained) < self.threshold


@dataclass
class SanityReport:
    """The verdicts of :func:`sanity_check`; ``summary()`` prints a table."""

    verdicts: list[Verdict]
    restricted_to_nonzero: bool

    def __getitem__(self, method: str) -> Verdict:
        for v in self.verdicts:
            if v.method == method:
                return v
        raise KeyError(method)

    def summary(self) -> str:
        width = max([len(v.method) for v in self.verdicts] + [6])
        scope = "non-zero input positions" if self.restricted_to_nonzero else "all positions"
        rows = [f"model-parameter randomisation (Adebayo et al. 2018); |attributions| compared "
                f"on {scope}",
                f"{'method':<{width}}  measure   vs random  vs untrained  threshold  verdict"]
        for v in self.verdicts:
            verdict = "PASS (depends on the weights)" if v.passed else \
                "FAIL (insensitive to the weights)"
            rows.append(f"{v.method:<{width}}  {v.measure:<8}  {v.vs_randomised:+9.3f}  "
                        f"{v.vs_untrained:+12.3f}  {'< ' + format(v.threshold, '.2f'):>9}  "
                        f"{verdict}")
        return "\n".join(rows)


def _method_name(method) -> str:
    if isinstance(method, str):
        return method
    return getattr(method, "name", "") or getattr(method, "__name__", type(method).__name__)


def _reinitialise(model, seed: int) -> None:
    corefw.manual_seed(seed)
    for mod in model.modules():
        reset = getattr(mod, "reset_parameters", None)
        if callable(reset) and any(True for _ in mod.parameters(recurse=False)):
            reset()


def sanity_check(model, methods, inputs, target=None, untrained=None,
                 measure: str = "spearman", threshold: float | None = None,
                 restrict_to_nonzero: bool = True, seed: int = 0) -> SanityReport:
    """Decide, per method, whether its explanations depend on the model's learnt weights.

    Each method explains ``inputs`` with the trained model, after each stage of cascading
    randomisation (the layers' weights re-drawn ``N(0, std(w)^2)`` from the output backwards,
    each staying random, down to the input; the similarities are averaged over the stages, so
    a method that ignores the top layers is caught even if randomising everything finally
    changes its maps), and with an untrained model (``untrained``: a module of the same
    architecture; default the model's own ``reset_parameters()`` under ``seed``). The
    absolute attributions are compared: Spearman rank correlation over the positions where
    the input is non-zero (``restrict_to_nonzero``: zero pixels tie at 0 for
    input-times-gradient methods and would make any two maps look alike), or SSIM of the maps
    scaled to [0, 1] (``measure="ssim"``, as in the paper). A method passes when both
    similarities stay below ``threshold`` (default 0.5). The model's parameters are restored
    afterwards, also on error.
    """
    if measure not in ("spearman", "ssim"):
        raise ValueError(f"sanity_check: measure must be 'spearman' or 'ssim', got {measure!r}")
    threshold = 0.5 if threshold is None else float(threshold)
    methods = methods if isinstance(methods, (list, tuple)) else [methods]
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    xn = x.detach().cpu().numpy()
    nz = np.abs(xn.reshape(xn.shape[0], -1, *xn.shape[-2:]).sum(1)) if xn.ndim >= 4 else \
        np.abs(xn.reshape(xn.shape[0], 1, -1))
    mask = nz > 0 if restrict_to_nonzero else np.ones(nz.shape, bool)
    rng = np.random.default_rng(seed)
    saved = {id(p): (p, p.detach().clone()) for p in model.parameters()}
    verdicts = []
    try:
        fns = [(_method_name(m), _as_fn(m)) for m in methods]
        trained = [_maps(fn, model, inputs, target) for _, fn in fns]
        stages: list[list[np.ndarray]] = []  # per cascade stage, per method
        for _, mod in _layers(model):  # from the output backwards, cumulatively
            with corefw.no_grad():
                for p in mod.parameters(recurse=False):
                    std = float(np.std(p.detach().cpu().numpy())) or 0.05
                    p.copy_(corefw.tensor(rng.standard_normal(tuple(p.shape)) * std,
                                          dtype=p.dtype, device=p.device))
            stages.append([_maps(fn, model, inputs, target) for _, fn in fns])
        _restore(saved)
        if untrained is None:
            with corefw.no_grad():
                _reinitialise(model, seed)
            other = model
        else:
            other = untrained
        fresh = [_maps(fn, other, inputs, target) for _, fn in fns]
    finally:
        _restore(saved)
    for k, ((name, _), t, u) in enumerate(zip(fns, trained, fresh)):
        cascade = [float(_similarity(measure, t, st[k], mask).mean()) for st in stages]
        verdicts.append(Verdict(name, measure, float(np.mean(cascade)),
                                float(_similarity(measure, t, u, mask).mean()), threshold,
                                cascade))
    return SanityReport(verdicts, restrict_to_nonzero)
