"""The hot path: Tensor op -> grad mode? -> device -> kernel dict lookup -> kernel -> wrap.

:func:`apply` serves every op; :func:`binary` and :func:`unary` are the same path specialised
for the operators (no loops, no kwargs). Per-call work that can be cached is cached: dtype
promotion per dtype pair (:mod:`corefw._dtype`), kernels per device (:mod:`corefw.dispatch`).
"""

from __future__ import annotations

from . import _dtype
from ._graph.grad_mode import SAVED_HOOKS, STATE
from ._graph.node import EXTRAS, Node, record_module
from ._graph.saved import pack_node, shape_only
from ._registry import FN
from ._tensor import Tensor as _Tensor
from ._tensor import wrap  # noqa: F401 - ops import it from the hot path
from .errors import CorefwError, DeviceError, DTypeError, KernelError, ShapeError

_SCALARS = (int, float, bool)
_FLOAT_KINDS = "f"
_new = object.__new__


def record(op, operands, attrs, out, dev, t):
    """Attach a graph node for ``op`` to the result ``t``. Operands the op's VJP does not read
    (its declared ``saves``) are kept as shape-only meta tensors, so their storage can go.

    This runs once per recorded op, so it is written flat: one pass over the operands, the
    op's saves as a precomputed mask (:attr:`OpDef.mask`), the node's slots set here rather
    than through ``Node.__init__``. ``versions`` stays None while every saved operand is at
    version 0 (the engine reads None as all zeros)."""
    mask = op.mask
    if mask is None:
        saves = op.saves
        if saves is not None:
            mask = saves(operands)  # a function of the operands (saves=cross)
    elif len(operands) > len(mask):
        mask = tuple(i in op.saves for i in range(len(operands)))
    if mask is not None and STATE.overrides:
        mask = None  # override_vjp rules (DeepLift, LRP) may read any node's inputs and output
    versions = None
    edges = []
    if mask is None:
        keep = operands
        save_out = True
        for x in operands:
            if isinstance(x, _Tensor):
                edges.append(x._node or (x if x._req else None))
                vc = x._vc
                if vc is not None and vc[0]:
                    versions = True
            else:
                edges.append(None)
    else:
        save_out = op.save_output
        keep = []
        i = 0
        for x in operands:
            if isinstance(x, _Tensor):
                edges.append(x._node or (x if x._req else None))
                if mask[i]:
                    keep.append(x)
                    vc = x._vc
                    if vc is not None and vc[0]:
                        versions = True
                else:
                    d = x._data  # stand_in(x), its cache hit inline
                    try:
                        s = _STANDINS.get((d.shape, d.dtype, x._req))
                    except TypeError:  # an array module with unhashable shapes or dtypes
                        s = None
                    keep.append(stand_in(x) if s is None else s)
            else:
                keep.append(x)
                edges.append(None)
            i += 1
        keep = tuple(keep)
    if versions:
        versions = tuple([x._vc[0] if isinstance(x, _Tensor) and x._vc is not None else 0
                          for x in keep])
    node = _new(Node)
    node.op = op
    node.inputs = keep
    node.next = tuple(edges)
    node.attrs = attrs
    node.out = out if save_out else None
    node.dev = dev
    node.versions = versions
    node.out_vc = None
    node.hooks = None
    node.retain = None
    node.meta = None
    node.freed = False
    if op.save_output:  # the VJP reads the output: in-place changes to it must be caught
        node.out_vc = t._vc = [0]
    if EXTRAS[0] is not None:
        EXTRAS[0](node)
    if STATE.provenance:
        record_module(node)
    t._node = node
    t._req = True
    if SAVED_HOOKS[0] and STATE.saved_hooks is not None:  # pack what the node saves
        pack_node(node, mask, t)


def record2(op, a, b, out, dev, t):
    """:func:`record` for two tensor operands (the binary operators, matmul), unrolled: no
    loops or lists, which is a third of the cost of recording ``a + b``."""
    mask = op.mask
    if mask is None:
        saves = op.saves
        if saves is not None:
            mask = saves((a, b))
    if mask is not None and STATE.overrides:
        mask = None  # override_vjp rules may read any node's inputs and output
    versions = None
    if mask is None or mask[0]:
        ka = a
        vc = a._vc
        if vc is not None and vc[0]:
            versions = True
    else:
        d = a._data
        try:
            ka = _STANDINS[(d.shape, d.dtype, a._req)]
        except (KeyError, TypeError):  # not cached yet (or unhashable: stand_in copes)
            ka = stand_in(a)
    if mask is None or mask[1]:
        kb = b
        vc = b._vc
        if vc is not None and vc[0]:
            versions = True
    else:
        d = b._data
        try:
            kb = _STANDINS[(d.shape, d.dtype, b._req)]
        except (KeyError, TypeError):  # not cached yet (or unhashable: stand_in copes)
            kb = stand_in(b)
    if versions:
        versions = (ka._vc[0] if ka._vc is not None else 0,
                    kb._vc[0] if kb._vc is not None else 0)
    node = _new(Node)
    node.op = op
    node.inputs = (ka, kb)
    node.next = (a._node or (a if a._req else None), b._node or (b if b._req else None))
    node.attrs = None
    node.out = out if mask is None or op.save_output else None
    node.dev = dev
    node.versions = versions
    node.out_vc = None
    node.hooks = None
    node.retain = None
    node.meta = None
    node.freed = False
    if op.save_output:
        node.out_vc = t._vc = [0]
    if EXTRAS[0] is not None:
        EXTRAS[0](node)
    if STATE.provenance:
        record_module(node)
    t._node = node
    t._req = True
    if SAVED_HOOKS[0] and STATE.saved_hooks is not None:  # pack what the node saves
        pack_node(node, mask, t)


#: (shape, dtype, requires_grad) -> its shape-only stand-in. Stand-ins hold no storage and
#: nothing changes them, so one per key serves every node (building one costs ~0.35 us).
_STANDINS: dict = {}


def stand_in(x):
    """The shared storage-free stand-in for ``x`` (see :func:`shape_only`)."""
    d = x._data
    try:
        key = (d.shape, d.dtype, x._req)
        s = _STANDINS.get(key)
    except TypeError:  # an array module with unhashable shapes or dtypes
        return shape_only(x)
    if s is None:
        if len(_STANDINS) >= 4096:  # bounded: many distinct shapes only cost rebuilding
            _STANDINS.clear()
        s = _STANDINS[key] = shape_only(x)
    return s


def apply(op, operands, attrs=None):
    """Run ``op`` on ``operands`` (Tensors and Python scalars) with keyword ``attrs``."""
    dev = None
    req = False
    arrays = []
    for x in operands:
        if isinstance(x, _Tensor):
            if dev is None:
                dev = x._dev
            elif x._dev is not dev:
                return apply(op, _mix_devices(op, operands), attrs)
            req = req or x._req
            arrays.append(x._data)
        else:
            arrays.append(x)
    req = req and STATE.enabled and op.differentiable
    if req and op.vjp is None and op.name not in STATE.overrides and op.decomposition is not None:
        return op.decomposition(*operands, **(attrs or {}))  # differentiate the decomposition
    try:
        out = dev.table[op.name](*arrays, **attrs) if attrs else dev.table[op.name](*arrays)
    except CorefwError:
        raise
    except Exception as exc:
        raise diagnose(op, operands, attrs, exc) from exc
    t = _new(_Tensor)  # wrap(out, dev), inline: this is the hottest line of corefw
    t._data = out
    t._dev = dev
    t._node = None
    t._req = False
    t._vc = None
    if req:
        record(op, operands, attrs, out, dev, t)
    return t


def binary(op, a, b):
    """``op(a, b)`` for an operator: one of a, b is a Tensor, the other may be a scalar."""
    if isinstance(b, _Tensor) and isinstance(a, _Tensor):
        dev = a._dev
        if b._dev is not dev:
            a, b = _mix_devices(op, (a, b))
            return binary(op, a, b)
        ad = a._data
        bd = b._data
        if ad.dtype is not bd.dtype and ad.dtype != bd.dtype:
            a, b = _promote(op, a, b)
            ad, bd = a._data, b._data
        req = a._req or b._req
        pair = True
    else:  # a tensor and a scalar, in either order
        tensor_first = isinstance(a, _Tensor)
        t, scalar = (a, b) if tensor_first else (b, a)
        if scalar.__class__ not in _SCALARS:
            scalar = _coerce_other(scalar, t)
            if scalar is NotImplemented:
                return scalar
            return binary(op, t, scalar) if tensor_first else binary(op, scalar, t)
        kind = t._data.dtype.kind
        if scalar.__class__ is float and kind != "f" or kind == "b" and \
                scalar.__class__ is int:
            t = _cast_for_scalar(t, scalar)
        if tensor_first:
            a, ad, bd = t, t._data, scalar
        else:
            b, ad, bd = t, scalar, t._data
        dev = t._dev
        req = t._req
        pair = False
    try:
        out = dev.table[op.name](ad, bd)
    except Exception as exc:
        raise diagnose(op, (a, b), None, exc) from exc
    t = _new(_Tensor)  # wrap(out, dev), inline: this is the hottest line of corefw
    t._data = out
    t._dev = dev
    t._node = None
    t._req = False
    t._vc = None
    if req and STATE.enabled and op.differentiable:
        if pair:
            record2(op, a, b, out, dev, t)
        else:
            record(op, (a, b), None, out, dev, t)
    return t


def _coerce_other(x, like):
    """NumPy scalars become Python scalars; lists and arrays become tensors on like's
    device; anything else is NotImplemented (so Python tries the other operand)."""
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if hasattr(x, "__corefw_lift__"):  # a scalar corefw.compile lifts into its graph
        return x.__corefw_lift__(like)
    if isinstance(x, (list, tuple)) or hasattr(x, "__array__"):
        return FN.tensor(x, device=like._dev)
    return NotImplemented


def unary(op, a, attrs=None):
    """``op(a)`` for a one-operand op."""
    dev = a._dev
    try:
        out = dev.table[op.name](a._data, **attrs) if attrs else dev.table[op.name](a._data)
    except Exception as exc:
        raise diagnose(op, (a,), attrs, exc) from exc
    t = _new(_Tensor)  # wrap(out, dev), inline: this is the hottest line of corefw
    t._data = out
    t._dev = dev
    t._node = None
    t._req = False
    t._vc = None
    if a._req and STATE.enabled and op.differentiable:
        record(op, (a,), attrs, out, dev, t)
    return t


def _cast_for_scalar(t, scalar):
    cat = _dtype.scalar_category(scalar)
    target = _dtype.default_for_category(cat)
    if _dtype.FROM_NP[t._data.dtype].category >= cat:
        return t
    return FN.cast(t, target)


def _promote(op, a, b):
    cast = FN.cast
    da, db = _dtype.FROM_NP[a._data.dtype], _dtype.FROM_NP[b._data.dtype]
    a_dim, b_dim = a._data.ndim > 0, b._data.ndim > 0
    if a_dim == b_dim:
        out = _dtype.promote_types(da, db)
    elif a_dim:  # b is 0-d: it only matters if its category is higher
        out = da if da.category >= db.category else db
    else:
        out = db if db.category >= da.category else da
    return (a if da is out else cast(a, out)), (b if db is out else cast(b, out))


def _mix_devices(op, operands):
    """0-d tensors on another device become scalars; anything else is an error."""
    devs = {x._dev for x in operands if isinstance(x, _Tensor) and x._data.ndim > 0}
    if len(devs) > 1 or not devs:
        listing = ", ".join(f"operand {i}: {x._dev}" for i, x in enumerate(operands)
                            if isinstance(x, _Tensor))
        raise DeviceError(f"{op.name}: expected all tensors on one device, found {listing}. "
                          f"Move them with .to(device); corefw never copies silently")
    (dev,) = devs
    return tuple(x.item() if isinstance(x, _Tensor) and x._dev is not dev else x
                 for x in operands)


def diagnose(op, operands, attrs, exc):
    """Turn a kernel's exception into a typed corefw error naming op, shapes and dtypes: the
    op's shape/dtype rule says what does not fit; if the rule accepts the operands, the
    exception's builtin type decides (TypeError: dtype, IndexError: index, else kernel)."""
    if isinstance(exc, CorefwError):
        return exc
    parts = []
    for i, x in enumerate(operands):
        if isinstance(x, _Tensor):
            parts.append(f"operand {i}: shape {tuple(x._data.shape)} {x._data.dtype} "
                         f"on {x._dev}")
        elif x is not None:
            parts.append(f"operand {i}: {type(x).__name__} {x!r}"[:80])
    what = "; ".join(parts)
    first = next((x for x in operands if isinstance(x, _Tensor)), None)
    backend = getattr(first._dev.backend, "name", "?") if first is not None else "?"
    if op.rule is not None:
        try:
            op.rule(*(x._data if isinstance(x, _Tensor) else x for x in operands),
                    **(attrs or {}))
        except CorefwError as err:
            return type(err)(f"{op.name}: {err} ({what})")
        except Exception:  # noqa: BLE001 - a rule that cannot judge these operands
            pass
    text = str(exc)  # a kernel's own message may name the op already: not twice
    head = "" if text.startswith(f"{op.name}:") else f"{op.name}: "
    msg = f"{head}{text} ({what}; backend {backend})"
    if isinstance(exc, TypeError):
        return DTypeError(msg)
    if isinstance(exc, IndexError):
        from .errors import CorefwIndexError

        return CorefwIndexError(msg)
    if isinstance(exc, ValueError):
        return ShapeError(msg)
    return KernelError(msg)
