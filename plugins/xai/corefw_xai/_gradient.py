"""Gradient methods: Saliency, InputXGradient, IntegratedGradients, GradientShap.

Class names, argument names and defaults follow Captum so that results compare. Every method
evaluates in chunks (``internal_batch_size`` rows per model call), so memory does not grow with
``n_steps`` or ``n_samples``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

import corefw
from corefw import Tensor

from ._blocks import Moments, block_rows, blocks, fold
from ._core import (
    Attribution,
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    format_distribution,
    frozen_parameters,
    new_seed,
    sum_per_example,
    take_rows,
    to_device,
)
from ._targets import TargetSet
from .errors import CompletenessWarning

__all__ = ["GradientShap", "InputXGradient", "IntegratedGradients", "Saliency",
           "integration_points"]

INTEGRATION_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
                       "gausslegendre")


def integration_points(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, weights) in float64 of a quadrature rule for the integral over [0, 1]."""
    alphas, weights = _integration_points(method, int(n_steps))
    return alphas.copy(), weights.copy()


@functools.lru_cache(maxsize=32)
def _integration_points(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    # Cached: Gauss-Legendre nodes cost ~2 ms to compute, a tenth of a small IG call.
    if n_steps < 1 or (method == "riemann_trapezoid" and n_steps < 2):
        raise ValueError(f"integrated_gradients: n_steps={n_steps} is too small for "
                         f"{method!r} (need >= {2 if method == 'riemann_trapezoid' else 1})")
    n = int(n_steps)
    k = np.arange(n, dtype=np.float64)
    if method == "riemann_left":
        return k / n, np.full(n, 1.0 / n)
    if method == "riemann_right":
        return (k + 1) / n, np.full(n, 1.0 / n)
    if method == "riemann_middle":
        return (k + 0.5) / n, np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        w = np.full(n, 1.0 / (n - 1))
        w[0] = w[-1] = 0.5 / (n - 1)
        return np.linspace(0.0, 1.0, n), w
    if method in ("gausslegendre", "gauss_legendre"):
        x, w = np.polynomial.legendre.leggauss(n)
        return (x + 1) / 2, w / 2
    raise ValueError(f"integrated_gradients: unknown method {method!r}; choose one of "
                     f"{', '.join(INTEGRATION_METHODS)}")


def _shared(draws: np.ndarray, batch: int) -> np.ndarray:
    """Draws (n, *shape) used by every example: a read-only view (n, batch, *shape)."""
    return np.broadcast_to(draws[:, None], (draws.shape[0], batch) + draws.shape[1:])


def _scale_col(values: np.ndarray, like: Tensor) -> Tensor:
    return to_device(values.reshape((-1,) + (1,) * (like.ndim - 1)), like)


class _GradientBase(Attribution):
    """Shared setup of the gradient methods."""

    def _setup(self, inputs, target, targets, additional_forward_args):
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = additional_forward_args
        args = () if args is None else (tuple(args) if isinstance(args, tuple) else (args,))
        return xs, is_tuple, batch, ts, args

    def _values(self, xs, args, ts, rows_cap) -> Tensor:
        return chunked_values(self, xs, args, ts, rows_cap)


def chunked_values(expl: Attribution, xs, args, ts, rows_cap: int) -> Tensor:
    """F for every target at each example of ``xs`` (no grad), in chunks: (K, B)."""
    batch = xs[0].shape[0]
    parts = []
    for e0 in range(0, batch, max(1, rows_cap)):
        rows = np.arange(e0, min(batch, e0 + rows_cap))
        parts.append(expl.target_values(tuple(take_rows(x, rows) for x in xs),
                                        expand_args(args, rows, batch), ts, rows))
    return corefw.cat(parts, 1)


class Saliency(_GradientBase):
    """The gradient of the target (its absolute value with ``abs=True``, Captum's default)."""

    name = "saliency"

    def attribute(self, inputs, target=None, abs: bool = True,  # noqa: A002 - Captum's name
                  additional_forward_args=None, *, targets=None) -> Explanation:
        """Attributions ``|dF/dx|`` (or ``dF/dx`` with ``abs=False``)."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        grads, _ = self.gradients(xs, np.arange(batch), args, ts)
        per_input = [corefw.stack([g[i] for g in grads], 0) for i in range(len(xs))]
        if abs:
            per_input = [p.abs() for p in per_input]
        return self.result(per_input, is_tuple, ts, params={"abs": abs})


class InputXGradient(_GradientBase):
    """Input times the gradient of the target (no completeness residual)."""

    name = "input_x_gradient"

    def attribute(self, inputs, target=None, additional_forward_args=None, *,
                  targets=None) -> Explanation:
        """Attributions ``x * dF/dx``."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        grads, _ = self.gradients(xs, np.arange(batch), args, ts)
        per_input = [corefw.stack([g[i] for g in grads], 0) * x.unsqueeze(0)
                     for i, x in enumerate(xs)]
        return self.result(per_input, is_tuple, ts, params={})


class IntegratedGradients(_GradientBase):
    """Integrated Gradients (Sundararajan et al. 2017): ``(x - x') * integral of dF/dx`` along
    the straight path from the baseline ``x'`` to ``x``.

    ``delta`` (always computed) is ``sum(phi) - (F(x) - F(x'))``. ``internal_batch_size`` bounds
    the rows per model call (default: 32 steps per example, at most ~4M input elements), so 500
    steps peak at the memory of 50. ``completeness_tol`` doubles ``n_steps`` until
    ``max |delta| <= completeness_tol`` (or ``max_steps``); the history is in
    ``extras["convergence"]``.
    """

    name = "integrated_gradients"

    def __init__(self, model, multiply_by_inputs: bool = True) -> None:
        super().__init__(model)
        self.multiply_by_inputs = multiply_by_inputs

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  return_convergence_delta: bool = True, *, targets=None,
                  completeness_tol: float | None = None, max_steps: int = 1600,
                  integration: str | None = None) -> Explanation:
        """Integrated gradients of the target(s); ``integration`` is an alias of ``method``
        (for :func:`corefw_xai.explain`, whose ``method`` names the explainer)."""
        method = integration or method
        integration_points(method, max(int(n_steps), 2))  # validate the name early
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        bs = format_baselines(baselines, xs)
        cap = internal_batch_size or default_rows(xs, batch, int(n_steps))
        f_x, f_ref = self._endpoint_values(xs, bs, args, ts, cap)
        history = []
        n = int(n_steps)
        while True:
            avg = self.integral(xs, bs, args, ts, n, method, cap)
            glob = [g * (x - b).unsqueeze(0) for g, x, b in zip(avg, xs, bs)]
            delta = sum_per_example(glob) - (f_x - f_ref)
            worst = float(np.max(np.abs(delta.detach().cpu().numpy())))
            history.append((n, worst))
            if completeness_tol is None or worst <= completeness_tol:
                break
            if 2 * n > max_steps:
                warnings.warn(f"integrated_gradients: completeness_tol={completeness_tol:g} "
                              f"not reached: max |delta| = {worst:.3g} at n_steps={n} "
                              f"(max_steps={max_steps}); raise max_steps or the tolerance, or "
                              f"try method='gausslegendre'", CompletenessWarning, stacklevel=2)
                break
            n *= 2
        out = glob if self.multiply_by_inputs else avg
        params = {"n_steps": n, "method": method, "internal_batch_size": internal_batch_size,
                  "multiply_by_inputs": self.multiply_by_inputs,
                  "completeness_tol": completeness_tol}
        return self.result(out, is_tuple, ts, params=params, delta=delta,
                           extras={"convergence": history, "f_inputs": f_x,
                                   "f_baselines": f_ref})

    def _endpoint_values(self, xs, bs, args, ts, cap) -> tuple[Tensor, Tensor]:
        """F at the inputs and at the baselines, (K, B) each: one model call on both
        (a small model call costs mostly its fixed overhead: 2 ms of a 60 ms IG call on the
        demo CNN) where they fit one chunk and have equal shapes and dtypes."""
        batch = xs[0].shape[0]
        if args or 2 * batch > cap or any(
                tuple(x.shape) != tuple(b.shape) or x.dtype != b.dtype or x.device != b.device
                for x, b in zip(xs, bs)):
            return self._values(xs, args, ts, cap), self._values(bs, args, ts, cap)
        both = tuple(corefw.cat([x.detach(), b.detach()], 0) for x, b in zip(xs, bs))
        rows = np.concatenate([np.arange(batch)] * 2)
        vals = self.target_values(both, (), ts, rows)
        return vals[:, :batch], vals[:, batch:]

    def integral(self, xs, bs, args, ts, n_steps, method, cap) -> list[Tensor]:
        """:meth:`path_integral`, through the first layer's output where the model is a
        ``Sequential`` that starts with a Linear or Conv2d layer ``L`` no wider than its input:
        ``L`` is affine, so the path's image is the straight path from ``L(x')`` to ``L(x)``
        and the weighted gradient sum pulls back through ``L`` once (``L`` runs on 2 B rows
        instead of n_steps B; 3.5x faster for a 784 -> 256 -> 10 MLP). Where ``L`` widens the
        input (a convolution with more output than input channels) interpolating its output
        would cost more than it saves, and the path is walked in input space."""
        split = _affine_first(self.model, xs, args)
        if split is None:
            return self.path_integral(xs, bs, args, ts, n_steps, method, cap)
        first, rest = split
        with corefw.no_grad():  # whether L widens its input, from one row
            wider = first(xs[0][:1]).numel() > xs[0][:1].numel()
        if wider:
            return self.path_integral(xs, bs, args, ts, n_steps, method, cap)
        with corefw.no_grad():
            zs, zbs = (first(xs[0]),), (first(bs[0]),)
        inner = IntegratedGradients(rest)
        avg_z = inner.path_integral(zs, zbs, args, ts, n_steps, method, cap)[0]
        self._evals += inner._evals
        leaf = xs[0].detach().requires_grad_()
        with corefw.enable_grad(), frozen_parameters(first):
            z = first(leaf)
            pulled = [corefw.autograd.grad((z,), (leaf,), grad_outputs=(avg_z[k],),
                                           retain_graph=k < avg_z.shape[0] - 1)[0].detach()
                      for k in range(avg_z.shape[0])]
        return [corefw.stack(pulled, 0)]

    def path_integral(self, xs, bs, args, ts, n_steps, method, cap) -> list[Tensor]:
        """Per input, the weighted average gradient along the path: (K, B, ...)."""
        alphas, weights = integration_points(method, n_steps)
        batch = xs[0].shape[0]
        diffs = [x - b for x, b in zip(xs, bs)]
        sums: dict[int, list] = {}
        for e0, e1, s0, s1 in blocks(batch, n_steps, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            col = [_scale_col(alphas[st], x) for x in xs]
            rows_in = tuple(take_rows(b, ex) + c * take_rows(d, ex)
                            for b, c, d in zip(bs, col, diffs))
            grads, _ = self.gradients(rows_in, ex, expand_args(args, ex, batch), ts)
            w = [_scale_col(weights[st], x) for x in xs]
            for i in range(len(xs)):
                g = corefw.stack([gk[i] for gk in grads], 0) * w[i].unsqueeze(0)
                part = fold(g, s1 - s0, e1 - e0).sum(1)
                acc = sums.setdefault(e0, [None] * len(xs))
                acc[i] = part if acc[i] is None else acc[i] + part
            del rows_in, grads, g, part, col, w  # free this chunk before the next is built
        return [corefw.cat([sums[e0][i] for e0 in sorted(sums)], 1) for i in range(len(xs))]


def _affine_first(model, xs, args):
    """(first layer, the rest as a Sequential) when ``model`` is exactly a
    ``corefw.nn.Sequential`` of 2+ modules whose first is a Linear or Conv2d layer (affine in
    the single input), else None."""
    nn = corefw.nn
    if type(model) is not nn.Sequential or len(xs) != 1 or args or len(model) < 2:
        return None
    if type(model[0]) not in (nn.Linear, nn.Conv2d):
        return None
    return model[0], model[1:]


class GradientShap(_GradientBase):
    """GradientSHAP / expected gradients: the average over ``n_samples`` draws of
    ``dF/dx(b + a (x~ - b)) * (x~ - b)`` with ``b`` drawn from the baseline distribution, ``a``
    uniform on [0, 1] and ``x~ = x + N(0, stdevs^2)``.

    ``delta`` is ``sum(phi) - (F(x) - mean F(b))`` over the drawn baselines; ``stderr`` is the
    standard error over the samples; ``seed`` reproduces the draws, which are the same for
    every example of the batch.
    """

    name = "gradient_shap"
    stochastic = True

    def __init__(self, model, multiply_by_inputs: bool = True) -> None:
        super().__init__(model)
        self.multiply_by_inputs = multiply_by_inputs

    def attribute(self, inputs, baselines=None, n_samples: int = 5, stdevs: float = 0.0,
                  target=None, additional_forward_args=None,
                  return_convergence_delta: bool = True, *, targets=None,
                  internal_batch_size: int | None = None, seed: int | None = None
                  ) -> Explanation:
        """Expected-gradients attributions with the baseline distribution ``baselines``
        (shape (m, *input.shape[1:]) per input)."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        dist = format_distribution(baselines, xs)
        if n_samples < 1:
            raise ValueError(f"gradient_shap: n_samples must be >= 1, got {n_samples}")
        seed = new_seed(seed)
        draws = ShapDraws(np.random.default_rng(seed), dist, xs, n_samples, stdevs)
        pick = draws.pick
        cap = internal_batch_size or default_rows(xs, batch, n_samples)
        moments = [Moments(2) for _ in xs]
        for e0, e1, s0, s1 in blocks(batch, n_samples, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            base, noisy, rows_in = draws.rows(dist, xs, ex, st)
            diff = tuple(n_ - b for n_, b in zip(noisy, base))
            grads, _ = self.gradients(rows_in, ex, expand_args(args, ex, batch), ts)
            for i in range(len(xs)):
                g = corefw.stack([gk[i] for gk in grads], 0)
                if self.multiply_by_inputs:
                    g = g * diff[i].unsqueeze(0)
                moments[i].add(e0, fold(g, s1 - s0, e1 - e0))
        attrs = [mo.mean() for mo in moments]
        stderr = [mo.stderr_mean() for mo in moments]
        f_x = self._values(xs, args, ts, cap)
        delta = None
        if self.multiply_by_inputs:
            f_ref = picked_values(self, dist, pick, args, ts, cap)
            delta = sum_per_example(attrs) - (f_x - f_ref)
        params = {"n_samples": n_samples, "stdevs": stdevs,
                  "internal_batch_size": internal_batch_size,
                  "multiply_by_inputs": self.multiply_by_inputs}
        return self.result(attrs, is_tuple, ts, params=params, delta=delta, stderr=stderr,
                           seed=seed)


class ShapDraws:
    """GradientSHAP's random draws, made up front and shared by every example (so an example's
    result does not depend on the batch): per sample a baseline row ``pick``, a point
    ``alpha`` on the path and, per input with ``stdevs > 0``, Gaussian noise."""

    def __init__(self, rng: np.random.Generator, dist, xs, n_samples: int, stdevs) -> None:
        batch, m = xs[0].shape[0], dist[0].shape[0]
        self.pick = np.repeat(rng.integers(0, m, size=(n_samples, 1)), batch, 1)
        self.alpha = np.repeat(rng.uniform(0.0, 1.0, size=(n_samples, 1)), batch, 1)
        sd = stdevs if isinstance(stdevs, (tuple, list)) else (stdevs,) * len(xs)
        self.noise = [_shared(rng.standard_normal((n_samples,) + tuple(x.shape[1:])) * s, batch)
                      if s else None for x, s in zip(xs, sd)]

    def rows(self, dist, xs, ex: np.ndarray, st: np.ndarray):
        """(baselines, noisy inputs, points on the path) for the rows of a block."""
        base = tuple(take_rows(d, self.pick[st, ex]) for d in dist)
        noisy = tuple(take_rows(x, ex) + (to_device(nz[st, ex], x) if nz is not None else 0)
                      for x, nz in zip(xs, self.noise))
        points = tuple(b + _scale_col(self.alpha[st, ex], b) * (n_ - b)
                       for b, n_ in zip(base, noisy))
        return base, noisy, points


def picked_values(explainer: Attribution, dist, pick: np.ndarray, args, ts: TargetSet,
                  cap: int) -> Tensor:
    """Mean over samples of F(b) for the baselines ``dist[pick[s, e]]`` drawn for each
    example e, with e's target: (K, B)."""
    n_samples, batch = pick.shape
    total = None
    for e0, e1, s0, s1 in blocks(batch, n_samples, cap):
        ex, st = block_rows(e0, e1, s0, s1)
        rows_in = tuple(take_rows(d, pick[st, ex]) for d in dist)
        vals = explainer.target_values(rows_in, expand_args(args, ex, batch), ts, ex)
        part = vals.reshape(vals.shape[0], s1 - s0, e1 - e0).sum(1)
        full = corefw.zeros((vals.shape[0], batch), dtype=vals.dtype, device=vals.device)
        full[:, e0:e1] = part
        total = full if total is None else total + full
    return total / n_samples
