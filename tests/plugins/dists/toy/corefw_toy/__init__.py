"""corefw-toy: device type ``toydev`` (numpy through the backend toolkit), the op
``toy_softclip`` with its VJP and a cpu kernel, the layer ``ToyScale`` and the explainer
``toy_saliency``. The module imports only ``corefw.plugins``; the rest is imported in the hooks.
"""

from __future__ import annotations

from corefw.plugins import call_op, hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_ops(register):
    from .ops import softclip_decomposition, softclip_vjp

    register("toy_softclip", vjp=softclip_vjp, decomposition=softclip_decomposition,
             saves=("output",), doc="limit * tanh(x / limit)")


@hookimpl
def register_backends(register):
    import numpy

    from corefw.backend import ArrayModuleBackend

    register(ArrayModuleBackend(numpy, device_type="toydev", name="toy"))


@hookimpl
def register_kernels(register):
    from .ops import softclip_kernel

    register("cpu", {"toy_softclip": softclip_kernel})


@hookimpl
def register_layers(register):
    from .layers import ToyScale

    register(ToyScale)


@hookimpl
def register_explainers(register):
    from .explainers import ToySaliency

    register("toy_saliency", ToySaliency)


def softclip(x, limit: float = 1.0):
    """``limit * tanh(x / limit)``: the public function of the plugin's op."""
    return call_op("toy_softclip", x, limit=float(limit))
