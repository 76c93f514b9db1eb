"""Perturbation at a layer: LayerFeatureAblation and LayerFeaturePermutation.

The model is seen as a function of the layer's activation: ``f(a, *inputs)`` runs the model on
the inputs with the layer's output (or input) replaced by ``a``, and the input-space method
(FeatureAblation, FeaturePermutation) perturbs ``a``. Everything else the model computes from
the inputs, residual connections around the layer included, stays as it is.
"""

from __future__ import annotations

from corefw import Tensor
from corefw.errors import ShapeError

from ._core import Attribution, Explanation, as_tuple
from ._layer import capture, resolve_layer
from ._layer2 import _args, layer_values
from ._perturb import FeatureAblation, FeaturePermutation

__all__ = ["LayerFeatureAblation", "LayerFeaturePermutation", "LayerFunction"]


class LayerFunction:
    """``f(a, *inputs_and_args)``: the model with the layer's output (input with ``to_input``)
    replaced by ``a``. Exposes the model's ``parameters`` so explainers can freeze them."""

    def __init__(self, model, layer, to_input: bool = False) -> None:
        self.model, self.layer, self.to_input = model, layer, to_input

    def parameters(self):
        params = getattr(self.model, "parameters", None)
        return params() if callable(params) else iter(())

    def __call__(self, act: Tensor, *rest):
        def replace(value):
            if tuple(value.shape) != tuple(act.shape):
                raise ShapeError(f"layer {type(self.layer).__name__}: the replacement "
                                 f"activation has shape {tuple(act.shape)}, the layer gave "
                                 f"{tuple(value.shape)}")
            return act

        with capture(self.layer, self.to_input, replace=replace):
            return self.model(*rest)


class _LayerPerturbation(Attribution):
    method_cls: type = FeatureAblation

    def __init__(self, model, layer, device_ids=None) -> None:
        super().__init__(model)
        self.layer = resolve_layer(model, layer)
        self.device_ids = device_ids

    def _run(self, inputs, additional_forward_args, to_input, **options) -> Explanation:
        self.start()
        xs, _ = as_tuple(inputs)
        args = _args(additional_forward_args)
        act = layer_values(self, xs, args, None, to_input, xs[0].shape[0])[0]
        inner = self.method_cls(LayerFunction(self.model, self.layer, to_input))
        e = inner.attribute(act, additional_forward_args=xs + args, **options)
        e.method = self.name
        e.n_evals += self._evals
        e.params["attribute_to_layer_input"] = to_input
        return e


class LayerFeatureAblation(_LayerPerturbation):
    """Each group of the layer's neurons (``layer_mask``, default every neuron alone) replaced
    by ``layer_baselines`` (default 0): ``F(x) - F(x with the group ablated)``."""

    name = "layer_feature_ablation"
    method_cls = FeatureAblation

    def attribute(self, inputs, layer_baselines=None, target=None, additional_forward_args=None,
                  layer_mask=None, attribute_to_layer_input: bool = False,
                  perturbations_per_eval: int | None = None, *, targets=None) -> Explanation:
        """Ablation attributions of shape (B, *layer dims), constant within each group."""
        return self._run(inputs, additional_forward_args, attribute_to_layer_input,
                         baselines=layer_baselines, target=target, feature_mask=layer_mask,
                         perturbations_per_eval=perturbations_per_eval, targets=targets)


class LayerFeaturePermutation(_LayerPerturbation):
    """Permutation importance of the layer's neuron groups (``layer_mask``): ``F(x) - F(x with
    the group's activations taken from another example of the batch)``; the permutations
    (never the identity) come from ``seed``."""

    name = "layer_feature_permutation"
    stochastic = True
    method_cls = FeaturePermutation

    def attribute(self, inputs, target=None, additional_forward_args=None, layer_mask=None,
                  perturbations_per_eval: int | None = None, *, targets=None,
                  seed: int | None = None) -> Explanation:
        """Permutation attributions of shape (B, *layer dims); needs a batch of 2 or more."""
        if as_tuple(inputs)[0][0].shape[0] < 2:
            raise ShapeError("layer_feature_permutation: needs a batch of at least 2 examples "
                             "to permute activations across")
        return self._run(inputs, additional_forward_args, False, target=target,
                         feature_mask=layer_mask, perturbations_per_eval=perturbations_per_eval,
                         targets=targets, seed=seed)
