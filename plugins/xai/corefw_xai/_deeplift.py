"""DeepLift (rescale rule), DeepLiftShap, GuidedBackprop and Deconvolution.

All four replace the backward rules of ops inside a scope (see :mod:`corefw_xai._rules`), so
they are right with functional activations, reused modules and residual additions.
"""

from __future__ import annotations

import numpy as np

import corefw

from ._blocks import Moments, block_rows, blocks, fold
from ._core import (
    Attribution,
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    format_distribution,
    sum_per_example,
    take_rows,
)
from ._rules import Pairing, deconvolution_rules, deeplift_rules, guided_rules, rule_scope
from ._targets import TargetSet

__all__ = ["Deconvolution", "DeepLift", "DeepLiftShap", "GuidedBackprop"]


def _args(additional_forward_args) -> tuple:
    a = additional_forward_args
    return () if a is None else (tuple(a) if isinstance(a, tuple) else (a,))


class DeepLift(Attribution):
    """DeepLift with the rescale rule (Shrikumar et al. 2017): multipliers
    ``(f(x) - f(x')) / (x - x')`` on every elementwise nonlinearity and Captum's rule on max
    pooling; attributions ``multiplier * (x - x')`` (``multiply_by_inputs``).

    Summation to delta: ``delta = sum(phi) - (F(x) - F(x'))`` is zero up to rounding for
    networks of linear ops (matmul, conv, pooling, sums, reshapes), elementwise activations and
    max pooling. Inputs and baselines run as one batch ``cat([x, x'])``; the model must treat
    batch rows independently (eval-mode BatchNorm, no batch statistics).
    """

    name = "deeplift"

    def __init__(self, model, multiply_by_inputs: bool = True, eps: float = 1e-10) -> None:
        super().__init__(model)
        self.multiply_by_inputs = multiply_by_inputs
        self.eps = eps

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = True, custom_attribution_func=None, *,
                  targets=None, internal_batch_size: int | None = None) -> Explanation:
        """DeepLift attributions relative to ``baselines`` (default zeros)."""
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        bs = format_baselines(baselines, xs)
        cap = internal_batch_size or batch
        parts, deltas = [], []
        for e0 in range(0, batch, cap):
            rows = np.arange(e0, min(batch, e0 + cap))
            attrs, f_x, f_ref = self.paired(tuple(take_rows(x, rows) for x in xs),
                                            tuple(take_rows(b, rows) for b in bs),
                                            rows, expand_args(args, rows, batch), ts)
            parts.append(attrs)
            glob = attrs if self.multiply_by_inputs else [
                a * (take_rows(x, rows) - take_rows(b, rows)).unsqueeze(0)
                for a, x, b in zip(attrs, xs, bs)]
            deltas.append(sum_per_example(glob) - (f_x - f_ref))
        per_input = [corefw.cat([p[i] for p in parts], 1) for i in range(len(xs))]
        return self.result(per_input, is_tuple, ts, delta=corefw.cat(deltas, 1),
                           params={"multiply_by_inputs": self.multiply_by_inputs,
                                   "internal_batch_size": internal_batch_size})

    def paired(self, xs, bs, rows: np.ndarray, args: tuple, ts: TargetSet):
        """DeepLift for rows ``xs`` against the same number of baseline rows ``bs``:
        (per-input attributions (K, R, ...), F(xs) (K, R), F(bs) (K, R))."""
        n = xs[0].shape[0]
        both = tuple(corefw.cat([x, b], 0) for x, b in zip(xs, bs))
        rows2 = np.concatenate([rows, rows])
        args2 = tuple(corefw.cat([a, a], 0) if isinstance(a, corefw.Tensor) and a.ndim and
                      a.shape[0] == n else a for a in args)
        pair = Pairing(n, self.eps)
        seed_rows = corefw.cat([corefw.ones(n, dtype=xs[0].dtype, device=xs[0].device),
                                corefw.zeros(n, dtype=xs[0].dtype, device=xs[0].device)])
        with rule_scope(deeplift_rules(pair)):
            grads, vals = self.gradients(both, rows2, args2, ts,
                                         grad_scale=lambda v, k: seed_rows.to(v.dtype))
        attrs = []
        for i in range(len(xs)):
            m = corefw.stack([g[i][:n] for g in grads], 0)
            attrs.append(m * (xs[i] - bs[i]).unsqueeze(0) if self.multiply_by_inputs else m)
        return attrs, vals[:, :n], vals[:, n:]


class DeepLiftShap(DeepLift):
    """DeepLift averaged over a baseline distribution (every baseline, as Captum):
    ``delta = sum(phi) - (F(x) - mean_b F(b))``; ``stderr`` is the standard error over the
    baselines. ``internal_batch_size`` bounds the (example, baseline) pairs per model call."""

    name = "deeplift_shap"

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = True, custom_attribution_func=None, *,
                  targets=None, internal_batch_size: int | None = None) -> Explanation:
        """DeepLiftShap attributions with the distribution ``baselines`` (m, ...)."""
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        dist = format_distribution(baselines, xs)
        m = dist[0].shape[0]
        cap = internal_batch_size or default_rows(xs, batch, m)
        moments = [Moments(2) for _ in xs]
        dsum = {}
        for e0, e1, s0, s1 in blocks(batch, m, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            attrs, f_x, f_ref = self.paired(tuple(take_rows(x, ex) for x in xs),
                                            tuple(take_rows(d, st) for d in dist), ex,
                                            expand_args(args, ex, batch), ts)
            glob = attrs if self.multiply_by_inputs else [
                a * (take_rows(x, ex) - take_rows(d, st)).unsqueeze(0)
                for a, x, d in zip(attrs, xs, dist)]
            for i, a in enumerate(attrs):
                moments[i].add(e0, fold(a, s1 - s0, e1 - e0))
            d = fold(sum_per_example(glob) - (f_x - f_ref), s1 - s0, e1 - e0).sum(1)
            dsum[e0] = d if e0 not in dsum else dsum[e0] + d
        delta = corefw.cat([dsum[e0] for e0 in sorted(dsum)], 1) / m
        return self.result([mo.mean() for mo in moments], is_tuple, ts, delta=delta,
                           stderr=[mo.stderr_mean() for mo in moments],
                           params={"multiply_by_inputs": self.multiply_by_inputs,
                                   "n_baselines": m, "internal_batch_size": internal_batch_size})


class _Modified(Attribution):
    """The gradient with some ops' backward rules replaced."""

    def _rules(self) -> dict:
        raise NotImplementedError

    def attribute(self, inputs, target=None, additional_forward_args=None, *,
                  targets=None) -> Explanation:
        """The modified gradient of the target(s)."""
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        with rule_scope(self._rules()):
            grads, _ = self.gradients(xs, np.arange(batch), _args(additional_forward_args), ts)
        per_input = [corefw.stack([g[i] for g in grads], 0) for i in range(len(xs))]
        return self.result(per_input, is_tuple, ts, params={})


class GuidedBackprop(_Modified):
    """Guided backpropagation (Springenberg et al. 2015): through every ReLU (``relu`` op or
    ``maximum(x, 0)``) only positive gradients at positive inputs pass."""

    name = "guided_backprop"

    def _rules(self) -> dict:
        return guided_rules()


class Deconvolution(_Modified):
    """Deconvolution (Zeiler and Fergus 2014): through every ReLU the positive part of the
    gradient passes, whatever the sign of the input."""

    name = "deconvolution"

    def _rules(self) -> dict:
        return deconvolution_rules()
