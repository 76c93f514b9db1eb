"""Entry point ``toydup``: registers, without ``override``, an op, a kernel, a layer and an
explainer that corefw-cpu and corefw-toy already registered. All are refused (its claim on a
device type is tested with ``alt_cpu``)."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_ops(register):
    register("toy_softclip", decomposition=lambda x, limit: x)


@hookimpl
def register_kernels(register):
    register("cpu", {"toy_softclip": lambda x, limit: x})


@hookimpl
def register_layers(register):
    class ToyScale:
        pass

    register(ToyScale)


@hookimpl
def register_explainers(register):
    register("toy_saliency", lambda model: None)
