"""The ``rms_norm`` op: ``y = x * rsqrt(mean(x^2, -1) + eps) * w`` over the last dim.

Its decomposition uses corefw ops only, so every backend runs it; the VJP is the closed form
(with ``r = rsqrt(mean(x^2) + eps)`` and ``gw = g * w``)::

    dx = r * (gw - x * r^2 * mean(gw * x))        dw = sum over leading dims of g * x * r
"""

from __future__ import annotations

import corefw
from corefw.plugins import call_op


def _rstd(x, eps):
    return corefw.rsqrt((x * x).mean(-1, keepdim=True) + eps)


def rms_norm_decomposition(x, weight, eps):
    return x * _rstd(x, eps) * weight


def rms_norm_vjp(ctx, g):
    x, weight = ctx.inputs
    r = _rstd(x, ctx.attrs["eps"])
    gw = g * weight
    dx = r * (gw - x * (r * r) * (gw * x).mean(-1, keepdim=True))
    dweight = (g * x * r).reshape(-1, x.shape[-1]).sum(0) if weight.requires_grad else None
    return dx, dweight


def rms_norm(x, weight, eps: float = 1e-6):
    """RMS normalisation of ``x`` over its last dim, scaled by ``weight`` (that dim's size)."""
    if weight.shape != (x.shape[-1],):
        raise ValueError(f"rms_norm: weight of shape {tuple(weight.shape)} does not match the "
                         f"last dim of an input of shape {tuple(x.shape)}; expected "
                         f"({x.shape[-1]},)")
    return call_op("rms_norm", x, weight, eps=float(eps))
