"""Views, in-place writes and functionalization.

A view (the result of ``reshape``, ``permute``, ``expand``, basic ``x[key]``, or ``detach``)
remembers its root base (``_base``, a strong reference, as in PyTorch) and the chain of view
ops that leads from the root to it (``_view``: ``((op name, attrs), ...)``; ``("alias", None)``
for ``detach``). It shares the root's version counter. Every in-place write goes through
:func:`commit` (or :func:`settle`, for kernels that already wrote), which does three things:

* **the write**: the ``copy_`` / ``index_put_`` kernel's *result* becomes the tensor's value.
  On a backend that declares both "inplace" and "views" it is the tensor's own array, written
  in place, and every view sees it through shared memory.
* **functionalization**: on a backend lacking either capability, the result is a new array
  (or views are copies), so the core rebinds it: to the tensor, to the root (the new value is
  scattered back through the inverse of the view chain: slice -> index_put, permute -> the
  inverse permutation, reshape -> reshape back; expand -> error) and to every live view of the
  root (replayed from the new root). All views register with their root (weakly) on such
  backends; elsewhere only recorded views do, so views outside autograd pay nothing.
* **the graph** (while recording): the tensor takes the new value's node, and when it is a
  view, the root's graph is rewritten as "the old root with the new value scattered in"
  (PyTorch's CopySlices), built from the same differentiable ops (``index_put``, ``permute``,
  ``reshape``), so gradients flow to both the old root and the new value.
"""

from __future__ import annotations

import weakref

from .._call import apply
from .._graph.grad_mode import STATE
from .._tensor import wrap
from ..errors import AutogradError, ShapeError
from .registry import OPS, publish

__all__ = ["alias", "check_view_leaf", "check_writable", "commit", "functional",
           "index_put_kernel", "is_contiguous", "settle", "track"]

_FULL = frozenset({"inplace", "views"})
_ALIAS = ("alias", None)
#: id(root) -> (weakref to root, {id(view): weakref to view}) for the views that may need
#: replaying: every view on functional backends, recorded views elsewhere
_FAMILIES: dict[int, tuple] = {}


_FUNCTIONAL: dict[frozenset, bool] = {}  # capabilities -> functional? (hashes are cached)


def functional(dev) -> bool:
    """Whether the core must functionalize writes on ``dev`` (it cannot mutate or alias)."""
    caps = dev.backend.capabilities
    f = _FUNCTIONAL.get(caps)
    if f is None:
        f = _FUNCTIONAL[caps] = not _FULL <= caps
    return f


def _root(t):
    """The root base of view ``t``, else None. ``_base`` is a lazily set slot (``wrap`` on
    the hot path does not set it); reading it unset raises, which is slow, so the first
    read sets it to None."""
    try:
        return t._base
    except AttributeError:
        t._base = None
        return None


def track(t, base, name: str, attrs) -> object:
    """Make ``t`` (the result of view op ``name`` on ``base``) a view of ``base``'s root."""
    vc = base._vc
    root = _root(base)
    if root is None:
        root, chain = base, ((name, attrs),)
    else:
        chain = base._view + ((name, attrs),)
    if vc is None:
        vc = base._vc = [0]
    t._vc = vc
    t._base = root
    t._view = chain
    if t._req or functional(t._dev):  # a recorded view may need its graph regenerated
        _register(root, t)
    return t


def alias(t, base) -> object:
    """``t`` shares ``base``'s storage (``detach``): tracked like a view, never differentiable
    through it."""
    return track(t, base, "alias", None)


def _register(root, view) -> None:
    key = id(root)
    entry = _FAMILIES.get(key)
    if entry is None or entry[0]() is not root:
        entry = (weakref.ref(root, lambda _, k=key: _FAMILIES.pop(k, None)), {})
        _FAMILIES[key] = entry
    views = entry[1]
    vkey = id(view)
    views[vkey] = weakref.ref(view, lambda _, d=views, k=vkey: d.pop(k, None))


def _family(root) -> list:
    entry = _FAMILIES.get(id(root))
    if entry is None or entry[0]() is not root:
        return []
    return [v for v in (r() for r in list(entry[1].values())) if v is not None]


def _differentiable(chain) -> bool:
    return bool(chain) and _ALIAS not in chain


def is_contiguous(t) -> bool:
    """Whether ``t``'s values are laid out densely in row-major order in storage it can write.

    A backend with "views" answers through its optional ``is_contiguous(array)`` (the toolkit
    reads ``flags``); one without that method is taken as non-contiguous (so ``contiguous()``
    copies: correct, if slower). On a backend without "views" every array is its own dense
    copy, so contiguity follows PyTorch's rule from the view chain: only reshapes (and
    aliases) keep a tensor contiguous.
    """
    backend = t._dev.backend
    if "views" in backend.capabilities:
        fn = getattr(backend, "is_contiguous", None)
        return bool(fn(t._data)) if fn is not None else False
    if _root(t) is None:
        return True
    return all(name in ("reshape", "alias") for name, _ in t._view)


def _invperm(dims) -> tuple:
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return tuple(inv)


def _replay(t, chain):
    for name, attrs in chain:
        if name != "alias":
            t = apply(OPS[name], (t,), attrs)
    return t


def _scatter(base, chain, new):
    """The root ``base`` with ``new`` written where ``chain`` looks (a new tensor)."""
    (name, attrs), rest = chain[0], chain[1:]
    if rest:
        new = _scatter(apply(OPS[name], (base,), attrs) if name != "alias" else base, rest, new)
    if name == "slice":
        return apply(OPS["index_put"], (base, new), {"key": attrs["key"], "accumulate": False})
    if name == "permute":
        return apply(OPS["permute"], (new,), {"dims": _invperm(attrs["dims"])})
    if name == "reshape":
        return apply(OPS["reshape"], (new,), {"shape": tuple(base._data.shape)})
    return new  # alias


def _root_alias(root):
    t = wrap(root._data, root._dev)
    t._node, t._req = root._node, root._req
    return t


def check_writable(x, op: str) -> None:
    """Refuse, before anything changes, a write that cannot reach the root (expand)."""
    root = _root(x)
    if root is not None and any(name == "expand" for name, _ in x._view):
        raise ShapeError(f"{op}: cannot write into this tensor of shape {tuple(x.shape)} in "
                         f"place: it is an expanded view whose elements share one storage "
                         f"position; clone() it first")


def check_view_leaf(x, op: str) -> None:
    """PyTorch's rule: a view of a leaf that requires grad cannot change in place while
    recording."""
    root = _root(x)
    if root is not None and root._node is None and root._req and _differentiable(x._view):
        raise AutogradError(f"{op}: a view of a leaf tensor that requires grad is being used "
                            f"in an in-place operation; wrap the update in corefw.no_grad() or "
                            f"clone() the leaf first")


def commit(x, new, record: bool, op: str = "copy_") -> None:
    """Write ``new`` (x's shape, dtype and device) into ``x`` through the ``copy_`` kernel;
    ``record``: ``new`` carries the graph of the change, which ``x`` (and its root) take."""
    kernel = x._dev.table["copy_"]
    if getattr(kernel, "fallback", False) and functional(x._dev):
        kernel = _pure_copy(x._dev)  # a functional backend need not write a copy_ kernel
    try:
        out = kernel(x._data, new._data)
    except ValueError as exc:  # e.g. NumPy's read-only broadcast views
        raise ShapeError(f"{op}: cannot write into this tensor of shape {tuple(x.shape)} in "
                         f"place ({exc}); an expanded tensor shares one element between many "
                         f"positions: clone() it first") from exc
    settle(x, out, new if record else None)


def _pure_copy(dev):
    clone = dev.table["clone"]
    return lambda dst, src: clone(src)  # src has dst's shape and dtype here


def index_put_kernel(dev):
    """The kernel ``x[key] = v`` runs: ``index_put_``, or on a functional backend without
    one the pure ``index_put`` primitive (its result is rebound like any other)."""
    kernel = dev.table["index_put_"]
    if getattr(kernel, "fallback", False) and functional(dev):
        return dev.table["index_put"]
    return kernel


def settle(x, out, new=None) -> None:
    """``x``'s storage now holds the kernel result ``out``: rebind it where the backend could
    not write in place, keep the root and the other views consistent, and (``new`` given)
    move the graph. The caller bumps the version counter."""
    dev = x._dev
    func = out is not x._data or functional(dev)
    root = _root(x)
    if root is not None:
        chain = x._view
        diff = new is not None and _differentiable(chain)
        if func or diff:
            prev = STATE.enabled
            STATE.enabled = diff
            try:
                b = _scatter(_root_alias(root), chain, new if diff else wrap(out, dev))
            finally:
                STATE.enabled = prev
            if diff and b._req:
                root._node, root._req = b._node, True
            if func:
                root._data = b._data
    if func:
        x._data = out
    if new is not None:
        x._node, x._req = new._node, True
    if func or new is not None:
        _refresh(root if root is not None else x, x, new is not None, func)


def _refresh(root, skip, record: bool, func: bool) -> None:
    """Replay every live view of ``root`` (but ``skip``) from its new value: its values where
    the backend could not alias them (``func``), its graph while recording (PyTorch
    regenerates a view's graph after an in-place change of its base the same way)."""
    views = _family(root)
    if not views:
        return
    prev = STATE.enabled
    try:
        for w in views:
            if w is skip or w._vc is not root._vc:  # `w.data = ...` cut it loose
                continue
            grad = record and root._req and _differentiable(w._view)
            if not (grad or func):
                continue
            STATE.enabled = grad
            r = _replay(root, w._view)
            if func:
                w._data = r._data
            if grad and r._req:
                w._node, w._req = r._node, True
    finally:
        STATE.enabled = prev


publish(globals(), ["alias"])  # Tensor.detach on backends without views/in-place
