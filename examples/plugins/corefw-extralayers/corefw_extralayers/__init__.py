"""corefw-extralayers: a third-party layer library for corefw.

It adds one op, ``rms_norm`` (with a decomposition, so it runs on every backend, and its own
VJP), and two layers, :class:`FusedRMSNorm` and :class:`SwiGLU`, registered in corefw's layer
catalogue (``corefw.layers()``). Import the layers as usual::

    from corefw_extralayers import FusedRMSNorm, SwiGLU
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"
__version__ = "0.1.0"
__all__ = ["FusedRMSNorm", "SwiGLU", "rms_norm"]


@hookimpl
def register_ops(register):
    from .ops import rms_norm_decomposition, rms_norm_vjp

    register("rms_norm", vjp=rms_norm_vjp, decomposition=rms_norm_decomposition,
             doc="x / sqrt(mean(x^2, last dim) + eps) * weight")


@hookimpl
def register_layers(register):
    from .layers import FusedRMSNorm, SwiGLU

    register(FusedRMSNorm)
    register(SwiGLU)


def __getattr__(name):
    if name in ("FusedRMSNorm", "SwiGLU"):
        from . import layers

        return getattr(layers, name)
    if name == "rms_norm":
        from .ops import rms_norm

        return rms_norm
    raise AttributeError(f"module 'corefw_extralayers' has no attribute {name!r}")
