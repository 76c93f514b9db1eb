"""Host scalars a capture lifts into the graph instead of breaking on them.

An optimizer reads its ``step`` counter with ``.item()`` and computes bias corrections from it
in Python floats. A plain ``.item()`` is a graph break (the value is guarded, and a counter
changes on every call), so the optimizers call :func:`lift_item` instead: eagerly it *is*
``t.item()``; while capturing it returns a :class:`Lifted` float whose arithmetic (``+ - * /
**``, negation) is recorded as ``host.*`` nodes of the graph and whose value reaches the
kernels as a graph value. The replay recomputes the same Python float arithmetic from the
tensor, so results are bitwise those of eager (PyTorch's float64 bias corrections). Anything
else done with a lifted value that could change what the Python does (comparing it,
``bool``/``int``/``float``, formatting it) is a guard: recorded with its result and checked on
every replay; a different result makes the call capture again.
"""

from __future__ import annotations

import math
import operator

from ._common import LOCAL
from ._ir import Node

__all__ = ["Lifted", "lift_item"]


def _item(arr, dev):
    """The ``host.item`` kernel: ``Tensor.item()`` of ``arr`` (what eager computes)."""
    return dev.backend.to_host(arr).reshape(()).item()


def _plain(x):
    return float.__float__(x) if isinstance(x, Lifted) else x


def _tracer():
    tr = getattr(LOCAL, "tracer", None)
    return tr if tr is not None and not tr.depth else None


class Lifted(float):
    """A Python float a capture computes from tensors (see the module docstring)."""

    _value = None  # the graph Value it is bound to
    _origin = "a lifted scalar"

    @staticmethod
    def make(result: float, tr, op: str, fn, args: tuple) -> Lifted | float:
        node_args = tuple(tr.encode(a) for a in args)
        out = Lifted(result)
        out._value = tr.new_value(out)
        tr.nodes.append(Node(op, fn, node_args, {}, out._value, ""))
        return out


def _scalar_array(value, dtype, dev):
    """The ``host.tensor`` kernel: a lifted scalar as a 0-d array (how it meets a tensor)."""
    import numpy as np

    return dev.backend.from_host(np.asarray(value, dtype=dtype), dev.index)


def _lift(self, like):
    """A 0-d tensor of ``self`` for an operator with tensor ``like`` (``corefw._call``):
    NumPy would take a float subclass as float64, a Python float as weak, so the scalar is
    given the dtype it would have taken."""
    from .. import _dtype
    from .._tensor import wrap

    plain = float.__float__(self)
    tr = _tracer()
    if tr is None or tr.values.get(id(self)) is not self._value:
        return plain
    kind = like._data.dtype.kind
    dtype = like._data.dtype if kind in "fc" else _dtype.get_default_dtype().np
    arr = _scalar_array(plain, dtype, like._dev)
    out = tr.new_value(arr)
    tr.nodes.append(Node("host.tensor", _scalar_array, (self._value, dtype, like._dev), {}, out,
                         ""))
    return wrap(arr, like._dev)


def _binary(name: str, fn, reflected: bool):
    def method(self, other):
        if not isinstance(other, (int, float)):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        result = fn(_plain(a), _plain(b))
        tr = _tracer()
        if tr is None or not isinstance(result, float):
            return result
        return Lifted.make(result, tr, f"host.{name}", fn, (a, b))
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


_NAMES = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _guarded(name: str, fn):
    """A use whose result the Python may branch on: guard it."""
    def method(self, *args):
        plain = [_plain(a) for a in args]
        result = fn(float.__float__(self), *plain)
        tr = _tracer()
        if tr is not None:
            what = f"comparison ({_NAMES[name]})" if name in _NAMES else f"{name}()"
            tr.guard_host(fn, (self, *args), result, f"{what} of {self._origin}")
        return result
    method.__name__ = f"__{name}__"
    return method


for _name, _fn in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("pow", operator.pow),
                   ("floordiv", operator.floordiv), ("mod", operator.mod)]:
    setattr(Lifted, f"__{_name}__", _binary(_name, _fn, False))
    setattr(Lifted, f"__r{_name}__", _binary(_name, _fn, True))


def _neg(self):
    result = -float.__float__(self)
    tr = _tracer()
    return result if tr is None else Lifted.make(result, tr, "host.neg", operator.neg, (self,))


def _abs(self):
    result = abs(float.__float__(self))
    tr = _tracer()
    return result if tr is None else Lifted.make(result, tr, "host.abs", operator.abs, (self,))


Lifted.__neg__ = _neg
Lifted.__abs__ = _abs
Lifted.__corefw_lift__ = _lift
Lifted.__pos__ = lambda self: self
for _name, _fn in [("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt),
                   ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge),
                   ("bool", bool), ("int", int), ("float", float), ("trunc", int),
                   ("round", round), ("repr", repr), ("str", str), ("format", format),
                   ("floor", math.floor), ("ceil", math.ceil), ("divmod", divmod),
                   ("rdivmod", lambda a, b: divmod(b, a))]:
    setattr(Lifted, f"__{_name}__", _guarded(_name, _fn))
Lifted.__hash__ = float.__hash__


def lift_item(t):
    """``t.item()``; while capturing, a :class:`Lifted` float read from ``t`` on every replay
    (not a graph break). For counters such as an optimizer's ``step``."""
    tr = _tracer()
    item = ORIGINAL_ITEM or type(t).item
    if tr is None:
        return item(t)
    tr.depth += 1  # the read itself is not a break
    try:
        value = item(t)
    finally:
        tr.depth -= 1
    if not isinstance(value, float):
        return value
    return Lifted.make(value, tr, "host.item", _item, (t._data, t._dev))


def _captured_item(self):
    """``Tensor.item`` while capturing: a float is lifted (see the module docstring), so
    ``loss.item()`` is an output and ``if x.item() > 0`` guards only the comparison; other
    values are read and guarded (a graph break)."""
    tr = _tracer()
    if tr is None or self._data.dtype.kind != "f":
        return ORIGINAL_ITEM(self)
    out = lift_item(self)
    if isinstance(out, Lifted):
        out._origin = "Tensor.item()"
    return out


ORIGINAL_ITEM = None


def install_item() -> None:
    """Swap ``Tensor.item`` for :func:`_captured_item` (a trace scope does it)."""
    global ORIGINAL_ITEM
    from .._tensor import Tensor

    if ORIGINAL_ITEM is None:
        ORIGINAL_ITEM = Tensor.item
    Tensor.item = _captured_item


def uninstall_item() -> None:
    from .._tensor import Tensor

    if ORIGINAL_ITEM is not None:
        Tensor.item = ORIGINAL_ITEM
