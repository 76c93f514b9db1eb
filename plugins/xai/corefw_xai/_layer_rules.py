"""Layer methods on modified backward rules: LayerDeepLift, LayerDeepLiftShap, LayerLRP.

The rules are the op rules of DeepLift and LRP (:mod:`corefw_xai._rules`, :mod:`._lrp`); the
layer's activation is captured by a forward hook and the target's modified gradient is taken
with respect to it. Hooks and rules are removed when the call ends, also after an exception.
"""

from __future__ import annotations

import numpy as np

import corefw

from ._core import (
    Explanation,
    as_tuple,
)
from ._deeplift import DeepLift, DeepLiftShap
from ._layer import resolve_layer
from ._layer2 import _args, act_gradients
from ._lrp import LRP
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
    at_layer = True

    def __init__(self, model, layer, multiply_by_inputs: bool = True, eps: float = 1e-10
                 ) -> None:
        super().__init__(model, multiply_by_inputs, eps)
        self.layer = resolve_layer(model, layer)
        self.to_input = False

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, custom_attribution_func=None, *,
                  targets=None, internal_batch_size: int | None = None) -> Explanation:
        """Layer DeepLift attributions of shape (B, *layer dims)."""
        self.to_input = attribute_to_layer_input
        e = DeepLift.attribute(self, inputs, baselines, target, additional_forward_args,
                               custom_attribution_func=custom_attribution_func,
                               targets=targets, internal_batch_size=internal_batch_size)
        e.params["attribute_to_layer_input"] = attribute_to_layer_input
        return e

    def pair(self, xs, bs, rows, args, ts, custom):
        """([attributions], [global attributions], F(xs), F(bs)) at the layer, for rows
        ``xs`` against ``bs``."""
        n = xs[0].shape[0]
        both = tuple(corefw.cat([x, b], 0) for x, b in zip(xs, bs))
        args2 = tuple(corefw.cat([a, a], 0) if isinstance(a, corefw.Tensor) and a.ndim and
                      a.shape[0] == n else a for a in args)
        ones = corefw.ones(n, dtype=xs[0].dtype, device=xs[0].device)
        seed_rows = corefw.cat([ones, corefw.zeros_like(ones)])
        with rule_scope(deeplift_rules(Pairing(n, self.eps))):
            act, grads, vals = act_gradients(self, both, np.concatenate([rows, rows]), args2,
                                             ts, self.to_input,
                                             grad_scale=lambda v, k: seed_rows.to(v.dtype))
        mults = [corefw.stack([g[:n] for g in grads], 0)]
        attrs, glob = self.finish(mults, (act[:n],), (act[n:],), custom)
        return attrs, glob, vals[:, :n], vals[:, n:]


class LayerDeepLiftShap(LayerDeepLift, DeepLiftShap):
    """LayerDeepLift averaged over every baseline of a distribution (m, ...):
    ``delta = sum(phi) - (F(x) - mean_b F(b))``; ``stderr`` over the baselines."""

    name = "layer_deeplift_shap"

    def attribute(self, inputs, baselines, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False,
                  attribute_to_layer_input: bool = False, custom_attribution_func=None, *,
                  targets=None, internal_batch_size: int | None = None) -> Explanation:
        """Layer DeepLiftShap attributions of shape (B, *layer dims)."""
        self.to_input = attribute_to_layer_input
        e = DeepLiftShap.attribute(self, inputs, baselines, target, additional_forward_args,
                                   custom_attribution_func=custom_attribution_func,
                                   targets=targets, internal_batch_size=internal_batch_size)
        e.params["attribute_to_layer_input"] = attribute_to_layer_input
        return e


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
        with self.scope() as state:
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
