"""The Tensor: a native array on a device, plus what autograd needs.

Slots, not a dict: ``_data`` (the backend's array), ``_dev`` (an interned device), ``_node``
(the graph node that produced it, None for leaves), ``_req`` (requires grad), ``_vc`` (the
version counter shared with views, created on first need), and lazily ``_grad``, ``_base``
and ``_view`` (a view's root and the chain of view ops from it: :mod:`corefw.ops._views`),
``_hooks``. Math, reduction and shape methods come from the generated mixin
:mod:`corefw._tensor_methods`; they and the operators call the ops layer's functions through
:data:`corefw._registry.FN`, so this module imports nothing above the op registry.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from . import _dtype
from ._format import tensor_repr
from ._registry import FN
from ._tensor_methods import TensorMethods
from .errors import AutogradError, DeviceError

__all__ = ["Size", "Tensor"]


class Size(tuple):
    """The shape of a tensor (PyTorch's ``torch.Size``): a tuple of ints with ``numel()``.
    It prints as a plain tuple, ``(2, 3)``, so that shapes read the same in every message."""

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements a tensor of this shape has."""
        return math.prod(self)


_new = object.__new__
#: How many post-accumulate-grad hooks were ever registered: 0 lets the backward engine skip
#: their bookkeeping (corefw._graph.engine reads it).
POST_HOOKS = [0]
#: How many gradient hooks were ever registered on leaves: 0 lets the engine skip looking.
LEAF_HOOKS = [0]


def wrap(data, dev) -> Tensor:
    """A new Tensor around a native array (no graph)."""
    t = _new(Tensor)
    t._data = data
    t._dev = dev
    t._node = None
    t._req = False
    t._vc = None
    return t


class Tensor(TensorMethods):
    """A multi-dimensional array on a device, recorded by autograd when it requires grad."""

    __slots__ = ("_data", "_dev", "_node", "_req", "_vc", "_grad", "_base", "_view", "_hooks",
                 "_retain", "_post_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __new__(cls, *args, **kwargs):
        if cls is Tensor and (args or kwargs):
            # PyTorch's legacy constructor: Tensor(2, 3) is uninitialised of that shape,
            # Tensor(data) copies data; both in the default float dtype
            kwargs.setdefault("dtype", _dtype.get_default_dtype())
            if args and all(isinstance(a, int) and not isinstance(a, bool) for a in args):
                return FN.empty(*args, **kwargs)
            if len(args) == 1 and isinstance(args[0], Size):
                return FN.empty(*args[0], **kwargs)
            return FN.tensor(*args, **kwargs)
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    # -- metadata -------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        """The size of every dimension (a :class:`Size`, a tuple)."""
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """``shape``, or the size of one dimension."""
        shape = self._data.shape
        if dim is None:
            return Size(shape)
        return shape[dim]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self._data.shape)

    nelement = numel

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def dtype(self) -> _dtype.dtype:
        return _dtype.FROM_NP[self._data.dtype]

    @property
    def device(self):
        return self._dev

    @property
    def is_meta(self) -> bool:
        """Whether this tensor lives on the storage-free ``meta`` device."""
        return self._dev.type == "meta"

    @property
    def is_cuda(self) -> bool:
        return self._dev.type == "cuda"

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind in "fV"

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    # -- autograd attributes --------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._req

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether autograd records ops on this leaf; returns self."""
        if self._node is not None and not requires_grad:
            raise AutogradError("you can only change requires_grad of leaf tensors; use "
                                ".detach() to get a tensor outside the graph")
        if requires_grad and self._data.dtype.kind not in "fV":
            raise AutogradError(f"only floating point tensors can require gradients, not "
                                f"{self.dtype}; cast with .float() first")
        self._req = bool(requires_grad) or self._node is not None
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def grad(self):
        return getattr(self, "_grad", None)

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and tuple(value.shape) != self.shape:
            raise AutogradError(f"assigned grad has shape {tuple(value.shape)}, but the tensor "
                                f"has shape {self.shape}")
        if value is not None and value._dev is not self._dev:
            raise DeviceError(f"assigned grad is on {value._dev}, but the tensor is on "
                              f"{self._dev}; move it with .to({str(self._dev)!r})")
        self._grad = value

    @property
    def data(self) -> Tensor:
        """This tensor's values outside the graph (shares memory)."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data
        self._dev = value._dev
        self._vc = None

    @property
    def _version(self) -> int:
        return self._vc[0] if self._vc is not None else 0

    def detach(self) -> Tensor:
        """A tensor sharing storage (and version counter) with this one, outside the graph."""
        t = wrap(self._data, self._dev)
        if self._vc is None:
            self._vc = [0]
        t._vc = self._vc
        if not _SHARES <= self._dev.backend.capabilities:
            FN.alias(t, self)  # copies kept consistent by the core: track it like a view
        return t

    def detach_(self) -> Tensor:
        self._node = None
        self._req = False
        return self

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        FN.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a
        replacement. Returns a handle with ``remove()``."""
        if not self._req:
            raise AutogradError("cannot register a hook on a tensor that doesn't require grad")
        if self._node is None:
            if getattr(self, "_hooks", None) is None:
                self._hooks = []
            LEAF_HOOKS[0] += 1
            hooks = self._hooks
        else:
            node, nr = _node_nr(self._node)
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(nr, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` during backward as soon as this leaf's ``.grad`` has been
        accumulated (once no remaining node can add to it), as PyTorch does; DDP launches its
        gradient all-reduces from here. Returns a handle with ``remove()``."""
        if not self._req or self._node is not None:
            raise AutogradError("register_post_accumulate_grad_hook: only a leaf tensor that "
                                "requires grad accumulates a .grad; this one "
                                + ("is not a leaf" if self._node is not None else
                                   "does not require grad"))
        if getattr(self, "_post_hooks", None) is None:
            self._post_hooks = []
        POST_HOOKS[0] += 1
        self._post_hooks.append(hook)
        return _HookHandle(self._post_hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self._node is None:
            return
        node, nr = _node_nr(self._node)
        if node.retain is None:
            node.retain = {}
        node.retain[nr] = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        if self._node is None:
            return False
        node, nr = _node_nr(self._node)
        return bool(node.retain and nr in node.retain)

    # -- conversion -----------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a NumPy array (shares memory on a host backend that allows it)."""
        if self._req and not force:
            raise AutogradError("can't call numpy() on a tensor that requires grad; use "
                                "tensor.detach().numpy()")
        return self._dev.backend.to_host(self._data)

    def __array__(self, dtype=None, copy=None):
        arr = self._dev.backend.to_host(self._data)
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        if copy:
            return arr.copy()
        return arr

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise ValueError(f"item(): a tensor with {self.numel()} elements cannot be "
                             f"converted to a Python scalar")
        return self._dev.backend.to_host(self._data).reshape(()).item()

    def tolist(self):
        """Nested Python lists (a number for a 0-d tensor)."""
        return self._dev.backend.to_host(self._data).tolist()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self.numel()} elements is "
                               f"ambiguous; use .any() or .all()")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be an index")
        return int(self.item())

    def __dlpack__(self, stream=None, **kwargs):
        if self._req:
            raise AutogradError("can't export a tensor that requires grad via DLPack; "
                                "use tensor.detach()")
        return self._data.__dlpack__(**({"stream": stream} if stream is not None else {}),
                                     **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    # by identity, as PyTorch's; object's own C slot (not a Python method calling id()) keeps
    # the dicts keyed by tensors on the backward engine's path cheap
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return repr(self) if not spec else format(repr(self), spec)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __reduce_ex__(self, protocol):
        raise TypeError("corefw tensors are not picklable by design (no pickle anywhere); "
                        "use corefw.save / corefw.load (safetensors)")

    def __deepcopy__(self, memo):
        t = self.detach().clone()
        t._req = self._req and self._node is None
        if self.grad is not None:
            t._grad = self.grad.clone()
        if type(self) is not Tensor:
            t.__class__ = type(self)
        memo[id(self)] = t
        return t

    # -- operators ------------------------------------------------------------------------
    def __add__(self, other):
        return FN.add(self, other)

    def __radd__(self, other):
        return FN.add(other, self)

    def __sub__(self, other):
        return FN.sub(self, other)

    def __rsub__(self, other):
        return FN.sub(other, self)

    def __mul__(self, other):
        return FN.mul(self, other)

    def __rmul__(self, other):
        return FN.mul(other, self)

    def __truediv__(self, other):
        return FN.div(self, other)

    def __rtruediv__(self, other):
        return FN.div(other, self)

    def __floordiv__(self, other):
        return FN.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return FN.floor_divide(other, self)

    def __mod__(self, other):
        return FN.remainder(self, other)

    def __rmod__(self, other):
        return FN.remainder(other, self)

    def __pow__(self, other):
        return FN.pow(self, other)

    def __rpow__(self, other):
        return FN.pow(other, self)

    def __matmul__(self, other):
        return FN.matmul(self, other)

    def __rmatmul__(self, other):
        return FN.matmul(other, self)

    def __neg__(self):
        return FN.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return FN.abs(self)

    def __invert__(self):
        return FN.bitwise_not(self)

    def __and__(self, other):
        return FN.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return FN.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return FN.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __eq__(self, other):
        return FN.eq(self, other)

    def __ne__(self, other):
        return FN.ne(self, other)

    def __lt__(self, other):
        return FN.lt(self, other)

    def __le__(self, other):
        return FN.le(self, other)

    def __gt__(self, other):
        return FN.gt(self, other)

    def __ge__(self, other):
        return FN.ge(self, other)

    def __getitem__(self, key):
        return FN.getitem(self, key)

    def __setitem__(self, key, value) -> None:
        FN.setitem(self, key, value)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # -- devices --------------------------------------------------------------------------
    def cpu(self) -> Tensor:
        """``self.to("cpu")``."""
        return self.to("cpu")

    def cuda(self, device=None) -> Tensor:
        """``self.to("cuda")`` (or ``"cuda:N"``)."""
        return self.to("cuda" if device is None else
                       (f"cuda:{device}" if isinstance(device, int) else device))


class _HookHandle:
    def __init__(self, hooks: list, hook) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _node_nr(node):
    """(node, output index) of a graph edge: an OutputRef (a custom Function's output
    ``nr``) or a node (output 0)."""
    return (node.node, node.nr) if hasattr(node, "nr") else (node, 0)


_SHARES = frozenset({"inplace", "views"})  # a backend with both aliases detach() by itself
