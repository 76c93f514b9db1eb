"""PyTorch's remaining splitting, scattering and Tensor-API names: ``tensor_split`` and
``hsplit``/``vsplit``/``dsplit``, the ``*_scatter`` functions (a copy of the input with a
slice, diagonal or strided window replaced), ``as_strided``, ``put``, ``index_reduce``,
``nonzero_static``, ``unravel_index``, ``combinations``, and the Tensor's small queries
(``is_cpu``, ``layout``, ``get_device``, ``is_signed`` ...). All are composites of existing
ops (slices, ``index_put``, ``gather``, ``scatter_reduce``), so they differentiate through
them."""

from __future__ import annotations

import itertools
import math

from .. import _dtype
from .._registry import FN
from .._tensor import Tensor
from ..errors import ShapeError
from .registry import publish

__all__ = [
    "argwhere", "as_strided", "as_strided_scatter", "combinations", "diagonal_scatter",
    "dsplit", "get_device", "hsplit", "index_reduce", "is_floating_point", "is_nonzero",
    "is_same_size", "is_signed", "moveaxis", "nonzero_static", "put", "select_scatter",
    "slice_scatter", "split_with_sizes", "sum_to_size", "tensor_split", "unravel_index",
    "unsafe_chunk", "unsafe_split", "unsafe_split_with_sizes", "vsplit",
]


class layout:  # noqa: N801 - PyTorch's class name
    """A tensor's memory layout; corefw has one, :data:`strided`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


strided = layout("strided")


# -- splitting --------------------------------------------------------------------------------
def tensor_split(input, indices_or_sections, dim: int = 0):
    """Split into ``n`` nearly equal parts (the first ``size % n`` one longer), or at the
    given indices (views)."""
    d = dim % max(input.ndim, 1)
    size = input.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise ValueError(f"tensor_split: sections must be positive, got {n}")
        base, extra = divmod(size, n)
        bounds = list(itertools.accumulate([base + 1] * extra + [base] * (n - extra)))[:-1]
    else:
        bounds = list(indices_or_sections)
    out, start = [], 0
    for stop in bounds + [size]:
        lo, hi = min(max(start, 0), size), min(max(stop, 0), size)
        out.append(FN.narrow(input, d, lo, max(hi - lo, 0)))
        start = stop
    return tuple(out)


def _split_dim(op, input, sections, dim, min_dims):
    if input.ndim < min_dims:
        raise ShapeError(f"{op}: expected a tensor of at least {min_dims} dims, got "
                         f"{input.ndim}")
    if isinstance(sections, int) and input.shape[dim] % sections:
        raise ShapeError(f"{op}: dim {dim} of size {input.shape[dim]} cannot be split into "
                         f"{sections} equal parts")
    return tensor_split(input, sections, dim)


def hsplit(input, indices_or_sections):
    """Split along dim 1 (dim 0 for 1-d tensors)."""
    return _split_dim("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    """Split along dim 0 (needs 2 or more dims)."""
    return _split_dim("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    """Split along dim 2 (needs 3 or more dims)."""
    return _split_dim("dsplit", input, indices_or_sections, 2, 3)


def split_with_sizes(input, split_sizes, dim: int = 0):
    """:func:`corefw.split` with a list of sizes."""
    return FN.split(input, list(split_sizes), dim)


def unsafe_split(input, split_size, dim: int = 0):
    """:func:`corefw.split` (PyTorch's variant without view tracking)."""
    return FN.split(input, split_size, dim)


def unsafe_split_with_sizes(input, split_sizes, dim: int = 0):
    return FN.split(input, list(split_sizes), dim)


def unsafe_chunk(input, chunks: int, dim: int = 0):
    return FN.chunk(input, chunks, dim)


def moveaxis(input, source, destination):
    """NumPy's name of :func:`corefw.movedim`."""
    return FN.movedim(input, source, destination)


def argwhere(input):
    """The indices of the non-zero elements, one row each: ``nonzero(input)``."""
    return FN.nonzero(input)


def nonzero_static(input, *, size: int, fill_value: int = -1):
    """:func:`nonzero` padded with ``fill_value`` rows (or cut) to exactly ``size`` rows."""
    nz = FN.nonzero(input)
    n = nz.shape[0]
    if n >= size:
        return nz[:size]
    pad = FN.full((size - n, input.ndim), fill_value, dtype=nz.dtype, device=nz.device)
    return FN.cat([nz, pad], 0)


# -- strided windows and scatters -------------------------------------------------------------
def _strided_index(size, stride, offset, device):
    idx = FN.full(tuple(size), offset, dtype=_dtype.int64, device=device)
    for d, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        idx = idx + FN.reshape(FN.arange(n, device=device) * s, shape)
    return idx


def as_strided(input, size, stride, storage_offset: int = 0):
    """The elements at ``storage_offset + sum_d i_d * stride_d`` of the input's row-major
    elements, in a tensor of ``size``. A gather (a copy, differentiable), where PyTorch
    returns a view of the storage: the same values for a contiguous input."""
    flat = FN.reshape(input, (-1,))
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise ShapeError(f"as_strided: size {size} and stride {stride} must have the same "
                         f"length")
    if not size:
        return flat[storage_offset]
    top = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    if top >= flat.shape[0]:
        raise ShapeError(f"as_strided: size {size}, stride {stride} and offset "
                         f"{storage_offset} reach element {top} of a tensor of "
                         f"{flat.shape[0]}")
    idx = _strided_index(size, stride, storage_offset, input.device)
    return FN.reshape(FN.take(flat, FN.reshape(idx, (-1,))), size)


def as_strided_scatter(input, src, size, stride, storage_offset: int = 0):
    """A copy of ``input`` with the window ``as_strided(input, size, stride, offset)``
    replaced by ``src``."""
    flat = FN.reshape(input, (-1,))
    idx = FN.reshape(_strided_index(tuple(size), tuple(stride), storage_offset, input.device),
                     (-1,))
    out = FN.index_put(flat, (idx,), FN.reshape(src, (-1,)))
    return FN.reshape(out, input.shape)


def slice_scatter(input, src, dim: int = 0, start=None, end=None, step: int = 1):
    """A copy of ``input`` with ``input[..., start:end:step, ...]`` (along ``dim``) set to
    ``src``."""
    key = [slice(None)] * input.ndim
    key[dim] = slice(start, end, step)
    return _put_key(input, tuple(key), src)


def select_scatter(input, src, dim: int, index: int):
    """A copy of ``input`` with ``input.select(dim, index)`` set to ``src``."""
    key = [slice(None)] * input.ndim
    key[dim] = index
    return _put_key(input, tuple(key), src)


def diagonal_scatter(input, src, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """A copy of ``input`` with ``input.diagonal(offset, dim1, dim2)`` set to ``src``."""
    d1, d2 = dim1 % input.ndim, dim2 % input.ndim
    n = FN.diagonal(input, offset, d1, d2).shape[-1]
    i = FN.arange(n, device=input.device) + max(-offset, 0)
    j = FN.arange(n, device=input.device) + max(offset, 0)
    # move dim1, dim2 to the front: the key is then (i, j) and src's last dim goes first
    moved = FN.movedim(input, (d1, d2), (0, 1))
    out = FN.index_put(moved, (i, j), FN.movedim(src, -1, 0))
    return FN.movedim(out, (0, 1), (d1, d2))


def _put_key(input, key, src):
    out = FN.clone(input)
    out[key] = src
    return out


def put(input, index, source, accumulate: bool = False):
    """A copy of ``input`` with its row-major elements at ``index`` set to (or, with
    ``accumulate``, increased by) ``source``."""
    flat = FN.reshape(input, (-1,))
    out = FN.index_put(flat, (FN.reshape(index, (-1,)),), FN.reshape(source, (-1,)),
                       accumulate)
    return FN.reshape(out, input.shape)


_INDEX_REDUCE = {"prod": "prod", "mean": "mean", "amax": "amax", "amin": "amin"}


def index_reduce(input, dim: int, index, source, reduce: str, *, include_self: bool = True):
    """Reduce the slices of ``source`` into ``input``'s slices ``index`` along ``dim`` with
    ``reduce`` ("prod", "mean", "amax", "amin"): :func:`scatter_reduce` with the index
    broadcast over the other dims."""
    if reduce not in _INDEX_REDUCE:
        raise ValueError(f"index_reduce: reduce must be one of {sorted(_INDEX_REDUCE)}, got "
                         f"{reduce!r}")
    d = dim % max(input.ndim, 1)
    shape = [1] * source.ndim
    shape[d] = index.shape[0]
    full = FN.expand(FN.reshape(index, shape), source.shape)
    return FN.scatter_reduce(input, d, full, source, _INDEX_REDUCE[reduce],
                             include_self=include_self)


def unravel_index(indices, shape):
    """The coordinates of flat ``indices`` in a tensor of ``shape`` (a tuple of tensors)."""
    if not isinstance(indices, Tensor):
        indices = FN.tensor(indices)
    if indices.dtype.is_floating_point or indices.dtype == _dtype.bool_:
        raise TypeError(f"unravel_index: expected integer indices, got {indices.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    total = math.prod(shape)
    if bool(FN.any((indices < -total) | (indices >= total))):
        raise IndexError(f"unravel_index: an index is out of bounds for shape {shape}")
    rest = FN.remainder(indices, total) if total else indices
    out = []
    for n in reversed(shape):
        out.append(FN.remainder(rest, n))
        rest = FN.floor_divide(rest, n)
    return tuple(reversed(out))


def combinations(input, r: int = 2, with_replacement: bool = False):
    """The length-``r`` combinations of a 1-d tensor's elements, one per row
    (``itertools.combinations`` order)."""
    if input.ndim != 1:
        raise ShapeError(f"combinations: expected a 1-d tensor, got shape {tuple(input.shape)}")
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    rows = list(pick(range(input.shape[0]), r))
    if not rows or r == 0:
        return FN.reshape(input[:0], (0,))  # PyTorch's empty result
    idx = FN.tensor(rows, dtype=_dtype.int64, device=input.device)
    return input[idx]


# -- small queries ----------------------------------------------------------------------------
def is_floating_point(input) -> bool:
    return input.dtype.is_floating_point


def is_signed(input) -> bool:
    """Whether the dtype holds negative values (every dtype but bool and uint8)."""
    return input.dtype.is_signed if hasattr(input.dtype, "is_signed") else \
        input._data.dtype.kind in "fi"


def is_nonzero(input) -> bool:
    """The truth of a one-element tensor (raises for any other number of elements)."""
    if input.numel() != 1:
        raise RuntimeError(f"is_nonzero: a tensor with {input.numel()} elements has no single "
                           f"truth value; use .any() or .all()")
    return bool(input.item())


def is_same_size(input, other) -> bool:
    return tuple(input.shape) == tuple(other.shape)


def get_device(input) -> int:
    """The device index (-1 for the host's cpu, as in PyTorch)."""
    dev = input.device
    return -1 if dev.type == "cpu" else (dev.index or 0)


def sum_to_size(input, *size):
    """Sum ``input`` down to ``size`` (which it must expand to)."""
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    return FN.sum_to(input, tuple(size))


publish(globals(), __all__, methods="""argwhere as_strided as_strided_scatter
diagonal_scatter dsplit get_device hsplit index_reduce is_nonzero is_same_size is_signed
moveaxis nonzero_static put select_scatter slice_scatter split_with_sizes sum_to_size
tensor_split unsafe_chunk unsafe_split unsafe_split_with_sizes vsplit""")
