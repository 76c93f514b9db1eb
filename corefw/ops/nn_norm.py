"""Normalisation ops: batch_norm (batch statistics), layer_norm, group_norm.

Each is a composite ``op(x, weight, bias)`` (weight and bias may be None) with a decomposition
into reductions and arithmetic and its own VJP written with corefw ops, so it runs on every
backend and supports double backward. All three normalise ``x`` to zero mean and unit biased
variance over some dims, then apply a per-channel (or per-element) affine map:

* ``batch_norm(x, w, b; eps)``: over every dim except dim 1 (the channels); w, b have shape (C,).
  Eval mode (running statistics) is plain arithmetic in :func:`corefw.nn.functional.batch_norm`.
* ``layer_norm(x, w, b; ndim, eps)``: over the last ``ndim`` dims; w, b have those dims' shape.
* ``group_norm(x, w, b; num_groups, eps)``: over (C/G, *spatial) within each of G channel
  groups; w, b have shape (C,).
"""

from __future__ import annotations

from .registry import declare

__all__: list[str] = []


def _layout(x, kind, attrs):
    """(x viewed for the statistics, reduce dims, shape the affine params broadcast to)."""
    from .shape import reshape

    nd = x.ndim
    if kind == "batch_norm":
        return x, (0,) + tuple(range(2, nd)), (1, x.shape[1]) + (1,) * (nd - 2)
    if kind == "layer_norm":
        k = attrs["ndim"]
        return x, tuple(range(nd - k, nd)), tuple(x.shape[nd - k:])
    groups = attrs["num_groups"]
    return reshape(x, (x.shape[0], groups, -1)), (2,), (1, x.shape[1]) + (1,) * (nd - 2)


def _normalized(x, kind, attrs):
    """(xhat with x's shape, xhat in the statistics view, invstd, view, dims, affine shape)."""
    from .elementwise import rsqrt
    from .reduction import mean
    from .shape import reshape

    xv, dims, pshape = _layout(x, kind, attrs)
    centered = xv - mean(xv, dims, keepdim=True)
    invstd = rsqrt(mean(centered * centered, dims, keepdim=True) + attrs["eps"])
    xhat_v = centered * invstd
    return reshape(xhat_v, x.shape), xhat_v, invstd, xv, dims, pshape


def _decomp(kind):
    def decomposition(x, weight, bias, **attrs):
        from .shape import reshape

        xhat, _, _, _, _, pshape = _normalized(x, kind, attrs)
        out = xhat if weight is None else xhat * reshape(weight, pshape)
        return out if bias is None else out + reshape(bias, pshape)

    decomposition.__name__ = f"_{kind}_decomp"
    return decomposition


def _vjp(kind):
    def vjp(ctx, g):
        from .reduction import mean, sum_to
        from .shape import reshape

        x, weight, bias = ctx.inputs
        xhat, xhat_v, invstd, xv, dims, pshape = _normalized(x, kind, ctx.attrs)
        gx = gw = gb = None
        if x._req:
            gxhat = g if weight is None else g * reshape(weight, pshape)
            gv = reshape(gxhat, xv.shape)
            gx = invstd * (gv - mean(gv, dims, keepdim=True)
                           - xhat_v * mean(gv * xhat_v, dims, keepdim=True))
            gx = reshape(gx, x.shape)
        if weight is not None and weight._req:
            gw = reshape(sum_to(g * xhat, pshape), weight.shape)
        if bias is not None and bias._req:
            gb = reshape(sum_to(g, pshape), bias.shape)
        return gx, gw, gb

    vjp.__name__ = f"_{kind}_vjp"
    return vjp


BATCH_NORM = declare("batch_norm", decomposition=_decomp("batch_norm"),
                         vjp=_vjp("batch_norm"),
                         doc="batch normalisation with batch statistics (training mode)")
LAYER_NORM = declare("layer_norm", decomposition=_decomp("layer_norm"),
                         vjp=_vjp("layer_norm"), doc="layer normalisation over the last dims")
GROUP_NORM = declare("group_norm", decomposition=_decomp("group_norm"),
                         vjp=_vjp("group_norm"), doc="group normalisation over channel groups")
