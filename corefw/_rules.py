"""Shape/dtype rules: what an op returns, computed from operand shapes, dtypes and attributes.

A rule is ``rule(*operands, **attrs) -> Spec | tuple[Spec, ...]``. Operands are anything with
``shape`` and ``dtype`` (a backend's arrays, or :class:`Spec`) or Python scalars. A rule raises
:class:`~corefw.errors.ShapeError` or :class:`~corefw.errors.DTypeError` (without the op's name:
the caller prefixes it) when the operands do not fit. Rules are the abstract evaluation of JAX's
primitives and PyTorch's meta kernels: the ``meta`` device runs them instead of kernels, and a
kernel's exception is explained by them.

The helpers below cover the op families; an op with an unusual output writes its own rule.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .errors import DTypeError, ShapeError

__all__ = ["Spec", "broadcast_shapes", "result_dtype", "spec", "spec_of"]

_new = object.__new__


class Spec:
    """Shape and dtype without storage: the 'array' of the meta device."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __eq__(self, other) -> bool:
        return (isinstance(other, Spec) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"Spec({self.shape}, {self.dtype})"


def spec(shape, dtype) -> Spec:
    """A :class:`Spec` (fast path: no validation)."""
    s = _new(Spec)
    s.shape = shape if type(shape) is tuple else tuple(shape)
    s.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
    return s


def spec_of(x) -> Spec | None:
    """The :class:`Spec` of an array-like operand; None for Python scalars and None."""
    if x is None or isinstance(x, (bool, int, float)):
        return None
    return spec(tuple(x.shape), x.dtype)


# -- shapes -----------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy/PyTorch broadcasting of ``shapes``; ShapeError naming them when impossible."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        size = 1
        for s in shapes:
            if len(s) >= -i:
                d = s[i]
                if d != 1:
                    if size != 1 and d != size:
                        listed = " and ".join(str(tuple(s)) for s in shapes)
                        raise ShapeError(f"shapes {listed} cannot be broadcast together "
                                         f"(dimension {i}: {size} vs {d})")
                    size = d
        out.append(size)
    return tuple(out)


def _shapes(operands) -> list[tuple[int, ...]]:
    return [tuple(x.shape) for x in operands if hasattr(x, "shape")]


def result_dtype(operands) -> np.dtype:
    """The dtype of an elementwise kernel's result: the array operands' common dtype (the
    hot path promotes before calling kernels, so they normally agree; Python scalars never
    change it). Only scalars: float64 for a float among them, else int64 or bool."""
    dtypes = [x.dtype for x in operands if hasattr(x, "dtype")]
    if not dtypes:
        if any(isinstance(x, float) for x in operands):
            return np.dtype(np.float64)
        return np.dtype(np.bool_ if all(isinstance(x, bool) for x in operands) else np.int64)
    first = dtypes[0]
    for d in dtypes[1:]:
        if d != first:
            from ._dtype import FROM_NP, promote_types

            first = promote_types(FROM_NP[first], FROM_NP[d]).np
    return first


# -- families ---------------------------------------------------------------------------------
def same(x, **attrs) -> Spec:
    """Shape and dtype of the first operand (unary elementwise ops, clone)."""
    return spec(tuple(x.shape), x.dtype)


def floating(x, **attrs) -> Spec:
    """Unary ops defined on floating dtypes only (exp, log, sin ...): same shape and dtype."""
    if x.dtype.kind not in "fV":
        raise DTypeError(f"expected a floating-point operand, got {x.dtype} (cast with "
                         f".float() first)")
    return spec(tuple(x.shape), x.dtype)


def integral(x, **attrs) -> Spec:
    """Bitwise ops: bool or integer dtypes only."""
    if x.dtype.kind in "fV":
        raise DTypeError(f"expected a bool or integer operand, got {x.dtype}")
    return spec(tuple(x.shape), x.dtype)


def elementwise(*operands, **attrs) -> Spec:
    """Broadcast shapes, common dtype."""
    return spec(broadcast_shapes(*_shapes(operands)), result_dtype(operands))


def bitwise(*operands, **attrs) -> Spec:
    for x in operands:
        if hasattr(x, "dtype") and x.dtype.kind in "fV":
            raise DTypeError(f"expected bool or integer operands, got {x.dtype}")
        if isinstance(x, float):
            raise DTypeError(f"expected bool or integer operands, got the float {x!r}")
    return elementwise(*operands)


def compare(*operands, **attrs) -> Spec:
    """Broadcast shapes, bool result."""
    return spec(broadcast_shapes(*_shapes(operands)), np.bool_)


def where(cond, a, b) -> Spec:
    return spec(broadcast_shapes(*_shapes((cond, a, b))), result_dtype((a, b)))


def reduction(x, dim: tuple[int, ...] | None, keepdim: bool) -> Spec:
    """Reduce ``dim`` (normalised: a tuple, None for every dim); same dtype."""
    return spec(reduced_shape(x.shape, dim, keepdim), x.dtype)


def cumulative(x, dim: int) -> Spec:
    check_dim(dim, len(x.shape))
    return spec(tuple(x.shape), x.dtype)


def index_reduction(x, dim, keepdim: bool) -> Spec:
    """argmax / argmin: int64 indices; ``dim`` None reduces everything."""
    if math.prod(x.shape) == 0:
        raise ShapeError(f"cannot take the index of an extreme of an empty tensor of shape "
                         f"{tuple(x.shape)}")
    return spec(reduced_shape(x.shape, None if dim is None else (dim,), keepdim), np.int64)


def reduced_shape(shape, dims, keepdim: bool) -> tuple[int, ...]:
    nd = len(shape)
    dims = tuple(range(nd)) if dims is None else dims
    for d in dims:
        if not 0 <= d < max(nd, 1):
            raise ShapeError(f"dim {d} is out of range for a tensor of shape {tuple(shape)}")
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def check_dim(dim: int, ndim: int) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ShapeError(f"dim {dim} is out of range for {ndim} dimensions")
    return dim % max(ndim, 1)


def matmul(a, b) -> Spec:
    """NumPy matmul shapes (1-D operands promoted and their dims removed)."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if not sa or not sb:
        raise ShapeError(f"both arguments to matmul need at least 1 dimension, got shapes "
                         f"{sa} and {sb}")
    ma = (1,) + sa if len(sa) == 1 else sa
    mb = sb + (1,) if len(sb) == 1 else sb
    if ma[-1] != mb[-2]:
        left = "x".join(map(str, ma[-2:]))
        right = "x".join(map(str, mb[-2:]))
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({left} and {right}); "
                         f"shapes {sa} and {sb}")
    batch = broadcast_shapes(ma[:-2], mb[:-2])
    out = batch + (ma[-2], mb[-1])
    if len(sa) == 1:
        out = out[:-2] + out[-1:]
    if len(sb) == 1:
        out = out[:-1]
    return spec(out, result_dtype((a, b)))


# -- creation (operands are attributes) -------------------------------------------------------
def creation(shape, *values, dtype, **attrs) -> Spec:
    """full / uniform / normal / randint: ``shape`` and ``dtype`` given."""
    shape = tuple(shape)
    if any(s < 0 for s in shape):
        raise ShapeError(f"negative dimension in shape {shape}")
    return spec(shape, dtype)


def arange(start, end, step, dtype) -> Spec:
    if step == 0:
        raise ShapeError("arange: step must be non-zero")
    return spec((max(0, math.ceil((end - start) / step)),), dtype)


def randperm(n, dtype) -> Spec:
    return spec((n,), dtype)


# -- movement ---------------------------------------------------------------------------------
def reshape(x, shape) -> Spec:
    if math.prod(shape) != math.prod(x.shape):
        raise ShapeError(f"shape {tuple(shape)} is invalid for input of size "
                         f"{math.prod(x.shape)} (input shape {tuple(x.shape)})")
    return spec(tuple(shape), x.dtype)


def permute(x, dims) -> Spec:
    if sorted(dims) != list(range(len(x.shape))):
        raise ShapeError(f"dims {tuple(dims)} are not a permutation of the {len(x.shape)} "
                         f"dimensions of shape {tuple(x.shape)}")
    return spec(tuple(x.shape[d] for d in dims), x.dtype)


def expand(x, shape) -> Spec:
    shape = tuple(shape)
    src = tuple(x.shape)
    if len(shape) < len(src) or any(
            s != 1 and s != t for s, t in zip(src, shape[len(shape) - len(src):])):
        raise ShapeError(f"the expanded size {shape} must match the existing size {src} at "
                         f"every non-singleton dimension")
    return spec(shape, x.dtype)


def flip(x, dims) -> Spec:
    for d in dims:
        check_dim(d, len(x.shape))
    return spec(tuple(x.shape), x.dtype)


def pad(x, pad, value) -> Spec:
    if len(pad) != len(x.shape):
        raise ShapeError(f"pad needs one (before, after) pair per dimension of shape "
                         f"{tuple(x.shape)}, got {len(pad)}")
    shape = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, pad))
    if any(s < 0 for s in shape):
        raise ShapeError(f"padding {tuple(pad)} of shape {tuple(x.shape)} gives the negative "
                         f"size {shape}")
    return spec(shape, x.dtype)


def cat(*xs, dim) -> Spec:
    first = tuple(xs[0].shape)
    d = check_dim(dim, len(first))
    size = 0
    for x in xs:
        s = tuple(x.shape)
        if len(s) != len(first) or s[:d] + s[d + 1:] != first[:d] + first[d + 1:]:
            raise ShapeError(f"sizes of tensors must match except in dimension {d}: "
                             f"{first} and {s}")
        size += s[d]
    return spec(first[:d] + (size,) + first[d + 1:], result_dtype(xs))


def _dummy(shape, dtype=np.int8):
    """A zero-stride array of ``shape`` (no memory): NumPy computes indexing shapes on it."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape))


def _concrete_key(key):
    out = []
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, Spec):
            if k.dtype.kind == "b":
                raise ShapeError("indexing with a boolean mask gives a shape that depends on "
                                 "the mask's values, which meta tensors do not have")
            k = _dummy(k.shape, k.dtype)
        elif hasattr(k, "shape") and not isinstance(k, np.ndarray):
            k = _dummy(tuple(k.shape), np.dtype(k.dtype))  # another backend's index array
        out.append(k)
    return tuple(out)


def index(x, key) -> Spec:
    """Basic and advanced indexing (``slice`` and ``index``): NumPy's shapes and errors."""
    try:
        shape = _dummy(tuple(x.shape))[_concrete_key(key)].shape
    except IndexError as exc:
        from .errors import CorefwIndexError

        raise CorefwIndexError(f"{exc} (tensor of shape {tuple(x.shape)})") from None
    return spec(shape, x.dtype)


def index_put(x, values, key, accumulate) -> Spec:
    target = index(x, key).shape
    if hasattr(values, "shape"):
        broadcast_shapes(tuple(values.shape), target)
    return spec(tuple(x.shape), x.dtype)


def copy_(dst, src) -> Spec:
    broadcast_shapes(tuple(src.shape), tuple(dst.shape))
    return spec(tuple(dst.shape), dst.dtype)


def gather(x, index, dim) -> Spec:
    if len(index.shape) != len(x.shape):
        raise ShapeError(f"index {tuple(index.shape)} and input {tuple(x.shape)} must have "
                         f"the same number of dimensions")
    if index.dtype.kind not in "iu":
        raise DTypeError(f"expected an integer index, got {index.dtype}")
    check_dim(dim, len(x.shape))
    return spec(tuple(index.shape), x.dtype)


def scatter_add(x, index, src, dim) -> Spec:
    gather(x, index, dim)
    return spec(tuple(x.shape), x.dtype)


def nonzero(x) -> Spec:
    if isinstance(x, Spec):
        raise ShapeError("the number of non-zero elements depends on the values, which meta "
                         "tensors do not have")
    return spec((int(np.count_nonzero(x)), len(x.shape)), np.int64)


# -- layer composites -------------------------------------------------------------------------
def linear(x, weight, bias=None) -> Spec:
    """``x (*, in) @ weight (out, in).T + bias (out,)``."""
    if len(weight.shape) != 2 or not x.shape or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied (input {tuple(x.shape)}, "
                         f"weight {tuple(weight.shape)}: expected weight (out, "
                         f"{x.shape[-1] if x.shape else '?'}))")
    out = tuple(x.shape[:-1]) + (weight.shape[0],)
    if bias is not None:
        broadcast_shapes(tuple(bias.shape), out)
    return spec(out, result_dtype((x, weight)))


def along_dim(x, dim, **attrs) -> Spec:
    """softmax / log_softmax: a floating operand, a valid ``dim``, same shape."""
    check_dim(dim, len(x.shape))
    return floating(x)
