"""Pictures of explanations: heatmaps, overlays, PNG files and an HTML report.

Everything is drawn with numpy and written by the numpy-only PNG writer, so pictures need no
plotting library and do not change with matplotlib releases; :func:`plot` draws the same panels
into a matplotlib figure (with colour bars) when the ``plot`` extra is installed. Every text in
the HTML output is escaped.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence

import numpy as np

from ._core import Explanation
from ._png import encode_png, write_png

__all__ = ["heatmap_rgb", "html_report", "overlay", "panels", "plot", "save_pictures",
           "text_html"]

_INFERNO = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                     [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=np.float64)


def _to_np(t) -> np.ndarray:
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy().astype(np.float64)
    return np.asarray(t, dtype=np.float64)


def _to_2d(a: np.ndarray) -> np.ndarray:
    """One example's map as (H, W): channels summed, vectors as one row."""
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a[None, :]
    if a.ndim == 2:
        return a
    return a.reshape(-1, *a.shape[-2:]).sum(0)


def heatmap_rgb(attr, signed: bool | None = None, scale: float | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a map: blue-white-red around 0 for signed maps, an inferno-like
    scale for non-negative ones; ``scale`` fixes the value of full colour (default max |a|)."""
    a = _to_2d(_to_np(attr))
    signed = bool(np.any(a < 0)) if signed is None else signed
    top = float(np.max(np.abs(a))) if scale is None else float(scale)
    v = a / top if top > 0 else np.zeros_like(a)
    if signed:
        v = np.clip(v, -1.0, 1.0)
        pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
        rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], -1)
        return np.round(rgb * 255).astype(np.uint8)
    v = np.clip(v, 0.0, 1.0) * (len(_INFERNO) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_INFERNO) - 2)
    frac = (v - lo)[..., None]
    rgb = _INFERNO[lo] * (1 - frac) + _INFERNO[lo + 1] * frac
    return np.round(rgb).astype(np.uint8)


def _image_rgb(x) -> np.ndarray:
    """An input example as uint8 RGB: (C, H, W) with 1 or 3 channels, (H, W), or a vector."""
    a = _to_np(x)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a.transpose(1, 2, 0)
        if a.shape[2] == 1:
            a = a[:, :, 0]
    elif a.ndim != 2:
        a = _to_2d(a)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    a = np.round(a * 255).astype(np.uint8)
    return np.repeat(a[:, :, None], 3, 2) if a.ndim == 2 else a


def _resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of (H, W, ...) to ``shape``."""
    h, w = img.shape[:2]
    rows = np.minimum((np.arange(shape[0]) * h) // shape[0], h - 1)
    cols = np.minimum((np.arange(shape[1]) * w) // shape[1], w - 1)
    return img[rows][:, cols]


def overlay(image_rgb: np.ndarray, heat_rgb: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a heatmap over a (grayed) image of the same or another size."""
    heat = _resize(heat_rgb, image_rgb.shape[:2]).astype(np.float64)
    gray = image_rgb.astype(np.float64).mean(2, keepdims=True)
    return np.round((1 - alpha) * gray + alpha * heat).clip(0, 255).astype(np.uint8)


def _upscale(img: np.ndarray, min_side: int) -> np.ndarray:
    k = max(1, -(-min_side // max(1, min(img.shape[:2]))))
    return np.repeat(np.repeat(img, k, 0), k, 1) if k > 1 else img


def _attribution_maps(explanation: Explanation, index: int) -> list[np.ndarray]:
    """The maps of example ``index``: one per target (the first input's attributions)."""
    attrs = explanation.attributions
    first = attrs[0] if isinstance(attrs, tuple) else attrs
    a = _to_np(first)
    if explanation.multi_target:
        return [a[k, index] for k in range(a.shape[0])]
    return [a[index]]


def panels(explanation: Explanation, inputs, index: int = 0, min_side: int = 96,
           gap: int = 4) -> np.ndarray:
    """One example's row of panels (input, heatmap per target, overlay) as uint8 RGB."""
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    image = _image_rgb(x[index])
    maps = _attribution_maps(explanation, index)
    size = image.shape[:2]
    tiles = [image] + [_resize(heatmap_rgb(m), size) for m in maps]
    tiles.append(overlay(image, heatmap_rgb(maps[0])))
    tiles = [_upscale(t, min_side) for t in tiles]
    h = max(t.shape[0] for t in tiles)
    sep = np.full((h, gap, 3), 255, np.uint8)
    row = []
    for t in tiles:
        pad = np.full((h - t.shape[0], t.shape[1], 3), 255, np.uint8)
        row += [np.concatenate([t, pad], 0), sep]
    return np.concatenate(row[:-1], 1)


def save_pictures(explanation: Explanation, inputs, path_or_dir, labels: Sequence | None = None,
                  max_examples: int = 16, title: str | None = None) -> list[str]:
    """Write pictures of an explanation; returns the paths written.

    A path ending in ``.png`` gets one picture with a row per example (input, heatmap per
    target, overlay). Otherwise ``path_or_dir`` is a directory (created) that receives
    ``example_<i>.png`` per example and ``index.html``, the report of :func:`html_report`.
    """
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    n = min(int(x.shape[0]), max_examples)
    path = os.fspath(path_or_dir)
    if path.lower().endswith(".png"):
        rows = [panels(explanation, inputs, i) for i in range(n)]
        width = max(r.shape[1] for r in rows)
        rows = [np.concatenate([r, np.full((r.shape[0], width - r.shape[1], 3), 255,
                                            np.uint8)], 1) for r in rows]
        gap = np.full((4, width, 3), 255, np.uint8)
        grid = np.concatenate([p for r in rows for p in (r, gap)][:-1], 0)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        return [write_png(path, grid)]
    os.makedirs(path, exist_ok=True)
    out = [write_png(os.path.join(path, f"example_{i}.png"), panels(explanation, inputs, i))
           for i in range(n)]
    report = os.path.join(path, "index.html")
    html_report(explanation, inputs, report, labels=labels, max_examples=max_examples,
                title=title)
    return out + [report]


def _data_uri(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(img)).decode("ascii")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def html_report(explanation: Explanation, inputs, path=None, labels: Sequence | None = None,
                captions: Sequence | None = None, max_examples: int = 16,
                title: str | None = None) -> str:
    """A self-contained HTML page (pictures embedded) for a batch: method, parameters, and per
    example its label, target, completeness residual and panels. Every text is escaped.
    Returns the HTML; writes it to ``path`` when given."""
    esc = html.escape
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    n = min(int(x.shape[0]), max_examples)
    delta = None if explanation.delta is None else _to_np(explanation.delta)
    params = "".join(f"<li><b>{esc(str(k))}</b>: {esc(_fmt(v))}</li>"
                     for k, v in explanation.params.items())
    head = esc(title or f"{explanation.method} attributions")
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>{head}</title>",
             "<style>body{font-family:sans-serif}td{padding:4px;vertical-align:top}"
             "</style></head><body>", f"<h1>{head}</h1>",
             f"<p>method <b>{esc(explanation.method)}</b>; model evaluations "
             f"{explanation.n_evals}; seed {esc(str(explanation.seed))}</p>",
             f"<ul>{params}</ul>", "<table><tr><th>#</th><th>label</th><th>target</th>"
             "<th>delta</th><th>input | attribution | overlay</th></tr>"]
    targets = explanation.targets
    for i in range(n):
        label = esc(str(labels[i])) if labels is not None and i < len(labels) else ""
        if explanation.multi_target:
            tgt = ", ".join(_target_text(t, i) for t in targets)
        else:
            tgt = _target_text(targets, i)
        d = "" if delta is None else esc(", ".join(f"{v:.3g}" for v in np.atleast_1d(
            delta[..., i])))
        cap = f"<br>{esc(str(captions[i]))}" if captions is not None and i < len(captions) \
            else ""
        img = _data_uri(panels(explanation, inputs, i))
        parts.append(f"<tr><td>{i}</td><td>{label}</td><td>{esc(tgt)}</td><td>{d}</td>"
                     f"<td><img src='{img}' alt='example {i}'>{cap}</td></tr>")
    parts.append("</table></body></html>")
    page = "\n".join(parts)
    if path is not None:
        tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, os.fspath(path))
    return page


def _target_text(target, i: int) -> str:
    if target is None or isinstance(target, (int, tuple)):
        return str(target)
    if callable(target) and not hasattr(target, "shape"):
        return getattr(target, "__name__", "callable")
    try:
        return str(_to_np(target)[i].astype(int).tolist() if hasattr(target, "detach")
                   else list(target)[i])
    except (TypeError, IndexError):
        return str(target)


def text_html(tokens: Sequence[str], attributions, scale: float | None = None) -> str:
    """Tokens coloured by their attribution (red positive, blue negative) as escaped HTML."""
    a = _to_np(attributions).reshape(-1)
    if len(a) != len(tokens):
        raise ValueError(f"text_html: {len(tokens)} tokens but {len(a)} attributions")
    rgb = heatmap_rgb(a[None, :], signed=True, scale=scale)[0]
    spans = [f"<span title='{v:.4g}' style='background:rgb({r},{g},{b})'>"
             f"{html.escape(str(t))}</span>" for t, v, (r, g, b) in zip(tokens, a, rgb)]
    return "<p>" + " ".join(spans) + "</p>"


def plot(explanation: Explanation, inputs, index: int = 0):
    """A matplotlib figure of one example (input, heatmap per target with a colour bar,
    overlay). Needs the ``plot`` extra: ``pip install corefw-xai[plot]``."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("corefw_xai.viz.plot needs matplotlib: pip install "
                          "'corefw-xai[plot]' (save_pictures works without it)") from exc
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    maps = [_to_2d(m) for m in _attribution_maps(explanation, index)]
    image = _image_rgb(x[index])
    fig, axes = plt.subplots(1, len(maps) + 2, figsize=(3 * (len(maps) + 2), 3))
    axes[0].imshow(image)
    axes[0].set_title("input")
    for ax, m in zip(axes[1:], maps):
        top = float(np.max(np.abs(m))) or 1.0
        im = ax.imshow(m, cmap="bwr", norm=TwoSlopeNorm(0.0, -top, top))
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title(explanation.method)
    axes[-1].imshow(overlay(image, heatmap_rgb(maps[0])))
    axes[-1].set_title("overlay")
    for ax in axes:
        ax.axis("off")
    return fig
