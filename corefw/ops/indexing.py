"""Indexing: ``x[key]``, ``x[key] = v``, gather / scatter_add / index_select / nonzero."""

from __future__ import annotations

import numpy as np

from .. import _rules as R
from .._call import apply, wrap
from .._graph.grad_mode import STATE
from .._tensor import Tensor
from ..errors import AutogradError, CorefwIndexError, DeviceError, DTypeError, ShapeError
from ._views import check_view_leaf, check_writable, commit, index_put_kernel, settle, track
from .reduction import normalize_dims, sum_to
from .registry import declare, publish

__all__ = ["gather", "getitem", "index_select", "masked_fill", "masked_select", "nonzero",
           "scatter_add",
           "setitem", "take_along_dim"]


def _zeros_like(x, like):
    """Zeros of ``x``'s shape and dtype on ``like``'s device (``x`` may be a saved-shape-only
    meta tensor)."""
    from .._creation import zeros

    return zeros(x.shape, dtype=x.dtype, device=like.device)


def _slice_vjp(ctx, g):
    return (index_put(_zeros_like(ctx.inputs[0], g), ctx.attrs["key"], g, accumulate=True),)


def _index_put_vjp(ctx, g):
    x, v = ctx.inputs
    key = ctx.attrs["key"]
    gx = index_put(g, key, 0.0, accumulate=False) if not ctx.attrs["accumulate"] else g
    gv = None
    if isinstance(v, Tensor) and v._req:
        picked = apply(_INDEX, (g,), {"key": key})
        gv = sum_to(picked, v.shape) if picked.shape != v.shape else picked
    return gx, gv


_SLICE = declare("slice", rule=R.index, vjp=_slice_vjp, saves=(), view=True, primitive=True)
_INDEX = declare("index", rule=R.index, vjp=_slice_vjp, saves=(), primitive=True)
_INDEX_PUT = declare("index_put", rule=R.index_put, vjp=_index_put_vjp, saves=(),
                     primitive=True)
_GATHER = declare("gather", rule=R.gather, vjp=lambda ctx, g: (scatter_add(
    _zeros_like(ctx.inputs[0], g), ctx.attrs["dim"], ctx.inputs[1], g), None), saves=(1,),
    primitive=True)
_SCATTER_ADD = declare("scatter_add", rule=R.scatter_add, vjp=lambda ctx, g: (
    g, None, gather(g, ctx.attrs["dim"], ctx.inputs[1])), saves=(1,), primitive=True)
_NONZERO = declare("nonzero", rule=R.nonzero, differentiable=False, saves=(), primitive=True)
declare("index_put_", rule=R.index_put, differentiable=False, inplace=True, saves=(),
        primitive=True)
declare("copy_", rule=R.copy_, differentiable=False, inplace=True, saves=(), primitive=True)


def _normalize_key(x: Tensor, key):
    """(key with native arrays, is_basic)."""
    if not isinstance(key, tuple):
        key = (key,)
    out, basic = [], True
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice):
            if isinstance(k, slice) and any(isinstance(v, Tensor) for v in
                                            (k.start, k.stop, k.step)):
                k = slice(*(int(v) if isinstance(v, Tensor) else v
                            for v in (k.start, k.stop, k.step)))
            out.append(k)
        elif isinstance(k, (bool, np.bool_)):
            out.append(bool(k))
            basic = False
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        elif isinstance(k, Tensor):
            if k._dev is not x._dev and k._data.ndim > 0:
                raise DeviceError(f"indexing: the index is on {k._dev} but the tensor is on "
                                  f"{x._dev}; move the index with .to({str(x._dev)!r})")
            if k._data.dtype.kind in "fV":
                raise CorefwIndexError(f"indexing: tensors used as indices must be integer or "
                                       f"bool, got {k.dtype}")
            if k._data.ndim == 0 and k._data.dtype.kind in "iu":
                out.append(int(k.item()))
            else:
                out.append(k._data if k._dev is x._dev else x._dev.backend.from_host(
                    k.numpy(), x._dev.index))
                basic = False
        else:
            arr = np.asarray(k)
            if arr.size == 0 and arr.dtype.kind in "fV":  # x[[]] selects nothing
                arr = arr.astype(np.int64)
            if arr.dtype.kind not in "iub":
                raise CorefwIndexError(f"indexing: unsupported index {k!r}; use ints, "
                                       f"slices, None, ..., or integer/bool tensors")
            out.append(x._dev.backend.from_host(arr, x._dev.index))
            basic = False
    return tuple(out), basic


def basic_slice(x: Tensor, key: tuple) -> Tensor:
    """``x[key]`` for a key of ints, slices, None and Ellipsis (a view)."""
    return track(apply(_SLICE, (x,), {"key": key}), x, "slice", {"key": key})


def getitem(x: Tensor, key):
    """``x[key]`` with NumPy/PyTorch semantics: ints, slices, None, ``...``, integer and bool
    tensors/arrays/lists. Basic indexing gives a view. Negative slice steps (``x[::-1]``) are
    supported with NumPy's meaning (PyTorch raises); the result is a view and differentiable."""
    key, basic = _normalize_key(x, key)
    if basic:
        _check_bounds(x, key)
        return basic_slice(x, key)
    return apply(_INDEX, (x,), {"key": key})


def _check_bounds(x, key):
    dim = 0
    for k in key:
        if k is Ellipsis:
            dim = x._data.ndim - sum(1 for j in key if j is not None and j is not Ellipsis)
            continue
        if k is None:
            continue
        if dim >= x._data.ndim:
            raise CorefwIndexError(f"too many indices for a tensor of {x._data.ndim} dims "
                                   f"(shape {x.shape})")
        if isinstance(k, int):
            n = x._data.shape[dim]
            if not -n <= k < n:
                raise CorefwIndexError(f"index {k} is out of bounds for dim {dim} with size "
                                       f"{n}")
        dim += 1


def index_put(x: Tensor, key, values, accumulate: bool = False) -> Tensor:
    """Out-of-place ``x[key] = values`` (``+=`` with ``accumulate``), differentiable."""
    if not isinstance(key, tuple) or any(isinstance(k, Tensor) for k in key):
        key, _ = _normalize_key(x, key)
    if isinstance(values, Tensor) and values.dtype is not x.dtype:
        from .elementwise import cast

        values = cast(values, x.dtype)
    return apply(_INDEX_PUT, (x, values), {"key": key, "accumulate": accumulate})


def bump_version(x: Tensor) -> None:
    vc = x._vc
    if vc is None:
        x._vc = vc = [0]
    vc[0] += 1


def check_inplace(x: Tensor, op: str, other_req: bool = False) -> bool:
    """Whether an in-place op must record the graph; raises where PyTorch raises. Refuses,
    before anything changes, a write that cannot reach the view's root (an expanded view)."""
    check_writable(x, op)
    if not STATE.enabled or not (x._req or other_req):
        return False
    if x._node is None and x._req:
        raise AutogradError(f"{op}: a leaf tensor that requires grad is being used in an "
                            f"in-place operation; wrap the update in corefw.no_grad() or "
                            f"clone() the tensor")
    check_view_leaf(x, op)
    return True


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value`` in place (differentiable for non-leaf tensors)."""
    key, _ = _normalize_key(x, key)
    vreq = isinstance(value, Tensor) and value._req
    if isinstance(value, Tensor):
        if value._dev is not x._dev and value._data.ndim > 0:
            raise DeviceError(f"__setitem__: value on {value._dev}, tensor on {x._dev}")
        if value._dev is not x._dev:
            value = value.item()
        elif value.dtype is not x.dtype:
            if value.dtype.category > x.dtype.category:
                raise DTypeError(f"__setitem__: cannot store {value.dtype} values in a "
                                 f"{x.dtype} tensor without losing information; cast first")
            from .elementwise import cast

            value = cast(value, x.dtype)
    elif isinstance(value, float) and x._data.dtype.kind not in "fV":
        raise DTypeError(f"__setitem__: cannot store the float {value} in a {x.dtype} tensor")
    elif isinstance(value, int) and x._data.dtype.kind in "iu" and not isinstance(value, bool):
        info = np.iinfo(x._data.dtype)  # numpy would raise a bare OverflowError (or wrap)
        if not info.min <= value <= info.max:
            from ..errors import CorefwOverflowError

            raise CorefwOverflowError(f"__setitem__: the value {value} does not fit a "
                                      f"{x.dtype} tensor (range {info.min} to {info.max}); "
                                      f"use a wider dtype")
    if check_inplace(x, "__setitem__", vreq):
        commit(x, index_put(x, key, value), True)
    else:
        vdata = value._data if isinstance(value, Tensor) else value
        try:
            out = index_put_kernel(x._dev)(x._data, vdata, key=key, accumulate=False)
        except IndexError as exc:  # an index out of range: not a shape problem
            raise CorefwIndexError(f"__setitem__: x{_fmt(key)} of a tensor of shape "
                                   f"{x.shape}: {exc}") from exc
        except ValueError as exc:
            raise ShapeError(f"__setitem__: cannot assign a value of shape "
                             f"{getattr(value, 'shape', ())} to x{_fmt(key)} of a tensor of "
                             f"shape {x.shape}: {exc}") from exc
        settle(x, out)  # a backend that cannot write in place returned a new array
    bump_version(x)


def _fmt(key):
    return "[" + ", ".join("..." if k is Ellipsis else repr(k) if not hasattr(k, "shape")
                           else f"<index {tuple(k.shape)}>" for k in key) + "]"


def _check_index(op, input, dim, index):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise DTypeError(f"{op}: index must be an integer tensor, got "
                         f"{getattr(index, 'dtype', type(index).__name__)}")
    if index._data.ndim != input._data.ndim:
        raise ShapeError(f"{op}: index {index.shape} must have as many dims as input "
                         f"{input.shape}")
    if input._data.ndim == 0:  # 0-d input and index: dim 0 or -1, as PyTorch
        normalize_dims(dim, 0, op)
        return 0
    (d,) = normalize_dims(dim, input._data.ndim, op)
    _check_index_range(op, index, d, input._data.shape[d])
    return d


def _check_index_range(op, index, d: int, size: int) -> None:
    """Refuse negative or too large indices (numpy would wrap -1, JAX would clamp)."""
    data = index._data
    if not data.size or index.is_meta:  # meta tensors have no values to check
        return
    table = index._dev.table  # the kernels themselves: no graph, no dispatch overhead
    lo, hi = int(table["amin"](data, None, False)), int(table["amax"](data, None, False))
    bad = lo if lo < 0 else hi if hi >= size else None
    if bad is not None:
        raise CorefwIndexError(f"{op}: index {bad} is out of bounds for dimension {d} with "
                               f"size {size} (valid: 0 to {size - 1}; negative indices are not "
                               f"accepted)")


def gather(input, dim: int, index):
    """``out[i][j] = input[index[i][j]][j]`` style selection along ``dim``."""
    d = _check_index("gather", input, dim, index)
    if input._data.ndim == 0:
        _check_index_range("gather", index, 0, 1)
        return gather(input.reshape(1), 0, index.reshape(1)).reshape(())
    return apply(_GATHER, (input, index), {"dim": d})


def take_along_dim(input, indices, dim: int):
    return gather(input, dim, indices)


def scatter_add(input, dim: int, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim``."""
    d = _check_index("scatter_add", input, dim, index)
    if input._data.ndim == 0:
        _check_index_range("scatter_add", index, 0, 1)
        return scatter_add(input.reshape(1), 0, index.reshape(1), src.reshape(1)).reshape(())
    return apply(_SCATTER_ADD, (input, index, src), {"dim": d})


def index_select(input, dim: int, index):
    if input._data.ndim == 0:
        normalize_dims(dim, 0, "index_select")
    else:
        (d,) = normalize_dims(dim, input._data.ndim, "index_select")
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu" or \
            index._data.ndim > 1:
        raise CorefwIndexError(f"index_select: index must be a 0-d or 1-D integer tensor, got "
                               f"{getattr(index, 'dtype', type(index).__name__)} of shape "
                               f"{tuple(getattr(index, 'shape', ()))}")
    if input._data.ndim == 0:
        _check_index_range("index_select", index, 0, 1)
        return input.reshape(1)[index.reshape(-1)].reshape(tuple(index.shape))
    _check_index_range("index_select", index, d, input._data.shape[d])
    if index._data.ndim == 0:  # a 0-d index keeps the dim, with size 1 (PyTorch)
        index = index.reshape(1)
    return getitem(input, (slice(None),) * d + (index,))


def nonzero(input, *, as_tuple: bool = False):
    """Indices of non-zero elements: an (n, ndim) int64 tensor, or one tensor per dim."""
    out = apply(_NONZERO, (input,))
    if as_tuple:
        return tuple(out[:, i] for i in range(input._data.ndim))
    return out


def masked_fill(input, mask, value):
    from .elementwise import where

    return where(mask, value, input)


def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` is True (the two broadcast), as a 1-D tensor."""
    from .shape import expand

    if input.shape != mask.shape:
        try:
            shape = tuple(np.broadcast_shapes(input.shape, mask.shape))
        except ValueError:
            raise ShapeError(f"masked_select: mask of shape {mask.shape} does not broadcast "
                             f"with input of shape {input.shape}") from None
        input, mask = expand(input, shape), expand(mask, shape)
    return getitem(input, mask)


def _wrap_like(data, x):
    return wrap(data, x._dev)


publish(globals(), __all__ + ["basic_slice", "bump_version", "check_inplace", "index_put"],
        methods="gather scatter_add index_select masked_fill masked_select nonzero")
