"""Layer methods on modified backward rules: LayerDeepLift, LayerDeepLiftShap, LayerLRP.

The rules are the op rules of DeepLift and LRP (:mod:`corefw_xai._rules`, :mod:`._lrp`); the
layer's activation is captured by a forward hook and the target's modified gradient is taken
with respect to it. Hooks and rules are removed when the call ends, also after an exception.
"""

from __future__ import annotations

import contextlib

import numpy as np

import corefw
from corefw.autograd import record_module_provenance

from ._blocks import Moments, block_rows, blocks, fold
from ._core import (
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    format_distribution,
    take_rows,
)
from ._deeplift import DeepLift
from ._layer import resolve_layer
from ._layer2 import _args, _delta, act_gradients
from ._lrp import LRP, _State, lrp_rules
from ._rules import Pairing, deeplift_rules, rule_scope
from ._targets import TargetSet

__all__ = ["LayerDeepLift", "LayerDeepLiftShap", "LayerLRP"]


class LayerDeepLift(DeepLift):
    """DeepLift (rescale rule) at a layer: the multipliers of the target w.r.t. the layer's
    activation times ``a(x) - a(x')`` (the multipliers alone with ``multiply_by_inputs=False``);
    ``delta = sum(phi) - (F(x) - F(x'))`` (summation to delta above the layer).
    ``custom_attribution_func(multipliers, layer activations at the inputs, at the baselines)``
    as in Captum."""

    name = "layer_deeplift"

    def __init__(self, model, layer, multiply_by_inputs: bool = True, eps: float = 1e-10
                 ) -> None:
        super().__init__(model, multiply_by_inputs, eps)
        self.layer = resolve_layer(model, layer)

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, custom_attribution_func=None, *,
                  targets=None, internal_batch_size: int | None = None) -> Explanation:
        """Layer DeepLift attributions of shape (B, *layer dims)."""
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        bs = format_baselines(baselines, xs)
        cap = internal_batch_size or batch
        parts, deltas = [], []
        for e0 in range(0, batch, cap):
            rows = np.arange(e0, min(batch, e0 + cap))
            attrs, glob, f_x, f_ref = self.layer_pair(
                tuple(take_rows(x, rows) for x in xs), tuple(take_rows(b, rows) for b in bs),
                rows, expand_args(args, rows, batch), ts, attribute_to_layer_input,
                custom_attribution_func)
            parts.append(attrs)
            deltas.append(_delta(glob, f_x, f_ref))
        return self.result([corefw.cat(parts, 1)], False, ts, delta=corefw.cat(deltas, 1),
                           params={"multiply_by_inputs": self.multiply_by_inputs,
                                   "attribute_to_layer_input": attribute_to_layer_input,
                                   "internal_batch_size": internal_batch_size})

    def layer_pair(self, xs, bs, rows, args, ts, to_input, custom):
        """(attributions, global attributions, F(xs), F(bs)) for rows ``xs`` against ``bs``."""
        n = xs[0].shape[0]
        both = tuple(corefw.cat([x, b], 0) for x, b in zip(xs, bs))
        args2 = tuple(corefw.cat([a, a], 0) if isinstance(a, corefw.Tensor) and a.ndim and
                      a.shape[0] == n else a for a in args)
        ones = corefw.ones(n, dtype=xs[0].dtype, device=xs[0].device)
        seed_rows = corefw.cat([ones, corefw.zeros_like(ones)])
        with rule_scope(deeplift_rules(Pairing(n, self.eps))):
            act, grads, vals = act_gradients(self, both, np.concatenate([rows, rows]), args2,
                                             ts, to_input,
                                             grad_scale=lambda v, k: seed_rows.to(v.dtype))
        mults = [corefw.stack([g[:n] for g in grads], 0)]
        attrs, glob = self.finish(mults, (act[:n],), (act[n:],), custom)
        return attrs[0], glob[0], vals[:, :n], vals[:, n:]


class LayerDeepLiftShap(LayerDeepLift):
    """LayerDeepLift averaged over every baseline of a distribution (m, ...):
    ``delta = sum(phi) - (F(x) - mean_b F(b))``; ``stderr`` over the baselines."""

    name = "layer_deeplift_shap"

    def attribute(self, inputs, baselines, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, custom_attribution_func=None, *,
                  targets=None, internal_batch_size: int | None = None) -> Explanation:
        """Layer DeepLiftShap attributions of shape (B, *layer dims)."""
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        dist = format_distribution(baselines, xs)
        m = dist[0].shape[0]
        cap = internal_batch_size or default_rows(xs, batch, m)
        moments = Moments(2)
        dsum: dict = {}
        for e0, e1, s0, s1 in blocks(batch, m, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            attrs, glob, f_x, f_ref = self.layer_pair(
                tuple(take_rows(x, ex) for x in xs), tuple(take_rows(d, st) for d in dist), ex,
                expand_args(args, ex, batch), ts, attribute_to_layer_input,
                custom_attribution_func)
            moments.add(e0, fold(attrs, s1 - s0, e1 - e0))
            d = fold(_delta(glob, f_x, f_ref), s1 - s0, e1 - e0).sum(1)
            dsum[e0] = d if e0 not in dsum else dsum[e0] + d
        delta = corefw.cat([dsum[e0] for e0 in sorted(dsum)], 1) / m
        return self.result([moments.mean()], False, ts, delta=delta,
                           stderr=[moments.stderr_mean()],
                           params={"multiply_by_inputs": self.multiply_by_inputs,
                                   "n_baselines": m,
                                   "attribute_to_layer_input": attribute_to_layer_input,
                                   "internal_batch_size": internal_batch_size})


class LayerLRP(LRP):
    """The LRP relevance arriving at a layer's output (or, with
    ``attribute_to_layer_input=True``, leaving it at its input). Rules as in :class:`LRP`
    (``rule=``, ``composite=``, or Captum's ``module.rule`` attributes);
    ``delta = sum(relevance) - F(x)`` is what the layers above absorbed."""

    name = "layer_lrp"

    def __init__(self, model, layer, rule=None, composite=None) -> None:
        super().__init__(model, rule=rule, composite=composite)
        self.layer = resolve_layer(model, layer)

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, verbose: bool = False, *,
                  targets=None) -> Explanation:
        """Relevance of the layer's neurons, shape (B, *layer dims)."""
        self.start()
        xs, _ = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        self.composite.bind(self.model)
        state = _State(self.composite, self)
        with contextlib.ExitStack() as stack:
            for canon in self.composite.canonizers:
                stack.enter_context(canon(self.model))
            stack.enter_context(record_module_provenance())
            stack.enter_context(rule_scope(lrp_rules(state)))
            _, grads, vals = act_gradients(self, xs, np.arange(batch),
                                           _args(additional_forward_args), ts,
                                           attribute_to_layer_input,
                                           grad_scale=lambda v, k: v.detach())
        rel = corefw.stack(grads, 0)
        delta = rel.reshape(rel.shape[0], batch, -1).sum(2) - vals
        return self.result([rel], False, ts, delta=delta,
                           params={"attribute_to_layer_input": attribute_to_layer_input,
                                   "composite": repr(self.composite.layer_map),
                                   "default": repr(self.composite.default)},
                           extras={"layers": state.layers})
