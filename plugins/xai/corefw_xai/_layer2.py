"""Captum's gradient layer methods: LayerGradientXActivation, InternalInfluence,
LayerConductance and LayerGradientShap.

Attributions are shaped like the layer's output (or its first input with
``attribute_to_layer_input=True``); the layer is captured by a forward hook that is removed when
the call ends, also after an exception (see :mod:`corefw_xai._layer`). Steps and samples are
evaluated in chunks of ``internal_batch_size`` rows, so memory does not grow with ``n_steps``.
"""

from __future__ import annotations

import numpy as np

import corefw
from corefw import Tensor

from ._blocks import Moments, block_rows, blocks, fold
from ._core import (
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    format_distribution,
    frozen_parameters,
    new_seed,
    take_rows,
    to_device,
)
from ._gradient import chunked_values, integration_points
from ._layer import _LayerBase, capture
from ._targets import TargetSet
from .errors import XaiError

__all__ = ["InternalInfluence", "LayerConductance", "LayerGradientShap",
           "LayerGradientXActivation", "act_gradients", "layer_values"]


def _args(a) -> tuple:
    return () if a is None else (tuple(a) if isinstance(a, tuple) else (a,))


def _col(values: np.ndarray, like: Tensor) -> Tensor:
    return to_device(values.reshape((-1,) + (1,) * (like.ndim - 1)), like)


def act_gradients(expl: _LayerBase, xs, rows: np.ndarray, args: tuple, ts: TargetSet,
                  to_input: bool = False, grad_scale=None):
    """Forward ``xs`` once and differentiate every target w.r.t. the layer's activation:
    (activation (R, ...), per-target gradients [(R, ...)], target values (K, R)), detached.

    ``grad_scale(values, k)`` gives the gradient seed of target k (default ones); the inputs are
    the explainer's ``current_leaves`` meanwhile (LRP's rules tell data from parameters by
    them)."""
    leaves = tuple(x.detach().requires_grad_() for x in xs)
    expl.current_leaves = leaves
    try:
        with corefw.enable_grad(), frozen_parameters(expl.model), \
                capture(expl.layer, to_input) as box:
            out = expl.forward(leaves, args)
            act = box["value"]
            if not isinstance(act, Tensor):
                raise XaiError(f"{expl.name}: layer {type(expl.layer).__name__} produced "
                               f"{type(act).__name__}; layer methods need one tensor")
            if not act.requires_grad:
                raise XaiError(f"{expl.name}: the activation of layer "
                               f"{type(expl.layer).__name__} does not depend on the inputs; "
                               f"choose a layer the inputs flow through")
            values = [ts.select(k, out, rows) for k in range(len(ts))]
            grads = []
            for k, v in enumerate(values):
                seed = corefw.ones_like(v) if grad_scale is None else grad_scale(v, k)
                g = corefw.autograd.grad((v,), (act,), grad_outputs=(seed,),
                                         retain_graph=k < len(values) - 1, allow_unused=True,
                                         materialize_grads=True)[0]
                grads.append(g.detach())
    finally:
        expl.current_leaves = ()
    return act.detach(), grads, corefw.stack([v.detach() for v in values], 0)


def layer_values(expl: _LayerBase, xs, args: tuple, ts: TargetSet | None, to_input: bool,
                 cap: int):
    """(layer activation (B, ...), target values (K, B) or None) without grad, in chunks."""
    batch = xs[0].shape[0]
    acts, vals = [], []
    for e0 in range(0, batch, max(1, cap)):
        rows = np.arange(e0, min(batch, e0 + cap))
        with corefw.no_grad(), capture(expl.layer, to_input) as box:
            out = expl.forward(tuple(take_rows(x, rows) for x in xs),
                               expand_args(args, rows, batch))
        acts.append(box["value"].detach())
        if ts is not None:
            vals.append(ts.select_all(out, rows))
    return corefw.cat(acts, 0), (corefw.cat(vals, 1) if ts is not None else None)


def _delta(glob: Tensor, f_x: Tensor, f_ref: Tensor) -> Tensor:
    total = glob.reshape(glob.shape[0], glob.shape[1], -1).sum(2)
    return total - (f_x - f_ref)


class _LayerGrad(_LayerBase):
    """Shared setup; ``device_ids`` is accepted for Captum's signature (no DataParallel)."""

    def __init__(self, model, layer, device_ids=None) -> None:
        super().__init__(model, layer)
        self.device_ids = device_ids

    def _setup(self, inputs, target, targets, additional_forward_args):
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        return xs, batch, TargetSet(target, batch, targets), _args(additional_forward_args)


class LayerGradientXActivation(_LayerGrad):
    """The layer's activation times the gradient of the target w.r.t. it (the gradient alone
    with ``multiply_by_inputs=False``)."""

    name = "layer_gradient_x_activation"

    def __init__(self, model, layer, device_ids=None, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer, device_ids)
        self.multiply_by_inputs = multiply_by_inputs

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input: bool = False, *, targets=None) -> Explanation:
        """Attributions ``a * dF/da`` of shape (B, *layer dims)."""
        xs, batch, ts, args = self._setup(inputs, target, targets, additional_forward_args)
        act, grads, _ = act_gradients(self, xs, np.arange(batch), args, ts,
                                      attribute_to_layer_input)
        g = corefw.stack(grads, 0)
        return self.result([g * act.unsqueeze(0) if self.multiply_by_inputs else g], False, ts,
                           params={"multiply_by_inputs": self.multiply_by_inputs,
                                   "attribute_to_layer_input": attribute_to_layer_input})


class _PathBase(_LayerGrad):
    def _path(self, xs, bs, args, ts, alphas, cap, to_input, each):
        """Walk the straight input path at ``alphas`` in chunks; ``each(e0, act, grads)`` gets
        the folded activation (ns, ne, ...) and gradients (K, ns, ne, ...) of each chunk, in
        order of the steps for every block of examples."""
        batch = xs[0].shape[0]
        diffs = [x - b for x, b in zip(xs, bs)]
        for e0, e1, s0, s1 in blocks(batch, len(alphas), cap):
            ex, st = block_rows(e0, e1, s0, s1)
            rows_in = tuple(take_rows(b, ex) + _col(alphas[st], b) * take_rows(d, ex)
                            for b, d in zip(bs, diffs))
            act, grads, _ = act_gradients(self, rows_in, ex, expand_args(args, ex, batch), ts,
                                          to_input)
            a = act.reshape((s1 - s0, e1 - e0) + tuple(act.shape[1:]))
            g = fold(corefw.stack(grads, 0), s1 - s0, e1 - e0)
            each(e0, s0, a, g)


class InternalInfluence(_PathBase):
    """Internal influence (Leino et al. 2018): the gradient of the target w.r.t. the layer,
    integrated along the straight path from the baselines to the inputs in *input* space
    (``sum_k w_k dF/da(x' + alpha_k (x - x'))`` with the quadrature rule ``method``)."""

    name = "internal_influence"

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  attribute_to_layer_input: bool = False, *, targets=None) -> Explanation:
        """Integrated layer gradients of shape (B, *layer dims)."""
        alphas, weights = integration_points(method, n_steps)
        xs, batch, ts, args = self._setup(inputs, target, targets, additional_forward_args)
        bs = format_baselines(baselines, xs)
        cap = internal_batch_size or default_rows(xs, batch, n_steps)
        sums: dict[int, Tensor] = {}

        def each(e0, s0, act, g):
            w = to_device(weights[s0:s0 + g.shape[1]].reshape((1, -1) + (1,) * (g.ndim - 2)), g)
            part = (g * w).sum(1)
            sums[e0] = part if e0 not in sums else sums[e0] + part

        self._path(xs, bs, args, ts, alphas, cap, attribute_to_layer_input, each)
        avg = corefw.cat([sums[e0] for e0 in sorted(sums)], 1)
        return self.result([avg], False, ts, params={
            "n_steps": n_steps, "method": method, "internal_batch_size": internal_batch_size,
            "attribute_to_layer_input": attribute_to_layer_input})


class LayerConductance(_PathBase):
    """Conductance of the layer's neurons (Dhamdhere et al. 2018), Captum's discretisation:
    with ``n_steps + 1`` points ``alpha_k`` of ``method`` on the input path,
    ``sum_k dF/da(alpha_k) * (a(alpha_{k+1}) - a(alpha_k))``.

    ``delta = sum(phi) - (F(x) - F(x'))`` vanishes as ``n_steps`` grows when the points span
    [0, 1] (``method="riemann_trapezoid"``); Gauss-Legendre points stop short of the ends, so
    its residual stays (as in Captum).
    """

    name = "layer_conductance"

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, *, targets=None) -> Explanation:
        """Conductance of every neuron of the layer, shape (B, *layer dims)."""
        alphas, _ = integration_points(method, n_steps + 1)
        xs, batch, ts, args = self._setup(inputs, target, targets, additional_forward_args)
        bs = format_baselines(baselines, xs)
        cap = internal_batch_size or default_rows(xs, batch, n_steps + 1)
        f_x = chunked_values(self, xs, args, ts, cap)
        f_ref = chunked_values(self, bs, args, ts, cap)
        sums: dict[int, Tensor] = {}
        last: dict[int, tuple] = {}

        def each(e0, s0, act, g):
            parts = []
            if e0 in last:  # the step from the previous chunk's last point to this chunk's
                pg, pa = last[e0]
                parts.append(pg * (act[0] - pa).unsqueeze(0))
            if act.shape[0] > 1:
                parts.append((g[:, :-1] * (act[1:] - act[:-1]).unsqueeze(0)).sum(1))
            last[e0] = (g[:, -1], act[-1])
            for p in parts:
                sums[e0] = p if e0 not in sums else sums[e0] + p

        self._path(xs, bs, args, ts, alphas, cap, attribute_to_layer_input, each)
        attrs = corefw.cat([sums[e0] for e0 in sorted(sums)], 1)
        return self.result([attrs], False, ts, delta=_delta(attrs, f_x, f_ref), params={
            "n_steps": n_steps, "method": method, "internal_batch_size": internal_batch_size,
            "attribute_to_layer_input": attribute_to_layer_input})


class LayerGradientShap(_LayerGrad):
    """GradientSHAP at a layer (Captum's): the average over ``n_samples`` draws of
    ``dF/da(b + u (x~ - b)) * (a(x~) - a(b))`` with ``b`` drawn from the baseline distribution,
    ``u`` uniform on [0, 1] and ``x~ = x + N(0, stdevs^2)``; the draws come from ``seed`` and
    are shared by the examples of the batch. ``delta = sum(phi) - (F(x) - mean F(b))``."""

    name = "layer_gradient_shap"
    stochastic = True

    def __init__(self, model, layer, device_ids=None, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer, device_ids)
        self.multiply_by_inputs = multiply_by_inputs

    def attribute(self, inputs, baselines, n_samples: int = 5, stdevs: float = 0.0,
                  target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, *, targets=None,
                  internal_batch_size: int | None = None, seed: int | None = None
                  ) -> Explanation:
        """Expected-gradient attributions of the layer, shape (B, *layer dims)."""
        from ._gradient import ShapDraws, picked_values

        xs, batch, ts, args = self._setup(inputs, target, targets, additional_forward_args)
        dist = format_distribution(baselines, xs)
        if n_samples < 1:
            raise ValueError(f"layer_gradient_shap: n_samples must be >= 1, got {n_samples}")
        seed = new_seed(seed)
        draws = ShapDraws(np.random.default_rng(seed), dist, xs, n_samples, stdevs)
        pick = draws.pick
        cap = internal_batch_size or default_rows(xs, batch, n_samples)
        moments = Moments(2)
        to_in = attribute_to_layer_input
        for e0, e1, s0, s1 in blocks(batch, n_samples, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            a_args = expand_args(args, ex, batch)
            base, noisy, rows_in = draws.rows(dist, xs, ex, st)
            _, grads, _ = act_gradients(self, rows_in, ex, a_args, ts, to_in)
            g = corefw.stack(grads, 0)
            if self.multiply_by_inputs:
                a_x = layer_values(self, noisy, a_args, None, to_in, len(ex))[0]
                a_b = layer_values(self, base, a_args, None, to_in, len(ex))[0]
                g = g * (a_x - a_b).unsqueeze(0)
            moments.add(e0, fold(g, s1 - s0, e1 - e0))
        attrs = moments.mean()
        delta = None
        if self.multiply_by_inputs:
            f_x = layer_values(self, xs, args, ts, to_in, cap)[1]
            delta = _delta(attrs, f_x, picked_values(self, dist, pick, args, ts, cap))
        return self.result([attrs], False, ts, delta=delta, stderr=[moments.stderr_mean()],
                           seed=seed, params={
                               "n_samples": n_samples, "stdevs": stdevs,
                               "multiply_by_inputs": self.multiply_by_inputs,
                               "attribute_to_layer_input": to_in,
                               "internal_batch_size": internal_batch_size})
