"""Parameter initialisation, with PyTorch's names, defaults and formulas.

Every function fills its tensor in place under :func:`corefw.no_grad` and returns it, so
``init.kaiming_uniform_(self.weight, a=math.sqrt(5))`` works on a :class:`~corefw.nn.Parameter`
without recording a graph. Random functions take ``generator=`` (a :class:`corefw.Generator`) like
PyTorch; without one they draw from the default stream, so ``corefw.manual_seed`` makes them
reproducible. Samples are drawn with corefw's own random ops on the tensor's device.

Fans follow PyTorch: for a weight of shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)``
and ``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math
import warnings

import corefw

__all__ = [
    "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "orthogonal_", "trunc_normal_", "uniform_", "xavier_normal_",
    "xavier_uniform_", "zeros_",
]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    ``linear``/``conv*``/``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + negative_slope**2)) with ``param`` the slope (default 0.01);
    ``selu``: 3/4.
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of linear, conv1d, "
        "conv2d, conv3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, selu")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)``."""
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(got shape {tuple(tensor.shape)}); init a bias with uniform_/zeros_ instead")
    receptive_field = 1
    for s in tensor.shape[2:]:
        receptive_field *= s
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, value):
    """Copy ``value`` (a tensor of the same shape) into ``tensor`` without recording a graph."""
    with corefw.no_grad():
        tensor.copy_(value)
    return tensor


def _draw(kind: str, tensor, generator, dtype=None):
    """Standard uniform [0, 1) or normal samples shaped like ``tensor``, on its device."""
    fn = corefw.rand if kind == "uniform" else corefw.randn
    dtype = dtype if dtype is not None else tensor.dtype
    return fn(*tensor.shape, dtype=dtype, device=tensor.device, generator=generator)


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with samples from U(a, b)."""
    with corefw.no_grad():
        return _fill(tensor, _draw("uniform", tensor, generator) * (b - a) + a)


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with samples from N(mean, std**2)."""
    with corefw.no_grad():
        return _fill(tensor, _draw("normal", tensor, generator) * std + mean)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _erfinv(y):
    """Inverse error function of a tensor in (-1, 1), built from log/sqrt/where.

    M. Giles' approximation ("Approximating the erfinv function", GPU Gems 4) followed by two
    Newton steps on erf, accurate to float64 rounding on the open interval.
    """
    w = -corefw.log((1.0 - y) * (1.0 + y))
    wc = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * wc
    wt = corefw.sqrt(corefw.maximum(w, corefw.full_like(w, 5.0))) - 3.0
    p2 = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * wt
    x = corefw.where(w < 5.0, p1, p2) * y
    two_over_sqrt_pi = 2.0 / math.sqrt(math.pi)
    for _ in range(2):  # Newton on erf(x) = y
        x = x - (corefw.erf(x) - y) / (two_over_sqrt_pi * corefw.exp(-x * x))
    return x


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None):
    """Fill with N(mean, std**2) truncated to [a, b] (``a``, ``b`` are absolute values).

    PyTorch's method: draw U(2 cdf(alpha) - 1, 2 cdf(beta) - 1), map through erfinv, scale,
    shift, clamp. Sampling runs in float64 so narrow tail intervals stay accurate.
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    with corefw.no_grad():
        lo = 2 * _norm_cdf((a - mean) / std) - 1
        hi = 2 * _norm_cdf((b - mean) / std) - 1
        u = _draw("uniform", tensor, generator, dtype=corefw.float64) * (hi - lo) + lo
        tiny = 1e-16  # keep erfinv's argument strictly inside (-1, 1)
        u = corefw.clamp(u, -1 + tiny, 1 - tiny)
        x = _erfinv(u) * (std * math.sqrt(2.0)) + mean
        return _fill(tensor, corefw.clamp(x, a, b).to(tensor.dtype))


def constant_(tensor, val: float):
    """Fill with ``val``."""
    with corefw.no_grad():
        tensor.fill_(val)
    return tensor


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill with 0."""
    with corefw.no_grad():
        tensor.zero_()
    return tensor


def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the diagonal, zeros elsewhere)."""
    if tensor.dim() != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(tensor.shape)}")
    n, m = tensor.shape
    return _fill(tensor, corefw.eye(n, m, dtype=tensor.dtype, device=tensor.device))


def dirac_(tensor, groups: int = 1):
    """Fill a 3/4/5-D conv weight with the Dirac delta: a conv that passes its input through.

    With ``groups > 1`` each group of output channels is an identity on its input channels.
    """
    dims = tensor.dim()
    if dims not in (3, 4, 5):
        raise ValueError("dirac_: only 3, 4 and 5-D tensors are supported, got shape "
                         f"{tuple(tensor.shape)}")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({sizes[0]}) must be divisible by groups ({groups})")
    out_per_group = sizes[0] // groups
    min_dim = min(out_per_group, sizes[1])
    centre = tuple(s // 2 for s in sizes[2:])
    with corefw.no_grad():
        tensor.zero_()
        for g in range(groups):
            for d in range(min_dim):
                tensor[(g * out_per_group + d, d, *centre)] = 1
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator=generator)


def _kaiming_std(tensor, a, mode, nonlinearity) -> float | None:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None):
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``; ``gain`` from ``nonlinearity``
    (and the negative slope ``a`` for leaky_relu), ``fan`` chosen by ``mode``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None):
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator=generator)


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix (Saxe et al. 2013), scaled by ``gain``.

    The tensor is viewed as ``(shape[0], prod(shape[1:]))``; a normal matrix is drawn on the
    tensor's device, its QR factorisation taken in float64 on the host (NumPy), and the sign of
    R's diagonal folded into Q so the result is Haar-distributed.
    """
    if tensor.dim() < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    import numpy as np

    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    with corefw.no_grad():
        flat = corefw.randn(rows, cols, dtype=corefw.float64, device=tensor.device,
                            generator=generator)
        host = np.array(flat.cpu().numpy(), dtype=np.float64)
        if rows < cols:
            host = host.T
        q, r = np.linalg.qr(host)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        q = corefw.tensor(np.ascontiguousarray(q * gain).reshape(tensor.shape))
        return _fill(tensor, q.to(tensor.device).to(tensor.dtype))
