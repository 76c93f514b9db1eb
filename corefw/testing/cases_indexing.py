"""Cases for ``Tensor.__getitem__`` and ``__setitem__`` over every kind of key: integers,
slices with steps (negative too), ellipsis, None, integer and boolean arrays (as tensors and as
NumPy arrays), lists, empty selections. Basic keys reach ``slice``, advanced keys ``index``,
assignments ``index_put_``; the reference is NumPy's own indexing, whose rules PyTorch follows.
"""

from __future__ import annotations

import numpy as np

import corefw

from .cases import OpCase, Sample, register_case
from .cases import values as V

_I = np.array
#: id -> key (NumPy form), applied to a (3, 4, 5) tensor
BASIC_KEYS = {
    "int": 1, "neg-int": -1, "slice": slice(1, 3), "step": (slice(None), slice(None, None, 2)),
    "neg-step": slice(None, None, -1), "neg-step-range": (slice(None), slice(3, 0, -2)),
    "ellipsis": (Ellipsis, 2), "ellipsis-mid": (0, Ellipsis, slice(1, 4)),
    "none": (None, 1, None), "int-mix": (1, slice(None), -2), "empty-slice": (slice(2, 2),),
}
ADVANCED_KEYS = {
    "int-array": _I([2, 0, 2]), "int-array-2d": _I([[0, 1], [2, 2]]),
    "int-arrays-pair": (_I([0, 2]), slice(None), _I([4, 0])),
    "int-array-neg": (slice(None), _I([-1, 0])), "empty-list": [],
    "bool-mask-dim0": _I([True, False, True]),
    "bool-mask-2d": (slice(None), _I([[True, False, True, False, True]] * 4)),
    "list-ints": [0, 0, 1], "scalar-bool": True,
}
#: id -> (key, value: a shape for a tensor value, or a Python number), into a (3, 4) tensor
SET_KEYS = {
    "row-scalar": (1, 5.0), "col-tensor": ((slice(None), 0), (3,)),
    "broadcast-row": ((slice(0, 2),), (4,)), "broadcast-1": (0, (1,)),
    "neg-step": ((slice(None), slice(None, None, -2)), (3, 2)), "ellipsis": (Ellipsis, 2.0),
    "none": ((slice(None), None, 1), (3, 1)), "int-array": (_I([2, 0]), (2, 4)),
    "bool-mask": (_I([[True, False, False, True]] * 3), -3.0),
    "pair": ((_I([0, 2]), _I([1, 3])), (2,)), "int-into-float": (0, 7),
}


def _on(key, device, as_tensor=True):
    """``key`` with its NumPy arrays as corefw tensors on ``device`` (or kept as NumPy)."""
    if isinstance(key, tuple):
        return tuple(_on(k, device, as_tensor) for k in key)
    return corefw.tensor(key, device=device) if as_tensor and isinstance(key, np.ndarray) \
        else key


def _getitem_case(op, keys, name, as_tensor=True):
    def make(rng, variant, dtype, env):
        return Sample((V(rng, (3, 4, 5), dtype),), {"key": keys[variant]})

    def fn(x, key):
        return x[_on(key, x.device, as_tensor)]

    register_case(OpCase(op, make, fn, lambda x, key: np.array(x[key]),
                         kinds=("bool", "int64", "float32", "float64"),
                         variants=tuple(keys) + ("noncontig",) if op == "slice" else tuple(keys),
                         name=name))


BASIC_KEYS["noncontig"] = (slice(None), slice(1, None))
_getitem_case("slice", BASIC_KEYS, "getitem")
_getitem_case("index", ADVANCED_KEYS, "getitem[tensor key]")
_getitem_case("index", {k: v for k, v in ADVANCED_KEYS.items() if isinstance(v, np.ndarray) or (
    isinstance(v, tuple) and any(isinstance(a, np.ndarray) for a in v))}, "getitem[numpy key]",
    as_tensor=False)


def _set_make(rng, variant, dtype, env):
    key, value = SET_KEYS[variant]
    x = V(rng, (3, 4), dtype)
    if isinstance(value, tuple):
        return Sample((x, V(rng, value, dtype)), {"key": key}, grad=(0, 1))
    return Sample((x,), {"key": key, "value": value}, grad=(0,))


def _setitem(x, v=None, *, key, value=None):
    y = x.clone()
    y[_on(key, x.device)] = v if v is not None else value
    return y


def _setitem_ref(x, v=None, *, key, value=None):
    out = np.array(x, copy=True)
    out[key] = v if v is not None else value
    return out


register_case(OpCase("index_put_", _set_make, _setitem, _setitem_ref,
                     variants=tuple(SET_KEYS), name="setitem"))
