"""corefw-jax: the device type ``jax``, jax.numpy arrays on JAX's default (CPU) device.

Written from corefw's docs as a third party would: the plugin module imports nothing heavy;
the backend imports jax on first use (docs/plugins.md, "A lazy backend").
"""

from __future__ import annotations

from corefw.plugins import hookimpl, hookspecs

COREFW_PLUGIN_API = ">=1,<2"
__version__ = "0.1.0"


@hookimpl
def register_backends(register):
    from .backend import JaxBackend

    register(JaxBackend())


if hasattr(hookspecs, "register_compilers"):  # plugin API 1.1 (corefw.compile)
    @hookimpl
    def register_compilers(register):
        from .compiler import jax_jit  # imports jax only when a graph is compiled

        register("jax", jax_jit)
