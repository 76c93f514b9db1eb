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
           gap: int = 4, scale: float | None = None, signed: bool | None = None
           ) -> np.ndarray:
    """One example's row of panels (input, heatmap per target, overlay) as uint8 RGB;
    ``scale`` fixes the value of full colour (default each map's own max |a|)."""
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    image = _image_rgb(x[index])
    maps = _attribution_maps(explanation, index)
    size = image.shape[:2]
    heats = [heatmap_rgb(m, signed=signed, scale=scale) for m in maps]
    tiles = [image] + [_resize(h, size) for h in heats]
    tiles.append(overlay(image, heats[0]))
    tiles = [_upscale(t, min_side) for t in tiles]
    h = max(t.shape[0] for t in tiles)
    sep = np.full((h, gap, 3), 255, np.uint8)
    row = []
    for t in tiles:
        pad = np.full((h - t.shape[0], t.shape[1], 3), 255, np.uint8)
        row += [np.concatenate([t, pad], 0), sep]
    return np.concatenate(row[:-1], 1)


def save_pictures(explanation: Explanation, inputs, path_or_dir, labels: Sequence | None = None,
                  max_examples: int = 16, title: str | None = None, *,
                  predictions: Sequence | None = None, model: str | None = None,
                  scale: str = "row", backend: str = "auto",
                  class_names: Sequence[str] | None = None, report: bool = True) -> list[str]:
    """Write pictures of an explanation; returns the paths written.

    A path ending in ``.png`` gets one labelled picture (see :mod:`corefw_xai._figure`): a
    title (``title`` or the method, and ``model``), column headings (input, attribution per
    target, overlay), per row the example's number, true label (``labels``), prediction
    (``predictions``) and target, and a colour bar with its numbers. ``scale="row"`` gives each
    row its own colour scale, ``"shared"`` one for all rows (the picture says which).
    ``backend`` is ``"auto"`` (matplotlib when installed, else numpy), ``"matplotlib"`` or
    ``"numpy"``. With ``report`` the HTML report is written beside it (same name, ``.html``).

    Otherwise ``path_or_dir`` is a directory (created) that receives ``example_<i>.png`` per
    example and ``index.html``, the report of :func:`html_report`.
    """
    from ._figure import layout, save_figure

    x = inputs[0] if isinstance(inputs, tuple) else inputs
    n = min(int(x.shape[0]), max_examples)
    path = os.fspath(path_or_dir)
    if path.lower().endswith(".png"):
        lay = layout(explanation, inputs, labels=labels, predictions=predictions, title=title,
                     model=model, scale=scale, max_examples=max_examples,
                     class_names=class_names)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        out = [save_figure(path, lay, backend)]
        if report:
            page = path[:-4] + ".html"
            html_report(explanation, inputs, page, labels=labels, predictions=predictions,
                        max_examples=max_examples, title=lay.title, scale=scale)
            out.append(page)
        return out
    os.makedirs(path, exist_ok=True)
    out = [write_png(os.path.join(path, f"example_{i}.png"), panels(explanation, inputs, i))
           for i in range(n)]
    report_path = os.path.join(path, "index.html")
    html_report(explanation, inputs, report_path, labels=labels, predictions=predictions,
                max_examples=max_examples, title=title, scale=scale)
    return out + [report_path]


def _data_uri(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(img)).decode("ascii")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


_DELTA_TEXT = ("delta is the completeness residual: the sum of the attributions minus the "
               "change of the target output between the input and the baseline, "
               "sum(phi) - (F(x) - F(x')). Near 0 means the attributions account for the whole "
               "change; a large |delta| means too few steps or samples, or a model the method "
               "does not fit.")
# nothing may be fetched: no scripts, images only from data: URIs, inline styles
_CSP = ("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">")
_STYLE = ("<style>body{font-family:sans-serif;margin:1em}td,th{padding:4px;vertical-align:top;"
          "text-align:left}table{border-collapse:collapse}tr{border-bottom:1px solid #ddd}"
          ".legend span{display:inline-block;padding:2px 8px;margin-right:4px}"
          ".note{color:#444;max-width:60em}</style>")


def _legend(signed: bool, top: float | None) -> str:
    """A colour legend: a gradient strip with its end values."""
    vals = np.linspace(-1.0, 1.0, 9) if signed else np.linspace(0.0, 1.0, 9)
    rgb = heatmap_rgb(vals[None, :], signed=signed, scale=1.0)[0]
    cells = "".join(f"<span style='background:rgb({r},{g},{b})'>&nbsp;</span>"
                    for r, g, b in rgb)
    lo, hi = ("-max", "+max") if signed else ("0", "max")
    if top is not None:
        lo, hi = (f"{-top:.3g}", f"{top:.3g}") if signed else ("0", f"{top:.3g}")
    words = ("red: the feature raises the target output; blue: it lowers it; white: no "
             "effect" if signed else "bright: large attribution; dark: none")
    return (f"<p class='legend'>colour legend: {html.escape(lo)} {cells} {html.escape(hi)}"
            f" &mdash; {html.escape(words)}</p>")


def html_report(explanation: Explanation, inputs, path=None, labels: Sequence | None = None,
                captions: Sequence | None = None, max_examples: int = 16,
                title: str | None = None, *, predictions: Sequence | None = None,
                scale: str = "row", tokens: Sequence | None = None) -> str:
    """A self-contained HTML page (pictures embedded, nothing loaded from the network: a
    Content-Security-Policy forbids it) for a batch: the method and its parameters (the seed
    only for stochastic methods), a colour legend, what delta means, and per example its label,
    prediction, target, delta and panels. With ``tokens`` (one list of strings per example,
    or one list for all) the attributions are shown as highlighted tokens instead of pictures.
    ``scale``: ``"row"`` (each example's own colour scale) or ``"shared"``. Every text is
    escaped. Returns the HTML; writes it to ``path`` when given."""
    from ._figure import layout

    esc = html.escape
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    n = min(int(x.shape[0]), max_examples)
    lay = layout(explanation, inputs, scale=scale, max_examples=max_examples)
    delta = None if explanation.delta is None else _to_np(explanation.delta)
    params = "".join(f"<li><b>{esc(str(k))}</b>: {esc(_fmt(v))}</li>"
                     for k, v in explanation.params.items())
    head = esc(title or f"{explanation.method} attributions")
    info = f"method <b>{esc(explanation.method)}</b>; model evaluations {explanation.n_evals}"
    if explanation.seed is not None:  # only stochastic methods have one
        info += f"; seed {esc(str(explanation.seed))} (pass it back to reproduce the samples)"
    shared = lay.tops[0] if scale == "shared" and lay.tops else None
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", _CSP,
             f"<title>{head}</title>", _STYLE, "</head><body>", f"<h1>{head}</h1>",
             f"<p>{info}</p>", f"<ul>{params}</ul>", _legend(lay.signed, shared),
             f"<p class='note'>{esc(lay.scale_note)}.</p>"]
    if delta is not None:
        parts.append(f"<p class='note'>{esc(_DELTA_TEXT)}</p>")
    what = "tokens" if tokens is not None else "input | attribution | overlay"
    parts.append("<table><tr><th>#</th><th>label</th><th>prediction</th><th>target</th>"
                 f"{'<th>delta</th>' if delta is not None else ''}<th>{esc(what)}</th></tr>")
    targets = explanation.targets
    for i in range(n):
        label = esc(str(labels[i])) if labels is not None and i < len(labels) else ""
        pred = esc(str(_plain(predictions[i]))) if predictions is not None and \
            i < len(predictions) else ""
        if explanation.multi_target:
            tgt = ", ".join(_target_text(t, i) for t in targets)
        else:
            tgt = _target_text(targets, i)
        d = "" if delta is None else "<td>" + esc(", ".join(
            f"{v:.3g}" for v in np.atleast_1d(delta[..., i]))) + "</td>"
        cap = f"<br>{esc(str(captions[i]))}" if captions is not None and i < len(captions) \
            else ""
        if tokens is not None:
            toks = tokens[i] if tokens and isinstance(tokens[0], (list, tuple)) else tokens
            body = "".join(text_html(toks, m, scale=lay.tops[i] or None)
                           for m in lay.maps[i])
        else:
            img = _data_uri(panels(explanation, inputs, i, scale=lay.tops[i] or None,
                                   signed=lay.signed))
            body = f"<img src='{img}' alt='example {i}'>"
        parts.append(f"<tr><td>{i}</td><td>{label}</td><td>{pred}</td><td>{esc(tgt)}</td>{d}"
                     f"<td>{body}{cap}</td></tr>")
    parts.append("</table></body></html>")
    page = "\n".join(parts)
    if path is not None:
        tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, os.fspath(path))
    return page


def _plain(v):
    return v.item() if hasattr(v, "item") else v


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
