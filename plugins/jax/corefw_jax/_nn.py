"""Native kernels for convolution and pooling (and their gradients) on ``jax.lax``.

Without them the core runs these composites as their decompositions: dozens of small
primitives per call (pads, strided slices, stacks, matmuls, index_puts), each compiled by XLA
for its own shapes the first time it runs. Here each op is one ``jax.jit`` function whose
attributes (stride, padding ...) are static, so a new shape costs one compile, and the
gradients are the exact adjoints (``jax.vjp`` of the forward), as the decompositions are.

Attribute forms are the kernels' own (docs/kernels.md): conv ``padding`` is
``((top, bottom), (left, right))``, pooling ``padding`` is ``(h, w)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nn_kernels"]

_CONV = ("stride", "padding", "dilation", "groups")
_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
_AVG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
        "divisor_override")


def _conv_out(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def _pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length (a ceil_mode window must start inside the input or
    its left padding)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_geometry(hw, kernel_size, stride, padding, dilation, ceil_mode):
    """Output (Ho, Wo) and the ``(lo, hi)`` padding per spatial axis, ``hi`` including what a
    ceil_mode window needs past the end."""
    out, pads = [], []
    for n, k, s, p, d in zip(hw, kernel_size, stride, padding, dilation):
        o = _pool_out(n, k, s, p, d, ceil_mode)
        extra = max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
        out.append(o)
        pads.append((p, p + extra))
    return tuple(out), tuple(pads)


def _avg_divisor(hw, out_hw, kernel_size, stride, padding, count_include_pad,
                 divisor_override) -> np.ndarray:
    """Average pooling's (Ho, Wo) divisors, as PyTorch computes them (float64, host)."""
    if divisor_override:
        return np.full(out_hw, float(divisor_override))
    axes = []
    for n, o, k, s, p in zip(hw, out_hw, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        size = end - start
        if not count_include_pad:
            size = np.minimum(end, n) - np.maximum(start, 0)
        axes.append(size.astype(np.float64))
    return np.outer(axes[0], axes[1])


def nn_kernels(jax, jnp) -> dict:
    """The kernels, built over the imported ``jax`` and ``jax.numpy``."""
    from ._jit import EAGER_OPTIONS

    lax = jax.lax

    def jit(fn, **kw):
        return jax.jit(fn, compiler_options=EAGER_OPTIONS, **kw)

    def fit(a, hw):
        """Crop or zero-pad the last two axes of ``a`` to ``hw`` (a gradient whose output
        is shorter or longer than the convolution's full output)."""
        a = a[:, :, :hw[0], :hw[1]]
        extra = ((0, 0), (0, 0), (0, hw[0] - a.shape[2]), (0, hw[1] - a.shape[3]))
        return jnp.pad(a, extra) if any(e[1] for e in extra) else a

    def conv(x, w, stride, padding, dilation, groups):
        return lax.conv_general_dilated(
            x, w, window_strides=tuple(stride), padding=tuple(map(tuple, padding)),
            rhs_dilation=tuple(dilation), feature_group_count=groups,
            dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=lax.Precision.HIGHEST)

    def conv_hw(hw, khw, stride, padding, dilation):
        return tuple(_conv_out(n, k, s, lo, hi, d) for n, k, s, (lo, hi), d in
                     zip(hw, khw, stride, padding, dilation))

    @jit_static(jit, _CONV)
    def conv2d(x, w, b, stride, padding, dilation, groups):
        y = conv(x, w, stride, padding, dilation, groups)
        return y if b is None else y + b.reshape(1, -1, 1, 1)

    @jit_static(jit, ("input_size",) + _CONV)
    def conv2d_grad_input(g, w, input_size, stride, padding, dilation, groups):
        x0 = jnp.zeros((g.shape[0], w.shape[1] * groups) + tuple(input_size), g.dtype)
        full = conv_hw(input_size, w.shape[2:], stride, padding, dilation)
        _, vjp = jax.vjp(lambda x: conv(x, w, stride, padding, dilation, groups), x0)
        return vjp(fit(g, full))[0]

    @jit_static(jit, ("kernel_size",) + _CONV)
    def conv2d_grad_weight(x, g, kernel_size, stride, padding, dilation, groups):
        w0 = jnp.zeros((g.shape[1], x.shape[1] // groups) + tuple(kernel_size), g.dtype)
        full = conv_hw(x.shape[2:], kernel_size, stride, padding, dilation)
        _, vjp = jax.vjp(lambda w: conv(x, w, stride, padding, dilation, groups), w0)
        return vjp(fit(g, full))[0]

    def lowest(dtype):
        return -np.inf if jnp.issubdtype(dtype, jnp.floating) else np.iinfo(dtype).min

    @jit_static(jit, _POOL)
    def max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
        out_hw, pads = _pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation,
                                      ceil_mode)
        # a host (numpy) init value: jax then uses its differentiable monoid reducers
        y = lax.reduce_window(x, np.array(lowest(x.dtype), x.dtype), lax.max,
                              (1, 1) + tuple(kernel_size), (1, 1) + tuple(stride),
                              ((0, 0), (0, 0)) + pads, window_dilation=(1, 1) + tuple(dilation))
        return y[:, :, :out_hw[0], :out_hw[1]]

    def pool_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
        """Flat index (h * W + w) of each window's first maximum, as the decomposition."""
        out_hw, pads = _pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation,
                                      ceil_mode)
        xp = jnp.pad(x, ((0, 0), (0, 0)) + pads, constant_values=lowest(x.dtype))
        (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
        wins = [xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                   j * dw:j * dw + sw * (wo - 1) + 1:sw] for i in range(kh) for j in range(kw)]
        k = jnp.argmax(jnp.stack(wins, 2), axis=2)
        rows = (jnp.arange(ho) * sh - padding[0]).reshape(-1, 1)
        cols = (jnp.arange(wo) * sw - padding[1]).reshape(1, -1)
        return ((rows + (k // kw) * dh) * x.shape[3] + cols + (k % kw) * dw).astype(jnp.int64)

    max_pool2d_indices = jit_static(jit, _POOL)(pool_indices)

    @jit_static(jit, _POOL)
    def max_pool2d_grad_input(x, out, g, kernel_size, stride, padding, dilation, ceil_mode):
        n, c, h, w = x.shape
        idx = pool_indices(x, kernel_size, stride, padding, dilation, ceil_mode)
        cells = g.shape[2] * g.shape[3]
        acc = jnp.zeros((n, c, h * w), g.dtype)
        ni = jnp.arange(n).reshape(-1, 1, 1)
        ci = jnp.arange(c).reshape(1, -1, 1)
        acc = acc.at[ni, ci, idx.reshape(n, c, cells)].add(g.reshape(n, c, cells))
        return acc.reshape(n, c, h, w)

    def avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override):
        ones = (1, 1)
        out_hw, pads = _pool_geometry(x.shape[2:], kernel_size, stride, padding, ones,
                                      ceil_mode)
        total = lax.reduce_window(x, np.array(0, x.dtype), lax.add, ones + tuple(kernel_size),
                                  ones + tuple(stride), ((0, 0), (0, 0)) + pads)
        total = total[:, :, :out_hw[0], :out_hw[1]]
        div = _avg_divisor(x.shape[2:], out_hw, kernel_size, stride, padding,
                           count_include_pad, divisor_override)
        return total / jnp.asarray(div, x.dtype)

    avg_pool2d = jit_static(jit, _AVG)(avg_pool)

    @jit_static(jit, ("input_size",) + _AVG)
    def avg_pool2d_grad_input(g, input_size, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override):
        x0 = jnp.zeros(g.shape[:2] + tuple(input_size), g.dtype)
        _, vjp = jax.vjp(lambda x: avg_pool(x, kernel_size, stride, padding, ceil_mode,
                                            count_include_pad, divisor_override), x0)
        return vjp(g)[0]

    return {"conv2d": conv2d, "conv2d_grad_input": conv2d_grad_input,
            "conv2d_grad_weight": conv2d_grad_weight, "max_pool2d": max_pool2d,
            "max_pool2d_indices": max_pool2d_indices,
            "max_pool2d_grad_input": max_pool2d_grad_input, "avg_pool2d": avg_pool2d,
            "avg_pool2d_grad_input": avg_pool2d_grad_input}


def jit_static(jit, static: tuple[str, ...]):
    """``fn(*arrays, **attrs)`` as one ``jax.jit`` function per attribute values: the
    attributes (hashable Python values) are static, so a kernel compiles once per
    (shapes, dtypes, attributes) and is reused after that. Inside another trace
    (``corefw.compile``'s ``jax.jit``) the kernel is traced into the caller's graph."""
    from jax.core import Tracer

    def wrap(fn):
        compiled = jit(fn, static_argnames=static)

        def kernel(*arrays, **attrs):
            if any(isinstance(a, Tracer) for a in arrays):
                return fn(*arrays, **attrs)
            return compiled(*arrays, **attrs)

        kernel.__name__ = fn.__name__
        return kernel

    return wrap
