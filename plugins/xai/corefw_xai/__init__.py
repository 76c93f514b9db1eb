"""corefw-xai: attribution methods, evaluation metrics, sanity checks and pictures for corefw.

Every explainer has Captum's class name, arguments and defaults and returns an
:class:`Explanation` (attributions plus the evidence: completeness residual ``delta``, standard
error and seed of stochastic methods, number of model evaluations)::

    ig = corefw_xai.IntegratedGradients(model)
    e = ig.attribute(x, target=3, n_steps=50)
    e.attributions, e.delta

    corefw_xai.explain(model, x, method="integrated_gradients", target=3)
    corefw_xai.methods()          # registered names, third-party explainers included

The explainers are registered in corefw's plugin registry (``corefw plugins``,
``corefw.explainers()``). See docs/xai.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._core import Attribution, Explanation
from ._registry import lookup, method_kind, methods

__version__ = "0.1.0"

# public name -> submodule; imported on first access (PEP 562) so `import corefw_xai` is cheap
_LAZY = {
    "Saliency": "_gradient", "InputXGradient": "_gradient", "IntegratedGradients": "_gradient",
    "GradientShap": "_gradient", "integration_points": "_gradient",
    "NoiseTunnel": "_noise",
    "DeepLift": "_deeplift", "DeepLiftShap": "_deeplift", "GuidedBackprop": "_deeplift",
    "Deconvolution": "_deeplift",
    "LRP": "_lrp", "Epsilon": "_lrp", "Gamma": "_lrp", "ZPlus": "_lrp", "AlphaBeta": "_lrp",
    "ZBox": "_lrp", "Pass": "_lrp", "WSquare": "_lrp", "Flat": "_lrp", "Composite": "_lrp",
    "merge_batchnorm": "_lrp",
    "LayerActivation": "_layer", "LayerGradCam": "_layer", "GuidedGradCam": "_layer",
    "LayerIntegratedGradients": "_layer", "GradCamPlusPlus": "_cam", "ScoreCam": "_cam",
    "interpolate": "_layer",
    "Occlusion": "_perturb", "FeatureAblation": "_perturb", "FeaturePermutation": "_perturb",
    "RISE": "_perturb",
    "ShapleyValues": "_shapley", "ShapleyValueSampling": "_shapley", "KernelShap": "_shapley",
    "Lime": "_shapley",
    "save_pictures": "viz", "html_report": "viz", "heatmap_rgb": "viz", "write_png": "_png",
    "metrics": None, "sanity": None, "viz": None, "errors": None,
}
# Captum's layer and neuron methods and LRP rule names (round 2, part A)
_LAZY.update({
    "LayerConductance": "_layer2", "InternalInfluence": "_layer2",
    "LayerGradientXActivation": "_layer2", "LayerGradientShap": "_layer2",
    "LayerDeepLift": "_layer_rules", "LayerDeepLiftShap": "_layer_rules",
    "LayerLRP": "_layer_rules",
    "LayerFeatureAblation": "_layer_perturb", "LayerFeaturePermutation": "_layer_perturb",
    "NeuronGradient": "_neuron", "NeuronIntegratedGradients": "_neuron",
    "NeuronConductance": "_neuron", "NeuronDeepLift": "_neuron", "NeuronDeepLiftShap": "_neuron",
    "NeuronGradientShap": "_neuron", "NeuronGuidedBackprop": "_neuron",
    "NeuronDeconvolution": "_neuron", "NeuronFeatureAblation": "_neuron",
    "EpsilonRule": "_lrp", "GammaRule": "_lrp", "Alpha1_Beta0_Rule": "_lrp",
    "IdentityRule": "_lrp", "WinnerTakesAll": "_lrp", "Norm": "_lrp",
})
# concept, text and data attribution (registered too; their results are TCAVScores,
# LLMAttributionResult and InfluenceScores, not per-feature Explanations: see method_kind)
_LAZY.update({
    "TCAV": "_tcav", "Concept": "_tcav", "tcav_significance": "_tcav",
    "TextTokenInput": "_text", "TextTemplateInput": "_text", "LLMAttribution": "_text",
    "LLMGradientAttribution": "_text", "CharTokenizer": "_text", "LLMAttributionResult": "_text",
    "TracInCP": "_tracin",
    "TCAVScores": "_results", "InfluenceScores": "_results",
    "KMostInfluentialResults": "_results",
})

__all__ = ["Attribution", "Explanation", "explain", "lookup", "method_kind", "methods", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'corefw_xai' has no attribute {name!r}")
    mod = _LAZY[name]
    module = importlib.import_module(f"{__name__}.{mod or name}")
    value = module if mod is None else getattr(module, name)
    globals()[name] = value
    return value


def explain(model, inputs, method: str = "integrated_gradients", *, init: dict | None = None,
            **options) -> Any:
    """Explain ``model`` at ``inputs`` with the explainer registered as ``method``.

    ``init`` holds constructor options (``{"multiply_by_inputs": False}``, ``{"layer": m}``);
    everything else goes to ``attribute`` (``target=``, ``baselines=``, ``n_steps=`` ...). For
    IntegratedGradients' own ``method`` option use ``integration=``. The result is an
    :class:`Explanation` for the per-feature methods; ``method_kind(method)`` names the others'
    (``tcav``: TCAVScores, ``tracin_cp``: InfluenceScores, ``llm_attribution`` and
    ``llm_gradient_attribution``: LLMAttributionResult).
    """
    cls = lookup(method)
    explainer = cls(model, **(init or {}))
    return explainer.attribute(inputs, **options)
