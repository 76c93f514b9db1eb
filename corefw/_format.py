"""``repr(tensor)`` like PyTorch's: ``tensor([[1.0000, 2.5000]], requires_grad=True)``.

The rules are PyTorch's ``_tensor_str``: floats print with 4 decimals, or as ``1.`` when every
finite value is an integer, or in scientific notation when the finite non-zero magnitudes span
more than 1000x, exceed 1e8, or (non-integers) fall below 1e-4; every element is padded to one
width; more than 1000 elements are summarised with 3 edge items per dim.
"""

from __future__ import annotations

import math

import numpy as np

from . import _dtype

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80
#: None: choose per tensor (PyTorch's rules); True/False: ``set_printoptions(sci_mode=)``
SCI_MODE: bool | None = None


class _Formatter:
    """Chooses one number format and width for every element of a tensor."""

    def __init__(self, arr: np.ndarray) -> None:
        self.floating = arr.dtype.kind in "fV"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = arr.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
            return
        vals = flat.astype(np.float64)
        vals = vals[np.isfinite(vals) & (vals != 0)]
        if vals.size == 0:
            return
        mags = np.abs(vals)
        lo, hi = mags.min(), mags.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        if self.int_mode:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8
            strs = [f"{v:.{PRECISION}e}" if self.sci_mode else f"{v:.0f}." for v in vals]
        else:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
            spec = "e" if self.sci_mode else "f"
            strs = [f"{v:.{PRECISION}{spec}}" for v in vals]
        if SCI_MODE is not None and SCI_MODE != self.sci_mode:
            self.sci_mode = SCI_MODE
            spec = "e" if SCI_MODE else "f"
            strs = [f"{v:.{PRECISION}{spec}}" for v in vals]
        self.width = max(len(s) for s in strs)

    def format(self, value) -> str:
        if self.floating:
            if self.sci_mode:
                text = f"{value:.{PRECISION}e}"
            elif self.int_mode:
                text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
            else:
                text = f"{value:.{PRECISION}f}"
        else:
            text = str(value)
        return text.rjust(self.width)


def _summarized(arr: np.ndarray) -> np.ndarray:
    """Only the edge items of every dim (what a summarised repr shows)."""
    if arr.ndim == 0:
        return arr
    if arr.shape[0] > 2 * EDGEITEMS:
        arr = np.concatenate([arr[:EDGEITEMS], arr[-EDGEITEMS:]])
    return np.stack([_summarized(a) for a in arr]) if arr.ndim > 1 else arr


def _vector(arr, indent, summarize, fmt) -> str:
    per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
    if summarize and arr.shape[0] > 2 * EDGEITEMS:
        items = ([fmt.format(v) for v in arr[:EDGEITEMS].tolist()] + [" ..."]
                 + [fmt.format(v) for v in arr[-EDGEITEMS:].tolist()])
    else:
        items = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _body(arr, indent, summarize, fmt) -> str:
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    n = arr.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        rows = ([_body(arr[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."]
                + [_body(arr[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        rows = [_body(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def tensor_repr(t) -> str:
    """PyTorch-style ``repr`` of a corefw tensor (values, then dtype/device/grad suffixes)."""
    arr = np.asarray(t._dev.backend.to_host(t._data))
    prefix = "tensor("
    indent = len(prefix)
    default = _dtype.get_default_dtype().np
    suffixes = []
    if str(t._dev) != "cpu":
        suffixes.append(f"device='{t._dev}'")
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if arr.dtype != default:
            suffixes.append(f"dtype={_dtype.FROM_NP[arr.dtype]!r}")
    else:
        summarize = arr.size > THRESHOLD
        shown = arr.astype(np.float32) if arr.dtype == np.float16 else arr
        fmt = _Formatter(_summarized(shown) if summarize else shown)
        body = _body(shown, indent, summarize, fmt)
        if arr.dtype not in (default, np.dtype(np.int64), np.dtype(np.bool_)):
            suffixes.append(f"dtype={_dtype.FROM_NP[arr.dtype]!r}")
    if t._node is not None:
        suffixes.append(f"grad_fn=<{t._node.name()}>")
    elif t._req:
        suffixes.append("requires_grad=True")
    text = prefix + body
    out = [text]
    last = len(text) - text.rfind("\n") + 1  # PyTorch's own arithmetic, kept for equal output
    for s in suffixes:
        if last + len(s) + 2 > LINEWIDTH:
            out.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            out.append(", " + s)
            last += len(s) + 2
    return "".join(out) + ")"
