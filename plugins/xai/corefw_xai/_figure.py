"""The labelled picture of an explanation: a title (method, model, colour scale), column
headings (input, attribution per target, overlay), per row the example's number, true and
predicted label and target, and a colour bar with its numbers. Drawn with matplotlib when it is
installed (the ``plot`` extra), else with numpy and the built-in bitmap font; both write the
same labels into the PNG's text metadata (``Title``, ``Description``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._core import Explanation
from ._font import draw_text, text_size
from ._png import write_png

__all__ = ["Layout", "layout", "render_matplotlib", "render_numpy", "save_figure"]

SCALES = ("row", "shared")


@dataclass
class Layout:
    """Everything a renderer draws, computed once so both renderers show the same numbers."""

    title: str
    scale_note: str
    headings: list[list[str]]  # per column, its lines
    row_labels: list[list[str]]  # per row, its lines
    images: list[np.ndarray]  # per row, the input as uint8 RGB
    maps: list[list[np.ndarray]]  # per row, one 2-D map per target
    tops: list[float]  # per row, the value of full colour
    signed: bool

    def description(self) -> str:
        lo = "-" if self.signed else "0 to "
        rows = ["; ".join(r) + f"; colour bar {i}: {lo}{t:.3g} .. {t:.3g}" if self.signed
                else "; ".join(r) + f"; colour bar {i}: 0 .. {t:.3g}"
                for i, (r, t) in enumerate(zip(self.row_labels, self.tops))]
        return " | ".join([self.scale_note, "columns: " + ", ".join(
            " ".join(s for s in h if s) for h in self.headings)] + rows)


def _target_label(target) -> str:
    if isinstance(target, (int, np.integer)):
        return str(int(target))
    if isinstance(target, tuple):
        return str(target)
    return ""


def layout(explanation: Explanation, inputs, labels: Sequence | None = None,
           predictions: Sequence | None = None, title: str | None = None,
           model: str | None = None, scale: str = "row", max_examples: int = 16,
           class_names: Sequence[str] | None = None) -> Layout:
    """The :class:`Layout` of up to ``max_examples`` rows; ``scale`` is ``"row"`` (each row's
    maps share the row's largest |attribution|) or ``"shared"`` (one scale for all rows)."""
    from .viz import _attribution_maps, _image_rgb, _target_text, _to_2d

    if scale not in SCALES:
        raise ValueError(f"save_pictures: scale must be 'row' or 'shared', got {scale!r}")
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    n = min(int(x.shape[0]), max_examples)
    maps = [[_to_2d(m) for m in _attribution_maps(explanation, i)] for i in range(n)]
    signed = any(bool(np.any(m < 0)) for row in maps for m in row)
    row_tops = [max(float(np.max(np.abs(m))) for m in row) for row in maps]
    shared = max(row_tops, default=0.0)
    tops = [shared] * n if scale == "shared" else row_tops

    def name(v) -> str:
        v = v.item() if hasattr(v, "item") else v
        if isinstance(v, str) and v.lstrip("-").isdigit():
            v = int(v)
        if class_names is not None and isinstance(v, (int, np.integer)) and \
                0 <= int(v) < len(class_names):
            return f"{class_names[int(v)]}"
        return str(v)

    targets = explanation.targets if explanation.multi_target else [explanation.targets]
    head = [["input"]]
    for k, t in enumerate(targets):
        lab = _target_label(t)
        head.append(["attribution", f"target {lab}" if lab else
                     (f"target #{k + 1}" if len(targets) > 1 else "")])
    head.append(["overlay", head[1][1]])
    rows = []
    for i in range(n):
        lines = [f"#{i}"]
        if labels is not None and i < len(labels):
            lines.append(f"true: {name(labels[i])}")
        if predictions is not None and i < len(predictions):
            lines.append(f"pred: {name(predictions[i])}")
        tg = ", ".join(name(_target_text(t, i)) for t in targets)
        lines.append(f"target: {tg}" if len(targets) == 1 else f"targets: {tg}")
        rows.append(lines)
    what = title or explanation.method
    full = f"{what} - {model}" if model else what
    note = ("colour scale: per row (each row's largest |attribution| = full colour)"
            if scale == "row" else
            f"colour scale: shared by all rows (full colour = {shared:.3g})")
    images = [_image_rgb(x[i]) for i in range(n)]
    return Layout(full, note, [h for h in head], rows, images, maps, tops, signed)


def _bar_values(top: float, signed: bool, n: int) -> np.ndarray:
    lo = -top if signed else 0.0
    return np.linspace(top, lo, n)[:, None]


def _ticks(top: float, signed: bool) -> list[str]:
    if signed:
        return [f"{top:+.3g}", "0", f"{-top:+.3g}"]
    return [f"{top:.3g}", f"{top / 2:.3g}", "0"]


def _colour_words(signed: bool) -> str:
    return ("red: raises the target, blue: lowers it" if signed else
            "bright: large attribution")


def render_numpy(lay: Layout, side: int = 144, font: int = 2) -> np.ndarray:
    """The picture as uint8 RGB, drawn with numpy and the bitmap font."""
    from .viz import _resize, heatmap_rgb, overlay

    gap, line = 8, 9 * font
    label_w = max(text_size(s, font)[1] for r in lay.row_labels for s in r) + 2 * gap
    tick_w = max(text_size(s, font)[1] for t in lay.tops for s in _ticks(t, lay.signed))
    bar_w = 14
    n_cols = len(lay.headings)
    width = label_w + n_cols * (side + gap) + bar_w + gap + tick_w + gap
    title_lines = [lay.title, lay.scale_note, _colour_words(lay.signed)]
    width = max(width, max(text_size(s, font)[1] for s in title_lines) + 2 * gap)
    head_h = gap + line * len(title_lines) + gap + line * 2 + gap
    row_h = max(side, line * max(len(r) for r in lay.row_labels)) + gap
    img = np.full((head_h + row_h * len(lay.images), width, 3), 255, np.uint8)
    y = gap
    for k, s in enumerate(title_lines):
        draw_text(img, s, y, gap, font, (0, 0, 0) if k == 0 else (60, 60, 60))
        y += line
    y += gap
    for c, lines in enumerate(lay.headings):
        x0 = label_w + c * (side + gap)
        for j, s in enumerate(lines):
            w = text_size(s, font)[1]
            draw_text(img, s, y + j * line, x0 + max(0, (side - w) // 2), font)
    for r, (image, maps, top) in enumerate(zip(lay.images, lay.maps, lay.tops)):
        y0 = head_h + r * row_h
        for j, s in enumerate(lay.row_labels[r]):
            draw_text(img, s, y0 + j * line, gap, font)
        heats = [heatmap_rgb(m, signed=lay.signed, scale=top or 1.0) for m in maps]
        tiles = [image] + heats + [overlay(image, heats[0])]
        for c, t in enumerate(tiles):
            x0 = label_w + c * (side + gap)
            img[y0:y0 + side, x0:x0 + side] = _resize(t, (side, side))
        bx = label_w + n_cols * (side + gap)
        bar = heatmap_rgb(_bar_values(top or 1.0, lay.signed, side), signed=lay.signed,
                          scale=top or 1.0)
        img[y0:y0 + side, bx:bx + bar_w] = np.repeat(bar, bar_w, 1)
        img[y0:y0 + side, bx - 1] = img[y0:y0 + side, bx + bar_w] = 0  # frame
        img[y0, bx:bx + bar_w] = img[y0 + side - 1, bx:bx + bar_w] = 0
        for s, ty in zip(_ticks(top, lay.signed), (y0, y0 + (side - 7 * font) // 2,
                                                   y0 + side - 7 * font)):
            draw_text(img, s, ty, bx + bar_w + gap // 2, font)
    return img


def render_matplotlib(lay: Layout):
    """The picture as a matplotlib ``Figure`` (no pyplot state is touched)."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from .viz import heatmap_rgb, overlay

    n, cols = len(lay.images), len(lay.headings)
    fig = Figure(figsize=(2.2 * cols + 2.6, 2.2 * n + 1.0), layout="constrained")
    grid = fig.subplots(n, cols + 1, squeeze=False, width_ratios=[0.55] + [1.0] * cols)
    axes = grid[:, 1:]
    fig.suptitle(f"{lay.title}\n{lay.scale_note}\n{_colour_words(lay.signed)}", fontsize=10)
    cmap = "bwr" if lay.signed else "inferno"
    for r in range(n):
        top = lay.tops[r] or 1.0
        norm = Normalize(-top if lay.signed else 0.0, top)
        axes[r, 0].imshow(lay.images[r], interpolation="nearest")
        im = None
        for k, m in enumerate(lay.maps[r]):
            im = axes[r, 1 + k].imshow(m, cmap=cmap, norm=norm, interpolation="nearest")
        heat = heatmap_rgb(lay.maps[r][0], signed=lay.signed, scale=top)
        axes[r, -1].imshow(overlay(lay.images[r], heat), interpolation="nearest")
        bar = fig.colorbar(im, ax=list(axes[r]), fraction=0.04, pad=0.02)
        bar.ax.tick_params(labelsize=7)
        for c in range(cols):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title("\n".join(s for s in lay.headings[c] if s), fontsize=9)
        grid[r, 0].axis("off")  # the row's labels, in a column of their own
        grid[r, 0].text(0.0, 0.5, "\n".join(lay.row_labels[r]), fontsize=8, ha="left",
                        va="center", transform=grid[r, 0].transAxes)
    return fig


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_figure(path, lay: Layout, backend: str = "auto") -> str:
    """Write the picture to ``path`` (PNG) with ``backend`` ``"auto"`` (matplotlib when
    installed), ``"matplotlib"`` or ``"numpy"``; the labels also go into the PNG's text."""
    if backend not in ("auto", "matplotlib", "numpy"):
        raise ValueError(f"save_pictures: backend must be 'auto', 'matplotlib' or 'numpy', "
                         f"got {backend!r}")
    path = os.fspath(path)
    meta = {"Title": lay.title, "Description": lay.description(), "Software": "corefw-xai"}
    if backend == "matplotlib" or (backend == "auto" and _has_matplotlib()):
        fig = render_matplotlib(lay)
        tmp = f"{path}.tmp{os.getpid()}.png"
        fig.savefig(tmp, dpi=100, metadata=meta)
        os.replace(tmp, path)
        return path
    return write_png(path, render_numpy(lay), meta)
