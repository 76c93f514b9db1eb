"""Evaluation metrics for attributions: faithfulness (infidelity, deletion and insertion AUC,
pixel flipping / AOPC), robustness (sensitivity_max), the completeness check, and complexity
(sparseness). Each returns float64 numpy arrays with one value per example.

``model`` and ``target`` mean what they mean for the explainers; ``attributions`` may be a
tensor, a tuple of tensors, or an :class:`~corefw_xai.Explanation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import corefw
from corefw import Tensor
from corefw.errors import ShapeError

from ._blocks import block_rows, blocks, fold
from ._core import (
    Attribution,
    Explanation,
    as_tuple,
    expand_args,
    format_baselines,
    new_seed,
    take_rows,
    to_device,
)
from ._perturb import FeatureSpace
from ._targets import TargetSet

__all__ = ["CompletenessReport", "aopc", "baseline_perturbation", "completeness",
           "deletion", "gaussian_perturbation", "infidelity", "insertion", "pixel_flipping",
           "sensitivity_max", "sparseness"]


def _attrs(attributions) -> tuple[Tensor, ...]:
    if isinstance(attributions, Explanation):
        if attributions.multi_target:
            raise ShapeError("metrics take the attributions of one target; index the target "
                             "axis of a several-target Explanation first")
        attributions = attributions.attributions
    return attributions if isinstance(attributions, tuple) else (attributions,)


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


class _Evaluator(Attribution):
    name = "metric"


def _args(a) -> tuple:
    return () if a is None else (tuple(a) if isinstance(a, tuple) else (a,))


# -- infidelity -----------------------------------------------------------------------------
def gaussian_perturbation(std: float = 0.003) -> Callable:
    """``perturb_func(inputs, rng)`` with Gaussian noise I ~ N(0, std^2): (I, x - I)."""
    def perturb(inputs, rng):
        noise = tuple(to_device(rng.standard_normal(tuple(x.shape)) * std, x) for x in inputs)
        return noise, tuple(x - n for x, n in zip(inputs, noise))
    return perturb


def baseline_perturbation(baselines=None) -> Callable:
    """The single perturbation ``I = x - x'`` for *global* attributions (multiplied by
    ``x - x'``, as IG's): it returns I / (x - x') = 1 and the perturbed input x', so that
    infidelity equals the squared completeness residual ``delta^2``."""
    def perturb(inputs, rng, given=None):
        bs = given if given is not None else format_baselines(baselines, inputs)
        return tuple(corefw.ones_like(x) for x in inputs), bs
    return perturb


def infidelity(model: Callable, perturb_func: Callable, inputs, attributions, baselines=None,
               additional_forward_args=None, target=None, n_perturb_samples: int = 10,
               max_examples_per_batch: int | None = None, normalize: bool = False,
               seed: int | None = None) -> np.ndarray:
    """Infidelity (Yeh et al. 2019): ``E_I[(sum(I * phi) - (F(x) - F(x - I)))^2]``.

    ``perturb_func(inputs, rng) -> (perturbations, perturbed_inputs)`` (tuples like the inputs;
    ``rng`` a seeded ``numpy.random.Generator``; with ``baselines`` they are passed as a third
    argument). With ``normalize`` the attributions are first
    scaled by the least-squares factor ``E[I.phi dF] / E[(I.phi)^2]`` (Captum's option).
    """
    xs, _ = as_tuple(inputs)
    phi = _attrs(attributions)
    batch = xs[0].shape[0]
    ts = TargetSet(target, batch)
    ev = _Evaluator(model)
    args = _args(additional_forward_args)
    rng = np.random.default_rng(new_seed(seed))
    f_x = _np(ev.target_values(xs, args, ts, np.arange(batch))[0])
    dots = np.zeros((n_perturb_samples, batch))
    diffs = np.zeros((n_perturb_samples, batch))
    per = max_examples_per_batch or batch
    for s in range(n_perturb_samples):
        for e0 in range(0, batch, per):
            rows = np.arange(e0, min(batch, e0 + per))
            sub = tuple(take_rows(x, rows) for x in xs)
            pert, perturbed = perturb_func(sub, rng) if baselines is None else \
                perturb_func(sub, rng, tuple(take_rows(b, rows) for b in
                                             format_baselines(baselines, xs)))
            pert = pert if isinstance(pert, tuple) else (pert,)
            perturbed = perturbed if isinstance(perturbed, tuple) else (perturbed,)
            dot = sum(_np((p * take_rows(a, rows)).reshape(len(rows), -1).sum(1))
                      for p, a in zip(pert, phi))
            f_p = _np(ev.target_values(perturbed, expand_args(args, rows, batch), ts, rows)[0])
            dots[s, rows] = dot
            diffs[s, rows] = f_x[rows] - f_p
    if normalize:
        den = (dots * dots).mean(0)
        beta = np.where(den > 0, (dots * diffs).mean(0) / np.where(den > 0, den, 1.0), 1.0)
        dots = dots * beta
    return ((dots - diffs) ** 2).mean(0)


# -- sensitivity ----------------------------------------------------------------------------
def sensitivity_max(explanation_func: Callable, inputs, perturb_radius: float = 0.02,
                    n_perturb_samples: int = 10, norm_ord: str | float = "fro",
                    seed: int | None = None, **kwargs) -> np.ndarray:
    """Max-sensitivity (Yeh et al. 2019): ``max ||phi(x + e) - phi(x)|| / ||phi(x)||`` over
    ``n_perturb_samples`` draws of ``e`` uniform in the L-inf ball of ``perturb_radius``.
    ``explanation_func(inputs, **kwargs)`` returns attributions or an Explanation."""
    xs, is_tuple = as_tuple(inputs)
    batch = xs[0].shape[0]
    rng = np.random.default_rng(new_seed(seed))

    def flat(res):
        a = _attrs(res)
        return np.concatenate([_np(t).reshape(batch, -1) for t in a], 1)

    def norm(v):
        if norm_ord == "fro" or norm_ord == 2:
            return np.linalg.norm(v, axis=1)
        return np.linalg.norm(v, ord=norm_ord, axis=1)

    base = flat(explanation_func(inputs, **kwargs))
    scale = norm(base)
    best = np.zeros(batch)
    for _ in range(n_perturb_samples):
        noisy = tuple(x + to_device(rng.uniform(-perturb_radius, perturb_radius,
                                                tuple(x.shape)), x) for x in xs)
        other = flat(explanation_func(noisy if is_tuple else noisy[0], **kwargs))
        sens = norm(other - base) / np.where(scale > 0, scale, 1.0)
        best = np.maximum(best, sens)
    return best


# -- deletion, insertion, pixel flipping ------------------------------------------------------
def _order(phi: tuple[Tensor, ...], fs: FeatureSpace, batch: int) -> np.ndarray:
    """Feature ids per example by decreasing attribution (summed within a feature)."""
    score = np.zeros((batch, fs.n_features))
    for a, mk in zip(phi, fs.masks):
        vals = _np(a).reshape(batch, -1)
        idx = np.broadcast_to(mk, vals.shape)
        for e in range(batch):
            np.add.at(score[e], idx[e], vals[e])
    return np.argsort(-score, axis=1, kind="stable")


def _curve(model, xs, bs, fs, order, n_steps, insert, target, args, batch_size):
    batch = xs[0].shape[0]
    m = fs.n_features
    counts = np.unique(np.round(np.linspace(0, m, n_steps + 1)).astype(int))
    ts = TargetSet(target, batch)
    ev = _Evaluator(model)
    out = np.zeros((len(counts), batch))
    rank = np.empty_like(order)
    rank[np.arange(batch)[:, None], order] = np.arange(m)[None, :]
    cap = (batch_size or 64) * batch
    for e0, e1, s0, s1 in blocks(batch, len(counts), cap):
        ex, st = block_rows(e0, e1, s0, s1)
        moved = rank[ex] < counts[st][:, None]  # the first k features in the order
        z = moved.astype(np.float64) if insert else 1.0 - moved
        rows_in = []
        for i, (x, b) in enumerate(zip(xs, bs)):
            p = to_device(fs.present(i, z, ex).reshape((len(ex),) + fs.shapes[i]), x)
            xr, br = take_rows(x, ex), take_rows(b, ex)
            rows_in.append(br + p * (xr - br))
        vals = ev.target_values(tuple(rows_in), expand_args(args, ex, batch), ts, ex)
        out[s0:s1, e0:e1] = _np(fold(vals, s1 - s0, e1 - e0)[0])
    return counts / m, out


def _auc(frac: np.ndarray, curve: np.ndarray) -> np.ndarray:
    return ((curve[1:] + curve[:-1]) * np.diff(frac)[:, None] / 2).sum(0)


def deletion(model, inputs, attributions, target=None, baselines=None, n_steps: int | None = None,
             feature_mask=None, additional_forward_args=None, batch_size: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deletion (Petsiuk et al. 2018): features replaced by the baseline in order of decreasing
    attribution; returns (AUC per example over the deleted fraction, fractions, curve
    (steps + 1, B)). Lower is better."""
    xs, _ = as_tuple(inputs)
    fs = FeatureSpace(xs, feature_mask)
    order = _order(_attrs(attributions), fs, xs[0].shape[0])
    frac, curve = _curve(model, xs, format_baselines(baselines, xs), fs, order,
                         n_steps or fs.n_features, False, target,
                         _args(additional_forward_args), batch_size)
    return _auc(frac, curve), frac, curve


def insertion(model, inputs, attributions, target=None, baselines=None,
              n_steps: int | None = None, feature_mask=None, additional_forward_args=None,
              batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insertion: features copied from the input into the baseline in order of decreasing
    attribution; returns (AUC, fractions, curve). Higher is better."""
    xs, _ = as_tuple(inputs)
    fs = FeatureSpace(xs, feature_mask)
    order = _order(_attrs(attributions), fs, xs[0].shape[0])
    frac, curve = _curve(model, xs, format_baselines(baselines, xs), fs, order,
                         n_steps or fs.n_features, True, target,
                         _args(additional_forward_args), batch_size)
    return _auc(frac, curve), frac, curve


def pixel_flipping(model, inputs, attributions, target=None, baselines=None,
                   n_steps: int | None = None, feature_mask=None, additional_forward_args=None,
                   batch_size: int | None = None) -> np.ndarray:
    """Pixel flipping (Bach et al. 2015): the target's value as the most relevant features are
    flipped to the baseline one step at a time: the curve (steps + 1, B)."""
    return deletion(model, inputs, attributions, target, baselines, n_steps, feature_mask,
                    additional_forward_args, batch_size)[2]


def aopc(model, inputs, attributions, target=None, baselines=None, n_steps: int | None = None,
         feature_mask=None, additional_forward_args=None, batch_size: int | None = None
         ) -> np.ndarray:
    """Area over the MoRF perturbation curve (Samek et al. 2017):
    ``mean_k (F(x) - F(x with the k most relevant steps removed))``, k = 0..L. Higher is
    better."""
    curve = pixel_flipping(model, inputs, attributions, target, baselines, n_steps,
                           feature_mask, additional_forward_args, batch_size)
    return (curve[0][None, :] - curve).mean(0)


# -- completeness and sparseness --------------------------------------------------------------
@dataclass
class CompletenessReport:
    """``residual = sum(phi) - (F(x) - F(x'))`` per example and whether all are within
    ``tolerance`` (absolute, or relative to ``|F(x) - F(x')|`` with ``relative=True``)."""

    residual: np.ndarray
    difference: np.ndarray
    tolerance: float
    passed: bool

    def __bool__(self) -> bool:
        return self.passed


def completeness(model, inputs, attributions, baselines=None, target=None,
                 tolerance: float = 1e-3, relative: bool = False,
                 additional_forward_args=None) -> CompletenessReport:
    """Check ``sum(phi) = F(x) - F(x')`` (the completeness axiom of IG, DeepLift, SHAP)."""
    xs, _ = as_tuple(inputs)
    batch = xs[0].shape[0]
    ts = TargetSet(target, batch)
    ev = _Evaluator(model)
    args = _args(additional_forward_args)
    rows = np.arange(batch)
    diff = _np(ev.target_values(xs, args, ts, rows)[0]) - _np(
        ev.target_values(format_baselines(baselines, xs), args, ts, rows)[0])
    total = sum(_np(a).reshape(batch, -1).sum(1) for a in _attrs(attributions))
    res = total - diff
    bound = tolerance * np.maximum(np.abs(diff), 1e-12) if relative else tolerance
    return CompletenessReport(res, diff, tolerance, bool(np.all(np.abs(res) <= bound)))


def sparseness(attributions) -> np.ndarray:
    """Gini index of |phi| per example (Chalasani et al. 2020; Quantus' Sparseness): 0 for
    equal attributions, (n - 1) / n when one feature holds everything."""
    parts = _attrs(attributions)
    batch = parts[0].shape[0]
    a = np.sort(np.abs(np.concatenate([_np(t).reshape(batch, -1) for t in parts], 1)), axis=1)
    n = a.shape[1]
    i = np.arange(1, n + 1)
    tot = a.sum(1)
    gini = ((2 * i - n - 1)[None, :] * a).sum(1) / (n * np.where(tot > 0, tot, 1.0))
    return np.where(tot > 0, gini, 0.0)

