"""PyTorch's further movement ops. ``repeat``, ``repeat_interleave``, ``unfold``,
``diagonal`` and ``diag_embed`` are composites declared with a decomposition into the movement
and indexing primitives (so every backend and the meta device run them; they differentiate
through their decomposition). ``narrow``, ``fliplr``, ``rot90``, the stacking helpers ... are
plain compositions of existing ops. Unlike PyTorch, ``diagonal`` and ``unfold`` return copies,
not views."""

from __future__ import annotations

from .. import _dtype
from .._call import apply
from .._registry import FN
from .._tensor import Tensor
from ..errors import CorefwIndexError, ShapeError
from ._dims import normalize_dims
from ._split_views import split_views
from .registry import declare, publish

__all__ = [
    "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_shapes", "broadcast_tensors",
    "cartesian_prod", "column_stack", "diag", "diag_embed", "diagonal", "dstack", "fliplr",
    "flipud", "hstack", "meshgrid", "narrow", "repeat", "repeat_interleave", "rot90",
    "row_stack", "select", "swapdims", "take", "tile", "trace", "tril_indices",
    "triu_indices", "unbind", "unfold", "vstack",
]


# -- declared composites ----------------------------------------------------------------------
def _repeat_decomp(x, repeats):
    shape = (1,) * (len(repeats) - x.ndim) + tuple(x.shape)
    inter = tuple(v for r, s in zip(repeats, shape) for v in (1, s))
    big = tuple(v for r, s in zip(repeats, shape) for v in (r, s))
    # materialise the expansion (a reshape of it could stay a zero-stride view of x)
    out = FN.clone(FN.expand(FN.reshape(x, inter), big))
    return FN.reshape(out, tuple(r * s for r, s in zip(repeats, shape)))


def _repeat_interleave_decomp(x, repeats, dim):
    shape = tuple(x.shape)
    y = FN.clone(FN.expand(FN.unsqueeze(x, dim + 1),  # new memory, never a view of x
                           shape[:dim + 1] + (repeats,) + shape[dim + 1:]))
    return FN.reshape(y, shape[:dim] + (shape[dim] * repeats,) + shape[dim + 1:])


def _unfold_decomp(x, dimension, size, step):
    n = (x.shape[dimension] - size) // step + 1 if x.ndim else 1
    if not x.ndim:
        return FN.reshape(x, (1,))
    idx = (FN.unsqueeze(FN.arange(n, device=x.device) * step, 1)
           + FN.unsqueeze(FN.arange(size, device=x.device), 0))
    out = x[(slice(None),) * dimension + (idx,)]  # dim -> (windows, size)
    return FN.movedim(out, dimension + 1, -1)


def _diag_len(n1, n2, offset):
    return max(0, min(n1 - max(0, -offset), n2 - max(0, offset)))


def _diagonal_decomp(x, offset, dim1, dim2):
    rest = [d for d in range(x.ndim) if d not in (dim1, dim2)]
    y = FN.permute(x, tuple(rest) + (dim1, dim2))
    n = _diag_len(x.shape[dim1], x.shape[dim2], offset)
    i = FN.arange(n, device=x.device)
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    return y[(Ellipsis, rows, cols)]


def _diag_embed_decomp(x, offset, dim1, dim2):
    n = x.shape[-1] + abs(offset)
    i = FN.unsqueeze(FN.arange(n, device=x.device), 1)
    j = FN.unsqueeze(FN.arange(n, device=x.device), 0)
    mask = (j - i) == offset
    if offset >= 0:  # row i holds x[i]
        vals = FN.unsqueeze(FN.pad(x, (0, offset)), -1)
    else:  # column j holds x[j]
        vals = FN.unsqueeze(FN.pad(x, (0, -offset)), -2)
    out = FN.where(mask, vals, FN.zeros((), dtype=x.dtype, device=x.device))
    nd = out.ndim
    rest = iter(range(nd - 2))
    perm = tuple(nd - 2 if p == dim1 else nd - 1 if p == dim2 else next(rest)
                 for p in range(nd))
    return FN.permute(out, perm)


_REPEAT = declare("repeat", decomposition=_repeat_decomp)
_REPEAT_INTERLEAVE = declare("repeat_interleave", decomposition=_repeat_interleave_decomp)
_UNFOLD = declare("unfold", decomposition=_unfold_decomp)
_DIAGONAL = declare("diagonal", decomposition=_diagonal_decomp)
_DIAG_EMBED = declare("diag_embed", decomposition=_diag_embed_decomp)


def _sizes(sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(sizes[0])
    return tuple(int(s) for s in sizes)


def repeat(input, *repeats):
    """Tile ``input`` ``repeats[i]`` times along dim i (new leading dims when ``repeats`` is
    longer than ``input.ndim``), PyTorch's ``Tensor.repeat``."""
    repeats = _sizes(repeats)
    if len(repeats) < input._data.ndim:
        raise ShapeError(f"repeat: the number of repeats ({len(repeats)}) cannot be smaller "
                         f"than the number of dims ({input._data.ndim}) of a tensor of shape "
                         f"{tuple(input.shape)}")
    if any(r < 0 for r in repeats):
        raise ShapeError(f"repeat: repeats must be non-negative, got {repeats}")
    return apply(_REPEAT, (input,), {"repeats": repeats})


def tile(input, dims):
    """Like :func:`repeat`, but ``dims`` shorter than ``input.ndim`` is padded with ones in
    front (NumPy's ``tile``)."""
    dims = tuple(dims)
    dims = (1,) * (input._data.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats=None, dim: int | None = None, *,
                      output_size: int | None = None):
    """Repeat each element ``repeats`` times (an int, or a tensor of per-element counts)
    along ``dim`` (the flattened tensor when None). ``repeat_interleave(counts)`` repeats
    ``arange(len(counts))``."""
    if repeats is None:  # repeat_interleave(counts)
        counts = input
        return repeat_interleave(FN.arange(counts.shape[0], device=counts.device), counts)
    if dim is None:
        input, dim = FN.reshape(input, (-1,)), 0
    (d,) = normalize_dims(dim, input._data.ndim, "repeat_interleave") or (0,)
    if input._data.ndim == 0:
        input = FN.reshape(input, (1,))
    if isinstance(repeats, Tensor) and repeats.numel() == 1:
        repeats = int(repeats.item())
    if isinstance(repeats, int):
        if repeats < 0:
            raise ShapeError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        return apply(_REPEAT_INTERLEAVE, (input,), {"repeats": repeats, "dim": d})
    counts = [int(c) for c in (repeats.tolist() if isinstance(repeats, Tensor) else repeats)]
    if len(counts) != input.shape[d]:
        raise ShapeError(f"repeat_interleave: repeats has {len(counts)} elements but dim {d} "
                         f"of the input has size {input.shape[d]}")
    if any(c < 0 for c in counts):
        raise ShapeError("repeat_interleave: repeats must be non-negative")
    index = [i for i, c in enumerate(counts) for _ in range(c)]
    idx = FN.tensor(index, dtype=_dtype.int64, device=input.device)
    return FN.index_select(input, d, idx)


def narrow(input, dim: int, start, length: int):
    """The slice ``start:start + length`` of dim ``dim`` (a view)."""
    (d,) = normalize_dims(dim, input._data.ndim, "narrow")
    n = input.shape[d]
    start = int(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise CorefwIndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                               f"{dim} of size {n} (tensor of shape {tuple(input.shape)})")
    return input[(slice(None),) * d + (slice(start, start + length),)]


def select(input, dim: int, index: int):
    """``input`` indexed with ``index`` along ``dim`` (that dim removed; a view)."""
    (d,) = normalize_dims(dim, input._data.ndim, "select")
    n = input.shape[d]
    if not -n <= index < n:
        raise CorefwIndexError(f"select: index {index} is out of range for dimension {dim} of "
                               f"size {n}")
    return input[(slice(None),) * d + (index % n,)]


def unfold(input, dimension: int, size: int, step: int):
    """Windows of ``size`` elements along ``dimension``, ``step`` apart, as a new last dim
    (``Tensor.unfold``; a copy)."""
    nd = input._data.ndim
    (d,) = normalize_dims(dimension, nd, "unfold") or (0,)
    n = input.shape[d] if nd else 1
    if size < 0 or size > n or step <= 0:
        raise ShapeError(f"unfold: size ({size}) must be in 0..{n} (the size of dimension "
                         f"{dimension}) and step ({step}) positive")
    return apply(_UNFOLD, (input,), {"dimension": d, "size": int(size), "step": int(step)})


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """The diagonal ``offset`` of the matrices spanned by ``dim1`` and ``dim2``, as a new last
    dim (a copy)."""
    nd = input._data.ndim
    if nd < 2:
        raise ShapeError(f"diagonal: expected a tensor of at least 2 dims, got shape "
                         f"{tuple(input.shape)}")
    (a,) = normalize_dims(dim1, nd, "diagonal")
    (b,) = normalize_dims(dim2, nd, "diagonal")
    if a == b:
        raise ShapeError(f"diagonal: dim1 and dim2 must differ, both are {a}")
    return apply(_DIAGONAL, (input,), {"offset": int(offset), "dim1": a, "dim2": b})


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """Matrices whose ``offset`` diagonal (in dims ``dim1``, ``dim2`` of the result) is the
    last dim of ``input``; zeros elsewhere."""
    nd = input._data.ndim + 1  # the result's
    if nd < 2:
        raise ShapeError("diag_embed: expected a tensor of at least 1 dim")
    (a,) = normalize_dims(dim1, nd, "diag_embed")
    (b,) = normalize_dims(dim2, nd, "diag_embed")
    if a == b:
        raise ShapeError(f"diag_embed: dim1 and dim2 must differ, both are {a}")
    return apply(_DIAG_EMBED, (input,), {"offset": int(offset), "dim1": a, "dim2": b})


def diag(input, diagonal: int = 0):
    """A 1-D tensor -> the square matrix with it on diagonal ``diagonal``; a matrix -> its
    diagonal ``diagonal``."""
    if input._data.ndim == 1:
        return diag_embed(input, diagonal)
    if input._data.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    raise ShapeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")


def trace(input):
    """The sum of the main diagonal of a matrix."""
    if input._data.ndim != 2:
        raise ShapeError(f"trace: expected a matrix, got shape {tuple(input.shape)}")
    return FN.sum(diagonal(input))


def fliplr(input):
    if input._data.ndim < 2:
        raise ShapeError(f"fliplr: expected a tensor of at least 2 dims, got shape "
                         f"{tuple(input.shape)}")
    return FN.flip(input, (1,))


def flipud(input):
    if input._data.ndim < 1:
        raise ShapeError("flipud: expected a tensor of at least 1 dim")
    return FN.flip(input, (0,))


def rot90(input, k: int = 1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times, from the first of ``dims`` towards the second."""
    dims = tuple(dims)
    if len(dims) != 2 or input._data.ndim < 2:
        raise ShapeError(f"rot90: expected two dims of a tensor of at least 2 dims, got dims "
                         f"{dims} for shape {tuple(input.shape)}")
    d0, d1 = normalize_dims(dims[0], input.ndim, "rot90")[0], \
        normalize_dims(dims[1], input.ndim, "rot90")[0]
    if d0 == d1:
        raise ShapeError(f"rot90: the two dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return FN.transpose(FN.flip(input, (d1,)), d0, d1)
    if k == 2:
        return FN.flip(input, (d0, d1))
    if k == 3:
        return FN.transpose(FN.flip(input, (d0,)), d0, d1)
    return input.clone()


def _many(tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        return tuple(tensors[0]), True
    return tuple(tensors), len(tensors) != 1


def _atleast(tensors, n):
    ts, many = _many(tensors)
    out = []
    for t in ts:
        if t.ndim < n:
            if t.ndim == 0:
                shape = (1,) * n
            elif t.ndim == 1:  # a row: (1, n) and (1, n, 1), as NumPy and PyTorch
                shape = ((1,) + tuple(t.shape) + (1,))[:n]
            else:
                shape = tuple(t.shape) + (1,)
            t = FN.reshape(t, shape)
        out.append(t)
    return tuple(out) if many else out[0]


def atleast_1d(*tensors):
    return _atleast(tensors, 1)


def atleast_2d(*tensors):
    return _atleast(tensors, 2)


def atleast_3d(*tensors):
    return _atleast(tensors, 3)


def hstack(tensors):
    ts = _atleast(tuple(tensors), 1) if len(tensors) else ()
    ts = ts if isinstance(ts, tuple) else (ts,)
    return FN.cat(ts, 0 if ts and ts[0].ndim == 1 else 1)


def vstack(tensors):
    ts = _atleast(tuple(tensors), 2)
    return FN.cat(ts if isinstance(ts, tuple) else (ts,), 0)


row_stack = vstack


def dstack(tensors):
    ts = _atleast(tuple(tensors), 3)
    return FN.cat(ts if isinstance(ts, tuple) else (ts,), 2)


def column_stack(tensors):
    ts = [FN.reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors]
    return FN.cat(ts, 1)


def broadcast_shapes(*shapes):
    """The shape tensors of ``shapes`` broadcast to (a :class:`corefw.Size`)."""
    from .._rules import broadcast_shapes as bs
    from .._tensor import Size

    return Size(bs(*[(s,) if isinstance(s, int) else tuple(s) for s in shapes]))


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape."""
    ts, _ = _many(tensors)
    shape = tuple(broadcast_shapes(*[t.shape for t in ts]))
    return tuple(FN.expand(t, shape) for t in ts)


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids of 1-D tensors (``indexing="xy"`` swaps the first two dims)."""
    ts, _ = _many(tensors)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [FN.reshape(t, (-1,)) for t in ts]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        g = FN.expand(FN.reshape(t, tuple(view)), shape)
        out.append(g)
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def cartesian_prod(*tensors):
    """Every combination of the elements of 1-D tensors, one per row."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return FN.stack([FN.reshape(g, (-1,)) for g in grids], 1)


def unbind(input, dim: int = 0):
    """The slices of ``input`` along ``dim``, as a tuple (that dim removed; views).

    While recording they are the outputs of one node, whose VJP stacks their gradients once:
    a loop over ``x.unbind(0)`` costs O(T) in backward where ``x[t]`` at each step costs
    O(T^2)."""
    (d,) = normalize_dims(dim, input._data.ndim, "unbind")
    return split_views(input, d, (1,) * input.shape[d], squeeze=True)


def take(input, index):
    """Elements of the flattened ``input`` at ``index`` (the result has ``index``'s shape)."""
    return FN.reshape(input, (-1,))[index]


def swapdims(input, dim0: int, dim1: int):
    return FN.transpose(input, dim0, dim1)


def _tri_indices(row, col, offset, dtype, device, upper):
    pairs = [(i, j) for i in range(row) for j in range(col)
             if (j - i >= offset if upper else j - i <= offset)]
    data = [[p[0] for p in pairs], [p[1] for p in pairs]]
    return FN.tensor(data, dtype=dtype, device=device).reshape(2, len(pairs))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None):
    """The (row, col) indices of the lower triangle (on and below diagonal ``offset``) of a
    ``row x col`` matrix, as a 2 x N tensor."""
    return _tri_indices(row, col, offset, dtype or _dtype.int64, device, False)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None):
    """The (row, col) indices of the upper triangle, as a 2 x N tensor."""
    return _tri_indices(row, col, offset, dtype or _dtype.int64, device, True)



publish(globals(), __all__, methods="""diag diag_embed diagonal fliplr flipud narrow repeat
repeat_interleave rot90 select swapdims take tile trace unbind unfold""")
