"""corefw-saliency: two gradient explainers for corefw models, registered as plugins.

``corefw.explainers()["gradient_x_input"](model).attribute(x, target=y)`` returns
attributions shaped like ``x``; so does ``"smoothgrad"``. They use only corefw's public
autograd API, so they work on every device.
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"
__version__ = "0.1.0"


@hookimpl
def register_explainers(register):
    from .explainers import GradientXInput, SmoothGrad

    register("gradient_x_input", GradientXInput)
    register("smoothgrad", SmoothGrad)
