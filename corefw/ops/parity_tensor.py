"""PyTorch's remaining Tensor attributes and ``torch.*`` utilities: device-kind properties
(``is_cpu``, ``is_xla`` ...: True only for the device the tensor is on), ``layout``, the
legacy ``new``/``resize``, random draws (``bernoulli``, ``normal``, ``poisson``,
``binomial``), creation spellings (``asarray``, ``scalar_tensor``, ``range``, ``frombuffer``
...), and process-wide switches that PyTorch programs set (``set_printoptions``,
``set_float32_matmul_precision``, ``set_warn_always`` ...), which corefw records and reports
back."""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype, _format
from .._random import rand, randn
from .._registry import FN
from .._tensor import Tensor
from .parity_shape import strided
from .registry import publish

__all__ = [
    "asarray", "bernoulli", "binomial", "can_cast", "detach", "empty_permuted", "empty_strided",
    "fill", "frombuffer", "get_deterministic_debug_mode", "get_float32_matmul_precision",
    "get_num_interop_threads", "hardshrink", "is_deterministic_algorithms_warn_only_enabled",
    "is_distributed", "is_vulkan_available", "is_warn_always_enabled", "normal", "poisson",
    "range", "scalar_tensor", "set_deterministic_debug_mode", "set_float32_matmul_precision",
    "set_flush_denormal", "set_num_interop_threads", "set_printoptions", "set_warn_always",
    "to_dlpack", "typename",
]


# -- Tensor properties ------------------------------------------------------------------------
def _on(kind: str):
    def prop(self) -> bool:
        return self.device.type == kind
    prop.__name__ = f"is_{kind}"
    prop.__doc__ = f"Whether the tensor is on a ``{kind}`` device."
    return prop


_DEVICE_KINDS = ("cpu", "ipu", "maia", "mps", "mtia", "vulkan", "xla", "xpu")
_PROPS = {f"is_{k}": _on(k) for k in _DEVICE_KINDS}
globals().update(_PROPS)


def layout(self):
    """The memory layout: always :data:`corefw.strided`."""
    return strided


def is_distributed(self=None) -> bool:
    """False: corefw tensors are never split across processes."""
    return False


def new(self, *args, dtype=None, device=None):
    """The legacy constructor ``x.new(2, 3)`` (uninitialised: zeros here) or ``x.new(data)``,
    in ``x``'s dtype and device."""
    dtype = dtype or self.dtype
    device = device or self.device
    if len(args) == 1 and not isinstance(args[0], int):
        return FN.tensor(args[0], dtype=dtype, device=device)
    return FN.zeros(*args, dtype=dtype, device=device)


def new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False):
    """A new tensor of ``size`` (zeros; corefw's arrays choose their own strides)."""
    return FN.zeros(tuple(size), dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)


def resize(self, *sizes):
    """:meth:`resize_` on a copy."""
    return FN.resize_(FN.clone(self.detach()), *sizes)


def resize_as(self, other):
    return resize(self, tuple(other.shape))


def as_subclass(self, cls):
    """The same data as an instance of the Tensor subclass ``cls`` (sharing storage)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"as_subclass: {cls!r} is not a subclass of corefw.Tensor")
    out = self.detach()
    out.__class__ = cls
    return out


def hardshrink(input, lambd: float = 0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return FN.where(FN.abs(input) > lambd, input, FN.zeros_like(input))


def _prelu(self, weight):
    """``x`` where ``x >= 0``, else ``weight * x`` (``weight`` per channel, dim 1)."""
    w = weight
    if w.numel() > 1 and self.ndim > 1:
        w = FN.reshape(w, (1, -1) + (1,) * (self.ndim - 2))
    return FN.where(self >= 0, self, w * self)


# -- random draws -----------------------------------------------------------------------------
def bernoulli(input, p=None, *, generator=None):
    """1 with probability ``input`` (or ``p``), else 0, elementwise; input's dtype."""
    prob = input if p is None else FN.full_like(input, p)
    u = rand(tuple(input.shape), dtype=_dtype.float64, device=input.device,
                generator=generator)
    return FN.cast(u < prob, input.dtype)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None):
    """Normal draws: tensor ``mean`` and/or ``std`` (broadcast), or floats with ``size``."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        shape = tuple(FN.broadcast_tensors(*[t for t in (mean, std)
                                             if isinstance(t, Tensor)])[0].shape)
        z = randn(shape, dtype=like.dtype, device=like.device, generator=generator)
        return mean + std * z
    if size is None:
        raise TypeError("normal: with float mean and std, pass size=")
    z = randn(tuple(size), dtype=dtype, device=device, generator=generator)
    return z * std + mean


def _host(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def _draws(like: Tensor, values: np.ndarray) -> Tensor:
    return FN.tensor(values.astype(like._data.dtype), device=like.device)


def _np_gen(generator):
    from .._random import _host_generator
    return (generator or _host_generator()).np


def poisson(input, generator=None):
    """Poisson draws with rates ``input``, elementwise (in ``input``'s dtype)."""
    rates = _host(input)
    if (rates < 0).any():
        raise ValueError("poisson: rates must be non-negative")
    return _draws(input, _np_gen(generator).poisson(rates))


def binomial(count, prob, generator=None):
    """Binomial draws of ``count`` trials with success probability ``prob``, elementwise."""
    n, p = np.broadcast_arrays(_host(count), _host(prob))
    return _draws(count, _np_gen(generator).binomial(n.astype(np.int64), p))


# -- creation spellings -----------------------------------------------------------------------
def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad: bool = False):
    """A tensor from ``obj`` (a tensor is returned as it is unless a dtype, device or copy
    asks for another)."""
    if isinstance(obj, Tensor):
        out = obj
        if dtype is not None or device is not None:
            out = out.to(device=device or out.device, dtype=dtype or out.dtype)
        if copy:
            out = FN.clone(out) if out is obj else out
        return out.requires_grad_(requires_grad) if requires_grad else out
    return FN.tensor(obj, dtype=dtype, device=device, requires_grad=requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad: bool = False):
    """A 0-d tensor (float by default, as in PyTorch)."""
    return FN.tensor(float(s) if dtype is None else s, dtype=dtype or
                     _dtype.get_default_dtype(), device=device, requires_grad=requires_grad)


def range(start=0, end=None, step=1, *, dtype=None, device=None,  # noqa: A001
          requires_grad: bool = False):
    """``[start, start + step, ..., end]`` including ``end`` (PyTorch's deprecated form of
    ``arange``; float by default)."""
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    out = FN.arange(n, dtype=dtype or _dtype.get_default_dtype(), device=device) * step + start
    return out.requires_grad_(requires_grad) if requires_grad else out


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad: bool = False):
    """A tensor of ``size`` (zeros; corefw's arrays choose their own strides)."""
    return FN.zeros(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, device=None,
                   requires_grad: bool = False):
    """A tensor of ``size`` (zeros; the physical layout is the backend's)."""
    return FN.zeros(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0,
               requires_grad: bool = False):
    """A 1-d tensor of the values in a Python buffer (bytes, bytearray, array ...)."""
    arr = np.frombuffer(buffer, dtype=_dtype.to_dtype(dtype).np, count=count, offset=offset)
    return FN.tensor(arr.copy(), dtype=dtype, requires_grad=requires_grad)


def to_dlpack(tensor):
    """A DLPack capsule of the tensor's host values (through NumPy)."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy()).__dlpack__()


def detach(input):
    return input.detach()


def fill(input, value):
    """A tensor like ``input`` filled with ``value`` (out of place)."""
    return FN.full_like(input, value.item() if isinstance(value, Tensor) else value)


def can_cast(from_, to) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` -> ``to`` in an in-place op (no
    float -> integer, no non-bool -> bool)."""
    a, b = _dtype.to_dtype(from_), _dtype.to_dtype(to)
    if a.is_floating_point and not b.is_floating_point:
        return False
    return not (a != _dtype.bool_ and b == _dtype.bool_)


def typename(obj) -> str:
    """``"torch.FloatTensor"`` and friends for tensors, else the type's name."""
    if isinstance(obj, Tensor):
        return obj.type()
    return type(obj).__module__ + "." + type(obj).__qualname__


# -- process-wide switches --------------------------------------------------------------------
_SWITCHES = {"matmul_precision": "highest", "warn_always": False, "debug_mode": 0,
             "interop_threads": 1}


def set_float32_matmul_precision(precision: str) -> None:
    """Record ``"highest"``, ``"high"`` or ``"medium"``. corefw's backends multiply float32
    in float32 whatever it says (there is no TF32 path to allow)."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or "
                         f"'medium', got {precision!r}")
    _SWITCHES["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _SWITCHES["matmul_precision"]


def set_warn_always(b: bool) -> None:
    """Record whether warnings that PyTorch issues once should be issued every time."""
    _SWITCHES["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    return _SWITCHES["warn_always"]


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode) -> None:
    """0/"default": off; 1/"warn" and 2/"error": deterministic algorithms only
    (:func:`corefw.use_deterministic_algorithms` with ``warn_only`` for 1)."""
    mode = _DEBUG_MODES.get(debug_mode, debug_mode) if isinstance(debug_mode, str) else \
        int(debug_mode)
    if mode not in (0, 1, 2):
        raise ValueError(f"set_deterministic_debug_mode: expected 0, 1, 2, 'default', 'warn' "
                         f"or 'error', got {debug_mode!r}")
    from ..dispatch import use_deterministic_algorithms

    use_deterministic_algorithms(mode != 0, warn_only=mode == 1)
    _SWITCHES["debug_mode"] = mode


def get_deterministic_debug_mode() -> int:
    return _SWITCHES["debug_mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _SWITCHES["debug_mode"] == 1


def set_num_interop_threads(n: int) -> None:
    """Record the inter-op thread count (corefw runs ops in the calling thread)."""
    if n < 1:
        raise ValueError(f"set_num_interop_threads: expected a positive count, got {n}")
    _SWITCHES["interop_threads"] = int(n)


def get_num_interop_threads() -> int:
    return _SWITCHES["interop_threads"]


def set_flush_denormal(mode: bool) -> bool:
    """False: flushing denormals is not supported (PyTorch's answer on such CPUs)."""
    return False


def is_vulkan_available() -> bool:
    return False


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """How tensors print: decimals, the element count above which a repr is summarised, the
    edge items then shown, the line width; ``profile`` is ``"default"``, ``"short"`` or
    ``"full"``; ``sci_mode`` True/False forces scientific notation on or off (None: chosen
    per tensor)."""
    presets = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
               "full": (4, 2 ** 62, 3, 80)}
    if profile is not None:
        (_format.PRECISION, _format.THRESHOLD, _format.EDGEITEMS,
         _format.LINEWIDTH) = presets[profile]
    for key, value in (("PRECISION", precision), ("THRESHOLD", threshold),
                       ("EDGEITEMS", edgeitems), ("LINEWIDTH", linewidth)):
        if value is not None:
            setattr(_format, key, int(min(value, 2 ** 62)))
    _format.SCI_MODE = sci_mode


def _multinomial(self, num_samples: int, replacement: bool = False, *, generator=None):
    """``Tensor.multinomial``: :func:`corefw.multinomial` of this tensor's weights."""
    from .._random import multinomial

    return multinomial(self, num_samples, replacement, generator=generator)


FN._multinomial_method = _multinomial
FN._prelu_method = _prelu
for _name, _fn in {**_PROPS, "layout": layout}.items():
    setattr(FN, _name, _fn)
publish(globals(), __all__ + ["as_subclass", "new", "new_empty_strided", "resize",
                              "resize_as"],
        methods="bernoulli hardshrink new new_empty_strided resize resize_as as_subclass "
                "is_distributed",
        aliases={"prelu": "_prelu_method", "ger": "outer",
                 "multinomial": "_multinomial_method", "mv": "mv",
                 "outer": "outer", "take_along_dim": "take_along_dim", "atanh": "atanh"},
        properties=" ".join(list(_PROPS) + ["layout"]))
