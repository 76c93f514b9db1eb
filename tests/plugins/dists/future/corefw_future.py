"""A plugin written for plugin API 2: corefw 1.x must refuse it and register nothing of it."""

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=2,<3"


class FutureLayer:
    pass


@hookimpl
def register_layers(register):
    register(FutureLayer)
