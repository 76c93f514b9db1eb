"""``repr(tensor)`` like PyTorch's: ``tensor([[1., 2.]], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

from . import _dtype


def tensor_repr(t) -> str:
    arr = np.asarray(t._dev.backend.to_host(t._data))
    prefix = "tensor("
    if arr.size == 0:
        body = "[]" if arr.ndim == 1 else f"[], size={tuple(arr.shape)}"
    else:
        opts = dict(precision=4, separator=", ", prefix=prefix, suppress_small=False,
                    threshold=1000, edgeitems=3, max_line_width=80)
        if arr.dtype.kind == "f":
            finite = arr[np.isfinite(arr)]
            ints = finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() \
                < 1e8
            opts["floatmode"] = "unique" if ints else "maxprec_equal"
            body = np.array2string(arr, **opts)
            if ints:
                body = body.replace(".,", ".,").replace(".0,", ".,").replace(".0]", ".]")
        else:
            body = np.array2string(arr, **opts)
            if arr.dtype.kind == "b":
                body = body.replace("True", "True").replace("False", "False")
    extras = []
    if str(t._dev) != "cpu":
        extras.append(f"device='{t._dev}'")
    default = {_dtype.get_default_dtype().np, np.dtype(np.int64), np.dtype(np.bool_)}
    if arr.dtype not in default or (arr.size == 0 and arr.dtype != _dtype.get_default_dtype().np):
        extras.append(f"dtype={_dtype.FROM_NP[arr.dtype]!r}")
    if t._node is not None:
        extras.append(f"grad_fn=<{t._node.name()}>")
    elif t._req:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
