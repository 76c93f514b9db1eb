"""ONNX Resize (and the older Upsample) -> corefw ops, every mode (nearest with its four
rounding modes, linear, cubic) and coordinate transformation mode, ``axes``,
``keep_aspect_ratio_policy``, ``exclude_outside`` and ``tf_crop_and_resize``'s extrapolation.

Each resized axis is a weighted sum of a few gathers (``index_select``) of the input: the
source positions and weights depend only on the shapes (computed with NumPy), the data path
is corefw ops, so the result is differentiable and runs on any backend. Axes are resized one
after another (linear and cubic interpolation are separable).
"""

from __future__ import annotations

import math

import numpy as np

import corefw

from ._handler_utils import attrs as _attrs
from ._handler_utils import unsupported as _unsupported

__all__ = ["ATTRS", "HANDLERS"]


def _source(mode: str, x, scale: float, n_in: int, n_out: int, roi=(0.0, 1.0)):
    """Input coordinates of output positions ``x`` (float64 array)."""
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adj = n_out / (scale * n_in)
        center = n_in / 2
        return center * (1 - adj) + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(x)
    if mode == "align_corners":  # ONNX divides by the unrounded output length
        return x * (n_in - 1) / (n_in * scale - 1) if n_out > 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        lo, hi = roi
        if n_out > 1:
            return lo * (n_in - 1) + x * (hi - lo) * (n_in - 1) / (n_out - 1)
        return np.full_like(x, 0.5 * (lo + hi) * (n_in - 1))
    raise ValueError(mode)


def _nearest(rule: str, c):
    if rule == "round_prefer_floor":
        return np.where(c - np.floor(c) == 0.5, np.floor(c), np.round(c))
    if rule == "round_prefer_ceil":
        return np.where(c - np.floor(c) == 0.5, np.ceil(c), np.round(c))
    return np.floor(c) if rule == "floor" else np.ceil(c)


def _cubic(t, a: float):
    """The four cubic-convolution weights of taps floor-1 .. floor+2 at fraction ``t``."""
    d = [t + 1, t, 1 - t, 2 - t]
    out = []
    for s in d:
        s = np.abs(s)
        out.append(np.where(s <= 1, ((a + 2) * s - (a + 3)) * s * s + 1,
                            np.where(s < 2, ((a * s - 5 * a) * s + 8 * a) * s - 4 * a, 0.0)))
    return out


def _taps(at, n_in: int, n_out: int, scale: float, roi):
    """(index arrays, weight arrays or None, in-range mask or None) for one axis."""
    mode = at.get("mode", "nearest")
    coord = _source(at.get("coordinate_transformation_mode", "half_pixel"),
                    np.arange(n_out, dtype=np.float64), scale, n_in, n_out, roi)
    outside = None
    if at.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        outside = (coord < 0) | (coord > n_in - 1)
    if mode == "nearest":
        idx = _nearest(at.get("nearest_mode", "round_prefer_floor"), coord)
        return [np.clip(idx, 0, n_in - 1).astype(np.int64)], None, outside
    base = np.floor(coord)
    t = coord - base
    if mode == "linear":
        offsets, weights = [0, 1], [1 - t, t]
    else:
        offsets, weights = [-1, 0, 1, 2], _cubic(t, float(at.get("cubic_coeff_a", -0.75)))
    idx = [base + o for o in offsets]
    if at.get("exclude_outside", 0):
        weights = [np.where((i < 0) | (i > n_in - 1), 0.0, w) for i, w in zip(idx, weights)]
        total = sum(weights)
        weights = [w / total for w in weights]
    return [np.clip(i, 0, n_in - 1).astype(np.int64) for i in idx], weights, outside


def _resize_axis(x, axis: int, idx, weights):
    dev = x.device
    if weights is None:
        return corefw.index_select(x, axis, corefw.tensor(idx[0], device=dev))
    shape = [1] * x.ndim
    shape[axis] = -1
    out = None
    for i, w in zip(idx, weights):
        wt = corefw.tensor(w, dtype=x.dtype, device=dev)
        term = corefw.index_select(x, axis, corefw.tensor(i, device=dev)) * wt.reshape(shape)
        out = term if out is None else out + term
    return out


def _sizes(node, at, x, scales, sizes, axes):
    """Output size and scale per resized axis."""
    n_in = [x.shape[a] for a in axes]
    if sizes is not None:
        policy = at.get("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            return sizes, [o / i for o, i in zip(sizes, n_in)]
        pick = min if policy == "not_larger" else max
        s = pick(o / i for o, i in zip(sizes, n_in))
        return [int(math.floor(i * s + 0.5)) for i in n_in], [s] * len(axes)
    if scales is None:
        _unsupported(node, "a Resize with neither scales nor sizes")
    return [int(math.floor(i * s)) for i, s in zip(n_in, scales)], list(scales)


def _floats(t):
    return None if t is None or t.numel() == 0 else [float(v) for v in t.reshape(-1).tolist()]


def resize(node, x, at, scales, sizes, roi, axes=None):
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
    if at.get("antialias", 0):
        _unsupported(node, "antialias=1")
    out_sizes, scale = _sizes(node, at, x, scales, sizes, axes)
    if roi is not None and len(roi) == 2 * x.ndim and len(axes) != x.ndim:
        roi = [roi[a] for a in axes] + [roi[x.ndim + a] for a in axes]
    floating = x.dtype.is_floating_point
    y = x if floating or at.get("mode", "nearest") == "nearest" else x.to(corefw.float32)
    masks = []
    for k, (a, n_out, s) in enumerate(zip(axes, out_sizes, scale)):
        if n_out == x.shape[a] and s == 1.0 and at.get(
                "coordinate_transformation_mode") != "tf_crop_and_resize":
            continue
        r = (roi[k], roi[k + len(axes)]) if roi else (0.0, 1.0)
        idx, w, outside = _taps(at, x.shape[a], n_out, s, r)
        y = _resize_axis(y, a, idx, w)
        if outside is not None and outside.any():
            shape = [1] * x.ndim
            shape[a] = -1
            masks.append(outside.reshape(shape))
    if masks:
        bad = np.zeros(tuple(y.shape), bool)
        for m in masks:
            bad = bad | m
        fill = float(at.get("extrapolation_value", 0.0))
        y = corefw.where(corefw.tensor(bad, device=y.device), corefw.full_like(y, fill), y)
    return y if y.dtype == x.dtype else y.round().to(x.dtype)


def _resize(node, a, opset, dev):
    at = _attrs(node)
    x = a[0]
    if opset < 11:  # Resize-10: (X, scales), asymmetric coordinates
        at.setdefault("coordinate_transformation_mode", "asymmetric")
        if at.get("mode", "nearest") == "nearest":
            at.setdefault("nearest_mode", "floor")
        return resize(node, x, at, _floats(a[1]), None, None)
    roi = _floats(a[1]) if len(a) > 1 else None
    scales = _floats(a[2]) if len(a) > 2 else None
    sizes = [int(v) for v in a[3].tolist()] if len(a) > 3 and a[3] is not None else None
    return resize(node, x, at, scales, sizes, roi, at.get("axes"))


def _upsample(node, a, opset, dev):
    at = _attrs(node)
    at["coordinate_transformation_mode"] = "asymmetric"
    if at.get("mode", "nearest") == "nearest":
        at["nearest_mode"] = "floor"
    scales = list(at.pop("scales")) if "scales" in at else _floats(a[1])
    return resize(node, a[0], at, scales, None, None)


HANDLERS = {"Resize": _resize, "Upsample": _upsample}

ATTRS = {"Resize": {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                    "exclude_outside", "extrapolation_value", "antialias", "axes",
                    "keep_aspect_ratio_policy"},
         "Upsample": {"mode", "scales"}}
