"""Convolutions with PyTorch's signatures: conv1d, conv2d, conv_transpose1d, conv_transpose2d.

All of them run on the ``conv2d`` / ``conv2d_grad_input`` ops of :mod:`corefw.ops.nn_conv`
(1-D convolutions are 2-D ones over a height of 1). Inputs are ``(N, C, *spatial)`` or unbatched
``(C, *spatial)``.
"""

from __future__ import annotations

from ..._call import apply
from ..._tensor import Tensor
from ...errors import DTypeError, ShapeError
from ...ops.nn_conv import CONV2D, CONV2D_GRAD_INPUT, conv_output_size

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]


def conv_tuple(v, n: int, name: str, fn: str) -> tuple[int, ...]:
    """``v`` (an int or n ints) as n ints; stride and dilation must be positive (shared by the
    functional forms and the layers)."""
    if isinstance(v, int):
        t = (v,) * n
    else:
        t = tuple(int(e) for e in v)
        if len(t) == 1:
            t = t * n
        if len(t) != n:
            raise ShapeError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    if name in ("stride", "dilation") and any(e < 1 for e in t):
        raise ShapeError(f"{fn}: non-positive {name} {t} is not supported; {name} must be at "
                         f"least 1")
    return t


def _fmt(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _check(fn, input, weight, bias, groups, nd, transposed=False):
    """Validate ranks, dtypes and channel counts; raise with PyTorch-like messages."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{fn}: input and weight must be corefw tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{fn}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {_fmt(input.shape)}")
    if weight.ndim != nd + 2:
        raise ShapeError(f"{fn}: expected a {nd + 2}-D weight, got shape {_fmt(weight.shape)}")
    if input.dtype is not weight.dtype or not input.dtype.is_floating_point:
        raise DTypeError(f"{fn}: input ({input.dtype}) and weight ({weight.dtype}) must have "
                         f"the same floating point dtype; cast one with .to(dtype)")
    if groups < 1:
        raise ShapeError(f"{fn}: groups must be a positive integer, got {groups}")
    c = input.shape[-nd - 1]
    if transposed:
        expected, out = weight.shape[0], weight.shape[1] * groups
        if expected % groups:
            raise ShapeError(f"{fn}: weight of size {_fmt(weight.shape)} has "
                             f"{expected} input channels, not divisible by groups={groups}")
    else:
        expected, out = weight.shape[1] * groups, weight.shape[0]
        if out % groups:
            raise ShapeError(f"{fn}: weight of size {_fmt(weight.shape)} has {out} output "
                             f"channels, not divisible by groups={groups}")
    if c != expected:
        raise ShapeError(f"{fn}: given groups={groups}, weight of size {_fmt(weight.shape)}, "
                         f"expected input{_fmt(input.shape)} to have {expected} channels, but "
                         f"got {c} channels instead")
    if bias is not None and tuple(bias.shape) != (out,):
        raise ShapeError(f"{fn}: expected bias of shape [{out}], got {_fmt(bias.shape)}")
    if bias is not None and bias.dtype is not input.dtype:
        raise DTypeError(f"{fn}: bias dtype {bias.dtype} differs from input dtype "
                         f"{input.dtype}")


def _padding(padding, kernel, dilation, stride, fn):
    """((lo, hi) per spatial dim) from an int, a tuple, 'valid' or 'same'."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ShapeError(f"{fn}: padding must be 'valid', 'same', an int or a tuple of "
                             f"ints, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ShapeError(f"{fn}: padding='same' is not supported for strided "
                             f"convolutions (stride={stride}); pad explicitly instead")
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    p = conv_tuple(padding, n, "padding", fn)
    if any(v < 0 for v in p):
        raise ShapeError(f"{fn}: negative padding {p} is not supported; pad with 0 or more")
    return tuple((v, v) for v in p)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    ``input`` (N, C, H, W) or (C, H, W); ``weight`` (O, C / groups, kh, kw); ``bias`` (O,).
    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1; an odd total is padded
    one more at the bottom/right, as PyTorch). Returns (N, O, Ho, Wo) with
    ``Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1``.
    """
    _check("conv2d", input, weight, bias, groups, 2)
    stride = conv_tuple(stride, 2, "stride", "conv2d")
    dilation = conv_tuple(dilation, 2, "dilation", "conv2d")
    pads = _padding(padding, weight.shape[2:], dilation, stride, "conv2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    out_hw = tuple(conv_output_size(n, k, s, lo, hi, d) for n, k, s, (lo, hi), d in
                   zip(x.shape[2:], weight.shape[2:], stride, pads, dilation))
    if min(out_hw) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ShapeError(f"conv2d: input of shape {_fmt(input.shape)} with kernel "
                         f"{tuple(weight.shape[2:])}, stride {stride}, padding {pads}, dilation "
                         f"{dilation} gives an output of size {out_hw}; the (padded) input "
                         f"must be at least as large as the dilated kernel")
    y = apply(CONV2D, (x, weight, bias), {"stride": stride, "padding": pads,
                                         "dilation": dilation, "groups": int(groups)})
    return y.squeeze(0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """1-D cross-correlation: ``input`` (N, C, L) or (C, L), ``weight`` (O, C / groups, k)."""
    _check("conv1d", input, weight, bias, groups, 1)
    stride = conv_tuple(stride, 1, "stride", "conv1d")
    dilation = conv_tuple(dilation, 1, "dilation", "conv1d")
    if not isinstance(padding, str):
        padding = conv_tuple(padding, 1, "padding", "conv1d")
        padding = (0, padding[0])
    y = conv2d(input.unsqueeze(-2), weight.unsqueeze(2), bias, (1,) + stride, padding,
               (1,) + dilation, groups)
    return y.squeeze(-2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """2-D transposed convolution (the gradient of conv2d w.r.t. its input).

    ``weight`` is (C_in, C_out / groups, kh, kw); the output size is
    ``(H - 1) * sh - 2 * ph + dh * (kh - 1) + output_padding + 1``, ``output_padding`` being
    added at the bottom/right and smaller than the stride or the dilation.
    """
    fn = "conv_transpose2d"
    _check(fn, input, weight, bias, groups, 2, transposed=True)
    stride = conv_tuple(stride, 2, "stride", fn)
    dilation = conv_tuple(dilation, 2, "dilation", fn)
    pad = conv_tuple(padding, 2, "padding", fn)
    out_pad = conv_tuple(output_padding, 2, "output_padding", fn)
    for op, s, d in zip(out_pad, stride, dilation):
        if not 0 <= op < max(s, d):
            raise ShapeError(f"{fn}: output_padding {out_pad} must be smaller than either "
                             f"stride {stride} or dilation {dilation}")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                 zip(x.shape[2:], stride, pad, dilation, weight.shape[2:], out_pad))
    if min(size) < 1:
        raise ShapeError(f"{fn}: input of shape {_fmt(input.shape)} gives an output of size "
                         f"{size}; reduce the padding")
    y = apply(CONV2D_GRAD_INPUT, (x, weight), {
        "input_size": size, "stride": stride, "padding": tuple((p, p) for p in pad),
        "dilation": dilation, "groups": int(groups)})
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1):
    """1-D transposed convolution: ``weight`` (C_in, C_out / groups, k)."""
    fn = "conv_transpose1d"
    _check(fn, input, weight, bias, groups, 1, transposed=True)
    one = lambda v, name: (0 if name in ("padding", "output_padding") else 1,  # noqa: E731
                           conv_tuple(v, 1, name, fn)[0])
    y = conv_transpose2d(input.unsqueeze(-2), weight.unsqueeze(2), bias, one(stride, "stride"),
                         one(padding, "padding"), one(output_padding, "output_padding"), groups,
                         one(dilation, "dilation"))
    return y.squeeze(-2)
