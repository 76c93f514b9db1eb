"""The op ``toy_softclip(x, limit) = limit * tanh(x / limit)``: decomposition, VJP, kernel."""

from __future__ import annotations

import numpy as np

import corefw


def softclip_decomposition(x, limit):
    return limit * corefw.tanh(x / limit)


def softclip_vjp(ctx, g):
    y = ctx.output
    limit = ctx.attrs["limit"]
    return (g * (1 - (y / limit) * (y / limit)),)


def softclip_kernel(x, limit):
    return np.asarray(limit * np.tanh(x / limit), dtype=x.dtype)
