"""PyTorch's further in-place Tensor methods (``acos_``, ``eq_``, ``cumsum_`` ...): each is its
out-of-place op written back into the tensor (see :mod:`corefw.ops.inplace`: the same version
counting, graph rebase and leaf check), so each differentiates through the op it runs. The
in-place *view* methods (``unsqueeze_``, ``t_``, ``transpose_`` ...) change the tensor's shape
instead, and the random fills (``exponential_``, ``random_`` ...) draw from corefw's
generator."""

from __future__ import annotations

import math

from .. import _dtype
from .._graph.grad_mode import STATE, no_grad
from .._random import rand, randint, randn
from .._registry import FN
from .._tensor import Tensor
from ..errors import AutogradError
from .inplace import _inplace
from .registry import publish

#: in-place name -> the FN function it runs (the name without its underscore)
_SIMPLE = """absolute acos acosh addbmm addmm addmv addr arccos arccosh arcsin arcsinh arctan2
arctan arctanh asin asinh atan2 atan atanh baddbmm bitwise_and bitwise_not bitwise_or
bitwise_xor copysign cosh cumprod cumsum deg2rad digamma divide eq erf erfc erfinv exp2 expm1
fix float_power floor_divide fmod ge greater greater_equal gt heaviside hypot le less
less_equal lgamma log10 log1p log2 logical_and logical_not logical_or logical_xor logit lt
multiply nan_to_num ne negative not_equal rad2deg remainder renorm sgn sinc sinh subtract tan
true_divide xlogy clip gcd lcm ldexp bitwise_left_shift bitwise_right_shift i0 mvlgamma put
index_reduce""".split()

#: comparisons and logical ops keep the tensor's dtype (PyTorch writes 1/0 into it)
_KEEP_DTYPE = {"eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
               "less_equal", "not_equal", "logical_and", "logical_not", "logical_or",
               "logical_xor"}


def _make(name: str):
    def method(self, *args, **kwargs):
        fn = getattr(FN, name)
        if name in _KEEP_DTYPE:
            def run(x, *a, **k):
                return FN.cast(fn(x, *a, **k), x.dtype)
            return _inplace(self, f"{name}_", run, *args, **kwargs)
        return _inplace(self, f"{name}_", fn, *args, **kwargs)
    method.__name__ = f"{name}_"
    method.__qualname__ = f"{name}_"
    method.__doc__ = f"In-place :func:`corefw.{name}`."
    return method


_GENERATED = {f"{n}_": _make(n) for n in _SIMPLE}
globals().update(_GENERATED)


def polygamma_(self, n: int):
    """In-place :func:`corefw.polygamma` of order ``n`` (the method takes ``n`` only)."""
    return _inplace(self, "polygamma_", lambda x: FN.polygamma(n, x))


# -- in-place view methods: the tensor takes the view's shape ---------------------------------
def _reshape_inplace(x: Tensor, op: str, new: Tensor) -> Tensor:
    if x._req and STATE.enabled:
        raise AutogradError(f"{op}: a tensor that requires grad cannot change its shape in "
                            f"place while autograd records; use the out-of-place "
                            f"{op[:-1]}() instead")
    x._data = new._data
    return x


def unsqueeze_(input, dim: int):
    """Insert a size-1 dim in place."""
    return _reshape_inplace(input, "unsqueeze_", FN.unsqueeze(input, dim))


def squeeze_(input, dim=None):
    """Remove size-1 dims in place."""
    out = FN.squeeze(input) if dim is None else FN.squeeze(input, dim)
    return _reshape_inplace(input, "squeeze_", out)


def transpose_(input, dim0: int, dim1: int):
    """Swap two dims in place."""
    return _reshape_inplace(input, "transpose_", FN.transpose(input, dim0, dim1))


swapaxes_ = swapdims_ = transpose_


def t_(input):
    """Transpose a matrix in place."""
    return _reshape_inplace(input, "t_", FN.t(input))


def as_strided_(input, size, stride, storage_offset: int = 0):
    """:func:`corefw.as_strided` in place."""
    return _reshape_inplace(input, "as_strided_", FN.as_strided(input, size, stride,
                                                                storage_offset))


def resize_(input, *sizes):
    """Give the tensor shape ``sizes``: its first elements (row-major) are kept, new ones
    are zero (PyTorch leaves them uninitialised)."""
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
        else tuple(sizes)
    n = math.prod(shape)
    with no_grad():
        flat = FN.reshape(input, (-1,))
        if flat.shape[0] >= n:
            flat = flat[:n]
        else:
            flat = FN.cat([flat, FN.zeros(n - flat.shape[0], dtype=input.dtype,
                                           device=input.device)])
        new = FN.reshape(FN.clone(flat), shape)
    return _reshape_inplace(input, "resize_", new)


def resize_as_(input, other):
    """:meth:`resize_` to ``other``'s shape."""
    return resize_(input, tuple(other.shape))


# -- random fills -----------------------------------------------------------------------------
def _fill_random(x: Tensor, op: str, values: Tensor) -> Tensor:
    return _inplace(x, op, lambda t: FN.cast(values, t.dtype))


def _uniform01(x: Tensor, generator=None) -> Tensor:
    return rand(tuple(x.shape), dtype=_dtype.float64, device=x.device, generator=generator)


def exponential_(input, lambd: float = 1.0, *, generator=None):
    """Fill with draws of the exponential distribution of rate ``lambd``."""
    u = _uniform01(input, generator)
    return _fill_random(input, "exponential_", -FN.log1p(-u) / lambd)


def cauchy_(input, median: float = 0.0, sigma: float = 1.0, *, generator=None):
    """Fill with draws of the Cauchy distribution."""
    u = _uniform01(input, generator)
    return _fill_random(input, "cauchy_", median + sigma * FN.tan(math.pi * (u - 0.5)))


def log_normal_(input, mean: float = 1.0, std: float = 2.0, *, generator=None):
    """Fill with ``exp`` of normal draws of ``mean`` and ``std``."""
    z = randn(tuple(input.shape), dtype=_dtype.float64, device=input.device,
                 generator=generator)
    return _fill_random(input, "log_normal_", FN.exp(mean + std * z))


def geometric_(input, p: float, *, generator=None):
    """Fill with the number of Bernoulli(``p``) trials up to the first success (1, 2, ...)."""
    u = _uniform01(input, generator)
    return _fill_random(input, "geometric_", FN.ceil(FN.log1p(-u) / math.log1p(-p)))


#: PyTorch's default upper bound of random_() on floats: 2**mantissa bits + 1
_FLOAT_TOP = {"float16": 2**11 + 1, "float32": 2**24 + 1, "float64": 2**53 + 1}


def random_(input, from_: int = 0, to: int | None = None, *, generator=None):
    """Fill with integers drawn uniformly from ``[from_, to)``; ``random_(n)`` draws from
    ``[0, n)``, ``random_()`` from ``[0, top]`` (the dtype's largest integer, or for floats
    the largest integer of their mantissa, as in PyTorch)."""
    if to is None:
        if from_:
            from_, to = 0, from_
        elif input.dtype.is_floating_point:
            to = _FLOAT_TOP.get(input.dtype.name, 2**24 + 1)
        elif input.dtype == _dtype.bool_:
            to = 2
        else:
            to = int(_dtype.iinfo(input.dtype).max) + 1
    vals = randint(from_, to, tuple(input.shape), device=input.device, generator=generator)
    return _fill_random(input, "random_", vals)


# -- Python callbacks (PyTorch's CPU-only map_/apply_) ----------------------------------------
def apply_(input, callable):  # noqa: A002
    """Replace every element ``v`` by ``callable(v)`` (in Python, element by element)."""
    vals = [callable(v) for v in FN.reshape(input, (-1,)).tolist()]
    new = FN.reshape(FN.tensor(vals, dtype=input.dtype, device=input.device), input.shape)
    return _inplace(input, "apply_", lambda t: new)


def map_(input, tensor, callable):  # noqa: A002
    """``input[i] = callable(input[i], tensor[i])`` with ``tensor`` broadcast to input."""
    other = FN.reshape(FN.expand(tensor, input.shape), (-1,)).tolist()
    vals = [callable(a, b) for a, b in zip(FN.reshape(input, (-1,)).tolist(), other)]
    new = FN.reshape(FN.tensor(vals, dtype=input.dtype, device=input.device), input.shape)
    return _inplace(input, "map_", lambda t: new)


def map2_(input, x, y, callable):  # noqa: A002
    """``input[i] = callable(input[i], x[i], y[i])`` with ``x``, ``y`` broadcast."""
    xs = FN.reshape(FN.expand(x, input.shape), (-1,)).tolist()
    ys = FN.reshape(FN.expand(y, input.shape), (-1,)).tolist()
    vals = [callable(a, b, c) for a, b, c in zip(FN.reshape(input, (-1,)).tolist(), xs, ys)]
    new = FN.reshape(FN.tensor(vals, dtype=input.dtype, device=input.device), input.shape)
    return _inplace(input, "map2_", lambda t: new)


__all__ = sorted(list(_GENERATED) + [
    "apply_", "as_strided_", "cauchy_", "exponential_", "geometric_", "log_normal_", "map2_",
    "map_", "polygamma_", "random_", "resize_", "resize_as_", "squeeze_", "swapaxes_",
    "swapdims_", "t_", "transpose_", "unsqueeze_"])

publish(globals(), __all__, methods=" ".join(__all__))
