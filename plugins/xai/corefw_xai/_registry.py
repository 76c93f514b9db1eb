"""The explainer classes corefw-xai registers, by name, and lookup through corefw's registry
(so explainers from third-party plugins are found the same way)."""

from __future__ import annotations

import importlib

__all__ = ["explainer_classes", "lookup", "method_kind", "methods"]

# name -> "module:Class"; imported on first use so the plugin stays light to load.
_SPECS = {
    "saliency": "_gradient:Saliency",
    "input_x_gradient": "_gradient:InputXGradient",
    "integrated_gradients": "_gradient:IntegratedGradients",
    "gradient_shap": "_gradient:GradientShap",
    "noise_tunnel": "_noise:NoiseTunnel",
    "deeplift": "_deeplift:DeepLift",
    "deeplift_shap": "_deeplift:DeepLiftShap",
    "guided_backprop": "_deeplift:GuidedBackprop",
    "deconvolution": "_deeplift:Deconvolution",
    "lrp": "_lrp:LRP",
    "layer_activation": "_layer:LayerActivation",
    "layer_grad_cam": "_layer:LayerGradCam",
    "guided_grad_cam": "_layer:GuidedGradCam",
    "layer_integrated_gradients": "_layer:LayerIntegratedGradients",
    "grad_cam_plus_plus": "_cam:GradCamPlusPlus",
    "score_cam": "_cam:ScoreCam",
    "occlusion": "_perturb:Occlusion",
    "feature_ablation": "_perturb:FeatureAblation",
    "feature_permutation": "_perturb:FeaturePermutation",
    "rise": "_perturb:RISE",
    "shapley_values": "_shapley:ShapleyValues",
    "shapley_value_sampling": "_shapley:ShapleyValueSampling",
    "kernel_shap": "_shapley:KernelShap",
    "lime": "_shapley:Lime",
}
# Captum's layer and neuron methods (round 2, part A)
_SPECS.update({
    "layer_conductance": "_layer2:LayerConductance",
    "internal_influence": "_layer2:InternalInfluence",
    "layer_gradient_x_activation": "_layer2:LayerGradientXActivation",
    "layer_gradient_shap": "_layer2:LayerGradientShap",
    "layer_deeplift": "_layer_rules:LayerDeepLift",
    "layer_deeplift_shap": "_layer_rules:LayerDeepLiftShap",
    "layer_lrp": "_layer_rules:LayerLRP",
    "layer_feature_ablation": "_layer_perturb:LayerFeatureAblation",
    "layer_feature_permutation": "_layer_perturb:LayerFeaturePermutation",
    "neuron_gradient": "_neuron:NeuronGradient",
    "neuron_integrated_gradients": "_neuron:NeuronIntegratedGradients",
    "neuron_conductance": "_neuron:NeuronConductance",
    "neuron_deeplift": "_neuron:NeuronDeepLift",
    "neuron_deeplift_shap": "_neuron:NeuronDeepLiftShap",
    "neuron_gradient_shap": "_neuron:NeuronGradientShap",
    "neuron_guided_backprop": "_neuron:NeuronGuidedBackprop",
    "neuron_deconvolution": "_neuron:NeuronDeconvolution",
    "neuron_feature_ablation": "_neuron:NeuronFeatureAblation",
})

# Explainers whose results are not per-feature Explanations (their ``kind`` and
# ``result_type`` say what they return; see _results.py)
_SPECS.update({
    "tcav": "_tcav:TCAV",
    "tracin_cp": "_tracin:TracInCP",
    "llm_attribution": "_text:LLMAttribution",
    "llm_gradient_attribution": "_text:LLMGradientAttribution",
})


def explainer_classes() -> dict[str, type]:
    """``{name: class}`` of corefw-xai's explainers (imports their modules)."""
    out = {}
    for name, spec in _SPECS.items():
        mod, cls = spec.split(":")
        out[name] = getattr(importlib.import_module(f"{__package__}.{mod}"), cls)
    return out


def methods() -> list[str]:
    """Names of every registered explainer (corefw-xai's and third-party plugins')."""
    import corefw

    names = set(corefw.explainers())
    return sorted(names)


def method_kind(name: str) -> str:
    """What the explainer registered as ``name`` returns: "feature" (an Explanation shaped
    like the inputs), "concept" (TCAVScores), "data" (InfluenceScores) or "text"
    (LLMAttributionResult). Third-party explainers without a ``kind`` count as "feature"."""
    return getattr(lookup(name), "kind", "feature")


def lookup(name: str):
    """The explainer class registered as ``name``."""
    import corefw

    from .errors import UnknownMethodError

    table = corefw.explainers()
    if name in table:
        return table[name]
    if name in _SPECS:  # the plugin was blocked or not installed as a distribution
        return explainer_classes()[name]
    import difflib

    close = difflib.get_close_matches(name, sorted(set(table) | set(_SPECS)), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UnknownMethodError(f"explain: no explainer named {name!r}{hint} (registered: "
                             f"{', '.join(sorted(set(table) | set(_SPECS)))})")
