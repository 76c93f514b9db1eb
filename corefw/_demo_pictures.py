"""The demo's attribution pictures: an installed explainer's own picture hook when it has one,
else a plain PNG written with numpy and zlib (no imaging library needed)."""

from __future__ import annotations

import os
import struct
import sys
import zlib
from typing import Any

import numpy as np

import corefw

__all__ = ["explain", "save_pictures"]


def explain(model, test, device, output: str, out, model_name: str = "") -> list[str]:
    """Attribution pictures through ``corefw.explainers()``; [] when no explainer is installed.
    File names carry ``model_name`` so that runs of different models do not overwrite them."""
    registry = corefw.explainers()
    if not registry:
        return []
    name = "integrated_gradients" if "integrated_gradients" in registry else next(iter(registry))
    cls = registry[name]
    x = corefw.stack([test[i][0] for i in range(8)]).to(device)
    model.eval()
    with corefw.no_grad():
        target = model(x).argmax(1)
    explanation = cls(model).attribute(x, target=target)
    stem = f"attributions_{model_name}_{name}" if model_name else f"attributions_{name}"
    path = os.path.join(output, f"{stem}.png")
    hook = getattr(cls, "save_pictures", None)
    if not callable(hook):
        hook = getattr(sys.modules.get(cls.__module__), "save_pictures", None)
    extra = {}
    if callable(hook) and _takes_keywords(hook):  # labels and title for hooks that take them
        extra = {"labels": [int(test[i][1]) for i in range(8)],
                 "predictions": [int(v) for v in target.tolist()],
                 "model": f"demo {model_name.upper()}" if model_name else None}
    written = hook(explanation, x, path, **extra) if callable(hook) else \
        save_pictures(explanation, x, path)
    paths = [str(p) for p in written] if isinstance(written, (list, tuple)) else [path]
    print(f"attributions ({name}) of 8 test digits written to {', '.join(paths)}", file=out)
    return paths


def _takes_keywords(fn) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _png(path: str, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 array as a PNG file (no imaging library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def save_pictures(explanation: Any, inputs: corefw.Tensor, path: str, scale: int = 8) -> str:
    """The demo's own picture of attributions: a PNG with the inputs on the top row (grey) and
    their attributions below (red positive, blue negative, each image scaled to its largest
    magnitude). ``explanation`` is a tensor or has ``.attributions``. Returns ``path``."""
    attr = getattr(explanation, "attributions", explanation)
    a = np.asarray(attr.detach().cpu().numpy() if isinstance(attr, corefw.Tensor) else attr,
                   dtype=np.float64)
    x = inputs.detach().cpu().numpy().astype(np.float64)
    n = x.shape[0]
    a, x = a.reshape(n, -1, *x.shape[-2:]).sum(1), x.reshape(n, -1, *x.shape[-2:]).mean(1)
    top = np.clip(x / max(float(x.max()), 1e-12), 0, 1)[..., None].repeat(3, -1)
    a = a / np.maximum(np.abs(a).reshape(n, -1).max(1), 1e-12)[:, None, None]
    pos, neg = np.clip(a, 0, 1), np.clip(-a, 0, 1)
    bottom = np.stack([1 - neg, 1 - pos - neg, 1 - pos], -1).clip(0, 1)
    tiles = np.concatenate([top, bottom], axis=1)  # (n, 2h, w, 3)
    pad = np.ones((n, tiles.shape[1], 1, 3))
    grid = np.concatenate([np.concatenate([t, p], 1) for t, p in zip(tiles, pad)], 1)
    grid = grid.repeat(scale, 0).repeat(scale, 1)
    _png(path, (grid * 255).round().astype(np.uint8))
    return path
