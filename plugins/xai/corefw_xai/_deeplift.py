"""DeepLift (rescale rule), DeepLiftShap, GuidedBackprop and Deconvolution.

All four replace the backward rules of ops inside a scope (see :mod:`corefw_xai._rules`), so
they are right with functional activations, reused modules and residual additions.
"""

from __future__ import annotations

import inspect

import numpy as np

import corefw
from corefw.errors import ShapeError

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

    ``custom_attribution_func(multipliers, inputs, baselines)`` (Captum's; it may take only the
    first one or two) turns the tuples of multipliers into the attributions; ``delta`` is then
    computed from what it returns.
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
            xr, br = tuple(take_rows(x, rows) for x in xs), tuple(take_rows(b, rows) for b in bs)
            attrs, glob, f_x, f_ref = self.pair(xr, br, rows, expand_args(args, rows, batch),
                                                ts, custom_attribution_func)
            parts.append(attrs)
            deltas.append(sum_per_example(glob) - (f_x - f_ref))
        per_input = [corefw.cat([p[i] for p in parts], 1) for i in range(len(parts[0]))]
        return self.result(per_input, is_tuple and not self.at_layer, ts,
                           delta=corefw.cat(deltas, 1),
                           params={"multiply_by_inputs": self.multiply_by_inputs,
                                   "internal_batch_size": internal_batch_size,
                                   "custom_attribution_func": custom_attribution_func})

    #: whether attributions are to a layer (one tensor) rather than to the inputs
    at_layer = False

    def pair(self, xs, bs, rows, args, ts, custom):
        """(attributions, global attributions, F(xs), F(bs)) of rows ``xs`` against ``bs``;
        the layer methods override it."""
        mults, f_x, f_ref = self.paired(xs, bs, rows, args, ts)
        attrs, glob = self.finish(mults, xs, bs, custom)
        return attrs, glob, f_x, f_ref

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
        mults = [corefw.stack([g[i][:n] for g in grads], 0) for i in range(len(xs))]
        return mults, vals[:, :n], vals[:, n:]

    def finish(self, mults, xs, bs, custom) -> tuple[list, list]:
        """(attributions, global attributions whose sum is compared with F(x) - F(x')) of
        the multipliers (K, R, ...) of rows ``xs`` against ``bs``."""
        if custom is not None:
            attrs = custom_attributions(custom, mults, xs, bs)
            return attrs, attrs
        glob = [m * (x - b).unsqueeze(0) for m, x, b in zip(mults, xs, bs)]
        return (glob if self.multiply_by_inputs else mults), glob


def custom_attributions(func, mults, xs, bs) -> list:
    """Captum's ``custom_attribution_func``: called per target with the tuples of multipliers,
    inputs and baselines (as many of them as the function takes: 1, 2 or 3); returns the
    attributions per input, (K, R, ...)."""
    n_args = len(inspect.signature(func).parameters)
    if n_args not in (1, 2, 3):
        raise TypeError(f"custom_attribution_func must take 1 to 3 arguments (multipliers, "
                        f"inputs, baselines), it takes {n_args}")
    per_target = []
    for k in range(mults[0].shape[0]):
        args = (tuple(m[k] for m in mults), tuple(xs), tuple(bs))[:n_args]
        out = func(*args)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(out) != len(xs) or any(tuple(o.shape) != tuple(x.shape)
                                      for o, x in zip(out, xs)):
            raise ShapeError(f"custom_attribution_func returned shapes "
                             f"{[tuple(getattr(o, 'shape', ())) for o in out]}; it must "
                             f"return one tensor per input shaped like it: "
                             f"{[tuple(x.shape) for x in xs]}")
        per_target.append(out)
    return [corefw.stack([o[i] for o in per_target], 0) for i in range(len(xs))]


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
        moments: dict[int, Moments] = {}
        dsum = {}
        for e0, e1, s0, s1 in blocks(batch, m, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            xr, dr = tuple(take_rows(x, ex) for x in xs), tuple(take_rows(d, st) for d in dist)
            attrs, glob, f_x, f_ref = self.pair(xr, dr, ex, expand_args(args, ex, batch), ts,
                                                custom_attribution_func)
            for i, a in enumerate(attrs):
                moments.setdefault(i, Moments(2)).add(e0, fold(a, s1 - s0, e1 - e0))
            d = fold(sum_per_example(glob) - (f_x - f_ref), s1 - s0, e1 - e0).sum(1)
            dsum[e0] = d if e0 not in dsum else dsum[e0] + d
        delta = corefw.cat([dsum[e0] for e0 in sorted(dsum)], 1) / m
        moments = [moments[i] for i in sorted(moments)]
        return self.result([mo.mean() for mo in moments], is_tuple and not self.at_layer, ts,
                           delta=delta,
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
