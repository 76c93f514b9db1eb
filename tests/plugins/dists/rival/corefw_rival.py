"""Entry point ``rival``: registers, with ``override=True``, the layer ``ToyScale``, the op
``toy_softclip`` and the explainer ``toy_saliency`` that corefw-toy registers plainly. An
explicit override wins, whatever the loading order, and warns naming both owners."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


class ToyScale:
    origin = "corefw-rival"


@hookimpl
def register_ops(register):
    register("toy_softclip", decomposition=lambda x, limit: x * 0, override=True)


@hookimpl
def register_layers(register):
    register(ToyScale, override=True)


@hookimpl
def register_explainers(register):
    register("toy_saliency", lambda model: "rival", override=True)
