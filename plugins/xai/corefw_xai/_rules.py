"""Backward rules attached to ops (not modules) through ``corefw.autograd.override_vjp``.

Because the rules belong to the ops ``relu``, ``max_pool2d``, ``maximum`` ..., they apply to
``nn.ReLU`` modules, functional ``x.relu()`` calls, modules reused several times and residual
additions alike. Forward and backward both run inside the scope (a composite op without its
own VJP is only recorded as one node while its override is active), and the scope is left --
rules removed -- also when an exception is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import corefw
from corefw import Tensor
from corefw.autograd import override_vjp
from corefw.ops import OPS, get_op

__all__ = ["deconvolution_rules", "deeplift_rules", "guided_rules", "rule_scope"]

#: elementwise nonlinearities DeepLift's rescale rule covers (those registered are used)
RESCALE_OPS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "gelu", "silu",
               "exp", "log1p", "expm1", "clamp", "erf")


def _is_data(t) -> bool:
    return isinstance(t, Tensor) and t.requires_grad


def _constant_other(ctx) -> int | None:
    """For a binary op with exactly one operand that carries gradient, its index."""
    a, b = ctx.inputs
    if _is_data(a) and not _is_data(b):
        return 0
    if _is_data(b) and not _is_data(a):
        return 1
    return None


@contextlib.contextmanager
def rule_scope(rules: dict[str, Callable]):
    """Override the VJPs of the ops in ``rules`` (those that exist) inside the block."""
    present = {k: v for k, v in rules.items() if k in OPS}
    with override_vjp(present):
        yield


# -- DeepLift (rescale) ----------------------------------------------------------------------
class Pairing:
    """The forward runs on ``cat([inputs, baselines])``: ``half`` rows of each."""

    def __init__(self, half: int = 0, eps: float = 1e-10) -> None:
        self.half = half
        self.eps = eps

    def split(self, t: Tensor):
        h = self.half
        if h <= 0 or t.ndim == 0 or t.shape[0] != 2 * h:
            return None
        return t[:h], t[h:]


def _rescale(orig: Callable, pair: Pairing, data_index: int = 0):
    def rule(ctx, g):
        base = orig(ctx, g)
        x, y = ctx.inputs[data_index], ctx.output
        xs, ys = pair.split(x), pair.split(y)
        if xs is None or ys is None or tuple(y.shape) != tuple(x.shape):
            return base
        dx, dy = xs[0] - xs[1], ys[0] - ys[1]
        ok = dx.abs() > pair.eps
        m = dy / corefw.where(ok, dx, 1.0)
        gi = pair.split(g)[0]
        new = corefw.where(ok, gi * m, pair.split(base[data_index])[0])
        out = list(base)
        out[data_index] = corefw.cat([new, new], 0)
        return tuple(out)
    return rule


def _rescale_binary(orig: Callable, pair: Pairing):
    """``maximum(x, c)`` / ``minimum(x, c)`` with a constant c: an activation of x."""
    def rule(ctx, g):
        i = _constant_other(ctx)
        if i is None:
            return orig(ctx, g)
        return _rescale(orig, pair, i)(ctx, g)
    return rule


def _maxpool_rule(orig: Callable, pair: Pairing):
    """Captum's DeepLift rule for max pooling: each window's output difference is placed at the
    input's argmax (``max(y, y') - y'``) and at the baseline's argmax (``y - max(y, y')``),
    then divided by the input difference there; sums to ``y - y'`` per window."""
    def rule(ctx, g):
        base = orig(ctx, g)
        xs, ys = pair.split(ctx.inputs[0]), pair.split(ctx.output)
        if xs is None or ys is None:
            return base
        gi = pair.split(g)[0]
        top = corefw.maximum(ys[0], ys[1])
        spread = orig(ctx, corefw.cat([gi * (top - ys[1]), gi * (ys[0] - top)], 0))[0]
        u = pair.split(spread)
        dx = xs[0] - xs[1]
        ok = dx.abs() > pair.eps
        new = corefw.where(ok, (u[0] + u[1]) / corefw.where(ok, dx, 1.0),
                           pair.split(base[0])[0])
        return (corefw.cat([new, new], 0),)
    return rule


def deeplift_rules(pair: Pairing) -> dict[str, Callable]:
    """DeepLift's rescale rule on every elementwise nonlinearity and on max pooling."""
    rules = {}
    for name in RESCALE_OPS:
        if name in OPS and get_op(name).vjp is not None:
            rules[name] = _rescale(get_op(name).vjp, pair)
    for name in ("maximum", "minimum"):
        rules[name] = _rescale_binary(get_op(name).vjp, pair)
    if "max_pool2d" in OPS:
        rules["max_pool2d"] = _maxpool_rule(get_op("max_pool2d").vjp, pair)
    return rules


# -- guided backprop and deconvolution ---------------------------------------------------------
def _relu_like(modify: Callable):
    """A rule for ``relu`` and for ``maximum(x, c)``: ``modify(g, x_positive_mask)``."""
    max_vjp = get_op("maximum").vjp

    def relu_rule(ctx, g):
        return (modify(g, ctx.output > 0),)

    def max_rule(ctx, g):
        i = _constant_other(ctx)
        if i is None:
            return max_vjp(ctx, g)
        out = [None, None]
        out[i] = modify(g, ctx.inputs[i] > ctx.inputs[1 - i])
        return tuple(out)

    return {"relu": relu_rule, "maximum": max_rule}


def guided_rules() -> dict[str, Callable]:
    """Guided backprop: through a ReLU only positive gradients at positive inputs pass."""
    return _relu_like(lambda g, pos: corefw.where(pos, g.clamp(min=0.0), 0.0))


def deconvolution_rules() -> dict[str, Callable]:
    """Deconvolution: through a ReLU the gradient's positive part passes, whatever the input."""
    return _relu_like(lambda g, pos: g.clamp(min=0.0))
