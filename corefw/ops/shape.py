"""Movement ops. reshape/permute/expand/slice are views on backends that declare "views":
the result shares storage and the version counter with its base, as in PyTorch."""

from __future__ import annotations

import math

from .. import _rules as R
from .._call import apply
from .._registry import FN
from ..errors import CorefwIndexError, ShapeError
from ._dims import normalize_dims
from ._split_views import split_views
from ._views import is_contiguous, track
from .registry import declare, publish

__all__ = ["broadcast_to", "cat", "chunk", "concat", "concatenate", "expand", "flatten", "flip",
           "movedim", "pad", "permute", "reshape", "roll", "split", "squeeze", "stack",
           "swapaxes", "transpose", "tril", "triu", "unflatten", "unsqueeze", "view"]


def _view(op, x, attrs):
    return track(apply(op, (x,), attrs), x, op.name, attrs)


def _invperm(dims):
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return tuple(inv)


_RESHAPE = declare("reshape", rule=R.reshape, vjp=lambda ctx, g: (
    reshape(g, ctx.inputs[0].shape),), saves=(), view=True, primitive=True)
_PERMUTE = declare("permute", rule=R.permute, vjp=lambda ctx, g: (
    permute(g, _invperm(ctx.attrs["dims"])),), saves=(), view=True, primitive=True)
_EXPAND = declare("expand", rule=R.expand, vjp=lambda ctx, g: (
    FN.sum_to(g, ctx.inputs[0].shape),), saves=(), view=True, primitive=True)
_FLIP = declare("flip", rule=R.flip, vjp=lambda ctx, g: (flip(g, ctx.attrs["dims"]),), saves=(),
                primitive=True)


def _pad_vjp(ctx, g):
    basic_slice = FN.basic_slice

    key = tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(ctx.attrs["pad"]))
    return (basic_slice(g, key),)


_PAD = declare("pad", rule=R.pad, vjp=_pad_vjp, saves=(), primitive=True)


def _cat_vjp(ctx, g):
    basic_slice = FN.basic_slice

    d = ctx.attrs["dim"]
    out, start = [], 0
    for x in ctx.inputs:
        n = x.shape[d]
        key = (slice(None),) * d + (slice(start, start + n),)
        out.append(basic_slice(g, key))
        start += n
    return tuple(out)


_CAT = declare("cat", rule=R.cat, vjp=_cat_vjp, saves=(), primitive=True)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if type(s) is not int:
            return tuple(int(s) for s in shape)
    return shape


def reshape(input, *shape):
    """The same elements in a new shape (one dim may be -1); a view where possible."""
    shape = _shape_arg(shape)
    if shape == input._data.shape and not input._req:
        return _view(_RESHAPE, input, {"shape": shape})
    n = math.prod(input._data.shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {shape}")
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if rest == 0 or n % rest:
            raise ShapeError(f"reshape: shape {shape} is invalid for input of size {n}")
        shape = tuple(n // rest if s == -1 else s for s in shape)
    if math.prod(shape) != n:
        raise ShapeError(f"reshape: shape {shape} is invalid for input of size {n} "
                         f"(input shape {input.shape})")
    out = apply(_RESHAPE, (input,), {"shape": shape})
    if "views" in input._dev.backend.capabilities:
        src = input._data
        root = getattr(src, "base", None)
        if getattr(out._data, "base", root) is not (src if root is None else root):
            return out  # the backend had to copy (a non-contiguous input): not a view
    elif not is_contiguous(input):
        return out  # a view there would not be one on a backend with views
    return track(out, input, "reshape", {"shape": shape})


# ``view`` is ``reshape``: on a non-contiguous tensor it copies where PyTorch raises.
view = reshape


def permute(input, *dims):
    dims = _shape_arg(dims)
    nd = input._data.ndim
    if len(dims) != nd or sorted(d % max(nd, 1) for d in dims) != list(range(nd)):
        raise ShapeError(f"permute: dims {dims} are not a permutation of the {nd} dimensions "
                         f"of a tensor of shape {input.shape}")
    dims = tuple(d % nd for d in dims)
    return _view(_PERMUTE, input, {"dims": dims})


def transpose(input, dim0: int, dim1: int):
    nd = input._data.ndim
    if nd < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    (d0,), (d1,) = normalize_dims(dim0, nd, "transpose"), normalize_dims(dim1, nd, "transpose")
    dims = list(range(nd))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(input, dims)


swapaxes = transpose


def movedim(input, source: int, destination: int):
    nd = input._data.ndim
    if nd == 0:  # dims 0 / -1 of a 0-d tensor: nothing moves
        normalize_dims((source, destination), 0, "movedim")
        return input
    normalize_dims(source, nd, "movedim")  # range checks; the order matters here
    normalize_dims(destination, nd, "movedim")
    src = [d % nd for d in ((source,) if isinstance(source, int) else source)]
    dst = [d % nd for d in ((destination,) if isinstance(destination, int) else destination)]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must "
                         f"name the same number of distinct dims")
    dims: list = [None] * nd
    for s, d in zip(src, dst):
        dims[d] = s
    rest = iter(i for i in range(nd) if i not in src)
    return permute(input, [next(rest) if d is None else d for d in dims])


def expand(input, *sizes):
    """Broadcast to ``sizes`` without copying (-1 keeps a dim)."""
    sizes = _shape_arg(sizes)
    shape = input.shape
    if len(sizes) < len(shape):
        raise ShapeError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                         f"number of dims ({len(shape)}) of a tensor of shape {shape}")
    lead = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        have = shape[i - lead] if i >= lead else None
        if s == -1:
            if have is None:
                raise ShapeError(f"expand: -1 is not allowed in a new leading dim ({sizes})")
            s = have
        if have is not None and have != s and have != 1:
            raise ShapeError(f"expand: the size of dim {i} ({have}) must match {s} or be 1 "
                             f"(shape {shape} -> {sizes})")
        out.append(s)
    out = tuple(out)
    if out == shape:
        return input
    return _view(_EXPAND, input, {"shape": out})


def broadcast_to(input, shape):
    return expand(input, tuple(shape))


def squeeze(input, dim=None):
    shape = input.shape
    if dim is None:
        dims = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        dims = tuple(d for d in normalize_dims(dim, len(shape), "squeeze") if shape[d] == 1)
    if not dims:
        return input
    return reshape(input, tuple(s for i, s in enumerate(shape) if i not in dims))


def unsqueeze(input, dim: int):
    nd = input._data.ndim + 1
    if not -nd <= dim < nd:
        raise CorefwIndexError(f"unsqueeze: dim {dim} is out of range for a result of {nd} "
                               f"dims (expected -{nd}..{nd - 1})")
    dim %= nd
    shape = list(input.shape)
    shape.insert(dim, 1)
    return reshape(input, tuple(shape))


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    shape = input.shape
    if not shape:
        return reshape(input, (1,))
    (s,) = normalize_dims(start_dim, len(shape), "flatten")
    (e,) = normalize_dims(end_dim, len(shape), "flatten")
    if s > e:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(input, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def unflatten(input, dim: int, sizes):
    shape = input.shape
    (d,) = normalize_dims(dim, len(shape), "unflatten")
    return reshape(input, shape[:d] + tuple(sizes) + shape[d + 1:])


def flip(input, dims):
    dims = normalize_dims(dims, input._data.ndim, "flip")
    return apply(_FLIP, (input,), {"dims": dims}) if dims else input


def cat(tensors, dim: int = 0, *, axis: int | None = None):
    """Join tensors along an existing dim (dtypes are promoted, shapes must match);
    ``axis=`` is NumPy's name for ``dim``, as PyTorch accepts."""
    dim = dim if axis is None else axis
    tensors = [t for t in tensors]
    if not tensors:
        raise ShapeError("cat: expected a non-empty sequence of tensors")
    ref = next((t for t in tensors if t.shape != (0,)), tensors[0])
    tensors = [t for t in tensors if t.shape != (0,) or t is ref]
    nd = ref._data.ndim
    if nd == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    (d,) = normalize_dims(dim, nd, "cat")
    for i, t in enumerate(tensors):
        if t._data.ndim != nd or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if j != d):
            raise ShapeError(f"cat: sizes of tensors must match except in dim {d}: tensor 0 "
                             f"has shape {ref.shape}, tensor {i} has shape {t.shape}")
    dt = tensors[0].dtype
    if any(t.dtype is not dt for t in tensors):
        from .. import _dtype
        from .elementwise import cast

        for t in tensors[1:]:
            dt = _dtype.promote_types(dt, t.dtype)
        tensors = [cast(t, dt) for t in tensors]
    if len(tensors) == 1:
        return tensors[0].clone()
    return apply(_CAT, tuple(tensors), {"dim": d})


concat = concatenate = cat


def stack(tensors, dim: int = 0):
    """Join tensors of equal shape along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ShapeError("stack: expected a non-empty sequence of tensors")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ShapeError(f"stack: expects each tensor to be equal size, but got {shape} "
                             f"at entry 0 and {t.shape} at entry {i}")
    nd = len(shape) + 1
    if not -nd <= dim < nd:
        raise CorefwIndexError(f"stack: dim {dim} out of range for {nd} dims")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(tensor, split_size_or_sections, dim: int = 0):
    """Split into chunks of a given size, or of the given list of sizes (views).

    While recording, the chunks are the outputs of one node whose VJP joins their gradients
    with one ``cat``."""
    _need_dims(tensor, "split")
    (d,) = normalize_dims(dim, tensor._data.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ShapeError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {d} has "
                             f"size {n}")
    return split_views(tensor, d, sizes)


def _need_dims(x, op):
    if x._data.ndim == 0:
        raise ShapeError(f"{op}: expected a tensor with at least one dimension, got a 0-d "
                         f"tensor")


def chunk(input, chunks: int, dim: int = 0):
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    _need_dims(input, "chunk")
    (d,) = normalize_dims(dim, input._data.ndim, "chunk")
    n = input.shape[d]
    return split(input, max(1, -(-n // chunks)), d)


def roll(input, shifts, dims=None):
    if dims is None:
        return reshape(roll(flatten(input), shifts, 0), input.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    out = input
    for s, d in zip(shifts, dims):
        n = out.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            a, b = split(out, [n - s, s], d)
            out = cat([b, a], d)
    return out


def _tri(input, diagonal, upper):
    from .._creation import arange
    from .elementwise import where

    if input._data.ndim < 2:
        raise ShapeError(f"{'triu' if upper else 'tril'}: expected a tensor of at least 2 "
                         f"dims, got shape {input.shape}")
    r, c = input.shape[-2:]
    rows = reshape(arange(r, device=input.device), (r, 1))
    cols = reshape(arange(c, device=input.device), (1, c))
    keep = (cols - rows >= diagonal) if upper else (cols - rows <= diagonal)
    zero = input.new_zeros(()) if input._data.dtype.kind != "b" else False
    return where(keep, input, zero)


def tril(input, diagonal: int = 0):
    return _tri(input, diagonal, False)


def triu(input, diagonal: int = 0):
    return _tri(input, diagonal, True)


def pad(input, pad, mode: str = "constant", value: float = 0.0):
    """PyTorch's ``F.pad``: ``pad`` lists (left, right) pairs from the last dim backwards."""
    pad = tuple(int(p) for p in pad)
    nd = input._data.ndim
    if len(pad) % 2 or len(pad) // 2 > nd:
        raise ShapeError(f"pad: padding {pad} must have an even length of at most 2*{nd}")
    pairs = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        pairs[nd - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode != "constant":
        out = _pad_nonconstant(input, pairs, mode)
        return out if out is not input else out.clone()  # new memory, as in PyTorch
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        basic_slice = FN.basic_slice

        key = tuple(slice(-lo if lo < 0 else 0, s + hi if hi < 0 else s)
                    for (lo, hi), s in zip(pairs, input.shape))
        input = basic_slice(input, key)
        pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if not any(lo or hi for lo, hi in pairs):
        from .elementwise import clone

        return clone(input)  # F.pad always returns new memory, as in PyTorch
    return apply(_PAD, (input,), {"pad": tuple(pairs), "value": value})


def _pad_nonconstant(x, pairs, mode):
    basic_slice = FN.basic_slice

    for d, (lo, hi) in enumerate(pairs):
        if not (lo or hi):
            continue
        n = x.shape[d]
        pre = (slice(None),) * d
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise ShapeError(f"pad: reflect padding ({lo}, {hi}) must be < the size {n} "
                                 f"of dim {d}")
            left = flip(basic_slice(x, pre + (slice(1, lo + 1),)), d)
            right = flip(basic_slice(x, pre + (slice(n - 1 - hi, n - 1),)), d)
        elif mode == "replicate":
            left = expand(basic_slice(x, pre + (slice(0, 1),)), *[
                lo if i == d else s for i, s in enumerate(x.shape)])
            right = expand(basic_slice(x, pre + (slice(n - 1, n),)), *[
                hi if i == d else s for i, s in enumerate(x.shape)])
        elif mode == "circular":
            left = basic_slice(x, pre + (slice(n - lo, n),))
            right = basic_slice(x, pre + (slice(0, hi),))
        else:
            raise ValueError(f"pad: mode must be constant, reflect, replicate or circular, "
                             f"got {mode!r}")
        x = cat([left, x, right], d)
    return x


publish(globals(), __all__, methods="""reshape view permute transpose expand flatten unflatten
squeeze unsqueeze flip roll tril triu split chunk movedim broadcast_to swapaxes""")
