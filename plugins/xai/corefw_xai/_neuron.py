"""Neuron methods (Captum's): attributions of one neuron (or a selection) of a layer to the
inputs.

``neuron_selector`` is an int or a tuple indexing the layer's output without the batch dim
(slices allowed: the selected neurons are summed), or a callable ``fn(layer_output) ->
(batch,)`` tensor. Every method but NeuronConductance is its input-space method applied to the
function ``x -> selected neuron``, which stops the forward pass at the layer; NeuronConductance
needs the gradient of the model's target through the neuron as well.
"""

from __future__ import annotations

import numpy as np

import corefw
from corefw import Tensor
from corefw.errors import ShapeError

from ._blocks import block_rows, blocks, fold
from ._core import (
    Attribution,
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    frozen_parameters,
    take_rows,
)
from ._deeplift import Deconvolution, DeepLift, DeepLiftShap, GuidedBackprop
from ._gradient import GradientShap, IntegratedGradients, Saliency, _scale_col, integration_points
from ._layer import resolve_layer
from ._layer2 import _args
from ._perturb import FeatureAblation
from ._targets import TargetSet
from .errors import XaiError

__all__ = ["NeuronConductance", "NeuronDeconvolution", "NeuronDeepLift", "NeuronDeepLiftShap",
           "NeuronFeatureAblation", "NeuronFunction", "NeuronGradient", "NeuronGradientShap",
           "NeuronGuidedBackprop", "NeuronIntegratedGradients", "select_neuron"]


def select_neuron(act: Tensor, selector) -> Tensor:
    """The selected neuron of a layer output (B, ...) per example: (B,)."""
    n = act.shape[0]
    if callable(selector):
        v = selector(act)
        if not isinstance(v, Tensor) or v.ndim == 0 or v.shape[0] != n:
            raise ShapeError(f"neuron_selector callable returned "
                             f"{tuple(getattr(v, 'shape', ()))}; it must return a tensor "
                             f"with the batch dim first, shape ({n},)")
        return v.reshape(n, -1).sum(1)
    idx = (selector,) if isinstance(selector, (int, np.integer, slice)) else tuple(selector)
    if len(idx) > act.ndim - 1:
        raise ShapeError(f"neuron_selector {selector!r} has {len(idx)} indices; the layer "
                         f"output {tuple(act.shape)} has {act.ndim - 1} dims besides the batch")
    for i, s in zip(idx, act.shape[1:]):
        if isinstance(i, (int, np.integer)) and not -s <= i < s:
            raise ShapeError(f"neuron_selector {selector!r} is out of range for the layer "
                             f"output {tuple(act.shape)}")
    return act[(slice(None),) + idx].reshape(n, -1).sum(1)


class _Stop(Exception):
    """Raised by the capturing hook: the rest of the forward pass is not needed."""


class NeuronFunction:
    """``f(*inputs) -> (batch,)``: the selected neuron of ``layer``'s output (its input with
    ``to_input``). The forward pass stops at the layer; the hook is removed on return."""

    def __init__(self, model, layer, selector, to_input: bool = False) -> None:
        self.model, self.layer, self.selector, self.to_input = model, layer, selector, to_input

    def parameters(self):
        params = getattr(self.model, "parameters", None)
        return params() if callable(params) else iter(())

    def __call__(self, *inputs):
        box: dict = {}

        def keep(value):
            box["value"] = value
            raise _Stop

        if self.to_input:
            handle = self.layer.register_forward_pre_hook(lambda m, a: keep(a[0]))
        else:
            handle = self.layer.register_forward_hook(lambda m, a, out: keep(out))
        try:
            self.model(*inputs)
        except _Stop:
            pass
        finally:
            handle.remove()
        if "value" not in box:
            raise XaiError(f"layer {type(self.layer).__name__} did not run in the model's "
                           f"forward pass; choose a layer the inputs flow through")
        return select_neuron(box["value"], self.selector)


class _Neuron(Attribution):
    """``cls(model, layer, ...)``; ``attribute(inputs, neuron_selector, ...)`` runs ``inner``
    on the neuron function."""

    inner: type = Saliency

    def __init__(self, model, layer, device_ids=None, **inner_init) -> None:
        super().__init__(model)
        self.layer = resolve_layer(model, layer)
        self.device_ids = device_ids
        self.inner_init = inner_init

    def _run(self, inputs, neuron_selector, to_input, **options) -> Explanation:
        fn = NeuronFunction(self.model, self.layer, neuron_selector, to_input)
        e = self.inner(fn, **self.inner_init).attribute(inputs, **options)
        e.method = self.name
        e.params.update(neuron_selector=neuron_selector, attribute_to_neuron_input=to_input)
        self._evals = e.n_evals
        return e


class NeuronGradient(_Neuron):
    """The gradient of the neuron w.r.t. the inputs."""

    name = "neuron_gradient"

    def attribute(self, inputs, neuron_selector, additional_forward_args=None,
                  attribute_to_neuron_input: bool = False) -> Explanation:
        """``d neuron / dx``, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input, abs=False,
                         additional_forward_args=additional_forward_args)


class NeuronIntegratedGradients(_Neuron):
    """Integrated gradients of the neuron; ``delta`` compares with ``n(x) - n(x')``."""

    name = "neuron_integrated_gradients"
    inner = IntegratedGradients

    def __init__(self, model, layer, device_ids=None, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer, device_ids, multiply_by_inputs=multiply_by_inputs)

    def attribute(self, inputs, neuron_selector, baselines=None, additional_forward_args=None,
                  n_steps: int = 50, method: str = "gausslegendre",
                  internal_batch_size: int | None = None,
                  attribute_to_neuron_input: bool = False) -> Explanation:
        """IG of the neuron, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input,
                         baselines=baselines, additional_forward_args=additional_forward_args,
                         n_steps=n_steps, method=method,
                         internal_batch_size=internal_batch_size)


class NeuronDeepLift(_Neuron):
    """DeepLift of the neuron (summation to delta: ``sum(phi) = n(x) - n(x')``)."""

    name = "neuron_deeplift"
    inner = DeepLift

    def __init__(self, model, layer, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer, multiply_by_inputs=multiply_by_inputs)

    def attribute(self, inputs, neuron_selector, baselines=None, additional_forward_args=None,
                  attribute_to_neuron_input: bool = False, custom_attribution_func=None
                  ) -> Explanation:
        """DeepLift attributions of the neuron, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input,
                         baselines=baselines, additional_forward_args=additional_forward_args,
                         custom_attribution_func=custom_attribution_func)


class NeuronDeepLiftShap(NeuronDeepLift):
    """DeepLiftShap of the neuron over a baseline distribution (m, ...)."""

    name = "neuron_deeplift_shap"
    inner = DeepLiftShap

    def attribute(self, inputs, neuron_selector, baselines, additional_forward_args=None,
                  attribute_to_neuron_input: bool = False, custom_attribution_func=None
                  ) -> Explanation:
        """DeepLiftShap attributions of the neuron, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input,
                         baselines=baselines, additional_forward_args=additional_forward_args,
                         custom_attribution_func=custom_attribution_func)


class NeuronGradientShap(_Neuron):
    """GradientSHAP of the neuron (draws from ``seed``, shared by the batch)."""

    name = "neuron_gradient_shap"
    inner = GradientShap
    stochastic = True

    def __init__(self, model, layer, device_ids=None, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer, device_ids, multiply_by_inputs=multiply_by_inputs)

    def attribute(self, inputs, neuron_selector, baselines, n_samples: int = 5,
                  stdevs: float = 0.0, additional_forward_args=None,
                  attribute_to_neuron_input: bool = False, *, seed: int | None = None
                  ) -> Explanation:
        """Expected-gradient attributions of the neuron, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input,
                         baselines=baselines, n_samples=n_samples, stdevs=stdevs,
                         additional_forward_args=additional_forward_args, seed=seed)


class NeuronGuidedBackprop(_Neuron):
    """Guided backpropagation of the neuron."""

    name = "neuron_guided_backprop"
    inner = GuidedBackprop

    def attribute(self, inputs, neuron_selector, additional_forward_args=None,
                  attribute_to_neuron_input: bool = False) -> Explanation:
        """Guided-backprop attributions of the neuron, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input,
                         additional_forward_args=additional_forward_args)


class NeuronDeconvolution(NeuronGuidedBackprop):
    """Deconvolution of the neuron."""

    name = "neuron_deconvolution"
    inner = Deconvolution


class NeuronFeatureAblation(_Neuron):
    """Feature ablation of the neuron: ``n(x) - n(x with the feature group at the
    baseline)`` per group of ``feature_mask``."""

    name = "neuron_feature_ablation"
    inner = FeatureAblation

    def attribute(self, inputs, neuron_selector, baselines=None, additional_forward_args=None,
                  feature_mask=None, attribute_to_neuron_input: bool = False,
                  perturbations_per_eval: int | None = None) -> Explanation:
        """Ablation attributions of the neuron, shaped like the inputs."""
        return self._run(inputs, neuron_selector, attribute_to_neuron_input,
                         baselines=baselines, additional_forward_args=additional_forward_args,
                         feature_mask=feature_mask,
                         perturbations_per_eval=perturbations_per_eval)


class NeuronConductance(_Neuron):
    """Conductance of the target through one neuron (Dhamdhere et al. 2018): per input
    feature, ``(x - x') * sum_k w_k dF/dn(alpha_k) * dn/dx(alpha_k)`` along the straight path,
    Captum's default quadrature ``riemann_trapezoid``. Summed over the inputs it is the
    neuron's layer conductance; ``neuron_selector`` must select one neuron (a callable is
    applied to the layer's gradient as well, as in Captum)."""

    name = "neuron_conductance"

    def __init__(self, model, layer, device_ids=None, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, layer, device_ids)
        self.multiply_by_inputs = multiply_by_inputs

    def attribute(self, inputs, neuron_selector, baselines=None, target=None,
                  additional_forward_args=None, n_steps: int = 50,
                  method: str = "riemann_trapezoid", internal_batch_size: int | None = None,
                  attribute_to_neuron_input: bool = False, *, targets=None) -> Explanation:
        """Conductance through the neuron, shaped like the inputs."""
        from ._layer import capture

        alphas, weights = integration_points(method, n_steps)
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        args = _args(additional_forward_args)
        bs = format_baselines(baselines, xs)
        diffs = [x - b for x, b in zip(xs, bs)]
        cap = internal_batch_size or default_rows(xs, batch, n_steps)
        sums: dict[int, list] = {}
        for e0, e1, s0, s1 in blocks(batch, n_steps, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            leaves = tuple((take_rows(b, ex) + _scale_col(alphas[st], b) * take_rows(d, ex))
                           .detach().requires_grad_() for b, d in zip(bs, diffs))
            with corefw.enable_grad(), frozen_parameters(self.model), \
                    capture(self.layer, attribute_to_neuron_input) as box:
                out = self.forward(leaves, expand_args(args, ex, batch))
                act = box["value"]
                values = [ts.select(k, out, ex) for k in range(len(ts))]
                mids = [select_neuron(corefw.autograd.grad(
                    v.sum(), act, retain_graph=True, allow_unused=True,
                    materialize_grads=True)[0].detach(), neuron_selector) for v in values]
                in_grads = corefw.autograd.grad(select_neuron(act, neuron_selector).sum(),
                                                leaves, allow_unused=True,
                                                materialize_grads=True)
            w = _scale_col(weights[st], leaves[0])
            acc = sums.setdefault(e0, [None] * len(xs))
            for i, g in enumerate(in_grads):
                g = g.detach()
                col = (-1,) + (1,) * (g.ndim - 1)
                per_k = corefw.stack([g * (m * w.reshape(-1)).reshape(col) for m in mids], 0)
                part = fold(per_k, s1 - s0, e1 - e0).sum(1)
                acc[i] = part if acc[i] is None else acc[i] + part
        avg = [corefw.cat([sums[e0][i] for e0 in sorted(sums)], 1) for i in range(len(xs))]
        out = [a * d.unsqueeze(0) for a, d in zip(avg, diffs)] if self.multiply_by_inputs \
            else avg
        return self.result(out, is_tuple, ts, params={
            "n_steps": n_steps, "method": method, "internal_batch_size": internal_batch_size,
            "neuron_selector": neuron_selector,
            "attribute_to_neuron_input": attribute_to_neuron_input,
            "multiply_by_inputs": self.multiply_by_inputs})
