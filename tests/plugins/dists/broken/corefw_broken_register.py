"""A plugin whose second hook raises: nothing it registered may remain."""

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_ops(register):
    register("broken_op", decomposition=lambda x: x)


@hookimpl
def register_layers(register):
    raise ValueError("simulated failure in register_layers")
