"""Entry point ``aab_kernel``: replaces corefw-cpu's ``relu`` kernel on purpose."""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


def relu(x):
    return x * (x > 0)


@hookimpl
def register_kernels(register):
    register("cpu", {"relu": relu}, override=True)
