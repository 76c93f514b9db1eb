"""Entry point ``toydup``: registers, without ``override``, a device type, an op, a kernel, a
layer and an explainer that corefw-cpu and corefw-toy already registered. All are refused."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_ops(register):
    register("toy_softclip", decomposition=lambda x, limit: x)


@hookimpl
def register_backends(register):
    import numpy

    from corefw.backend import ArrayModuleBackend

    register(ArrayModuleBackend(numpy, device_type="cpu", name="dup-numpy"))


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
