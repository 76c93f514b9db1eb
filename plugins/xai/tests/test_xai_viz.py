"""Pictures: the numpy PNG writer, heatmaps, save_pictures, the escaped HTML report, the demo."""

from __future__ import annotations

import os
import struct
import zlib

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai import viz
from corefw_xai._png import encode_png, read_png
from xai_models import N, T

import corefw


@pytest.mark.parametrize("shape", [(5, 7), (4, 3, 3), (2, 6, 4)])
def test_png_round_trip(shape, tmp_path):
    img = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    path = X.write_png(tmp_path / "a.png", img)
    assert np.array_equal(read_png(path), img)
    mpl_image = pytest.importorskip("matplotlib.image")
    back = mpl_image.imread(path)  # floats in [0, 1]
    assert np.array_equal(np.round(back * 255).astype(np.uint8).reshape(img.shape), img)


def test_png_reader_decodes_every_filter_and_checks_crc():
    # a 2x3 gray image written with filters 1 (sub) and 4 (paeth), then a corrupted copy
    rows = np.array([[10, 20, 30], [40, 50, 60]], np.uint8)
    raw = bytes([1, 10, 10, 10, 4, 30, 10, 10])  # predictions by hand: 10; 10, 40, 50
    good = encode_png(rows)
    idat_start = good.index(b"IDAT")
    length = int.from_bytes(good[idat_start - 4:idat_start], "big")
    body = zlib.compress(raw)
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(
        ">I", zlib.crc32(b"IDAT" + body) & 0xFFFFFFFF)
    data = good[:idat_start - 4] + chunk + good[idat_start + 8 + length:]
    assert np.array_equal(read_png(data), rows)
    bad = bytearray(good)
    bad[idat_start + 6] ^= 0xFF
    with pytest.raises(ValueError, match="CRC"):
        read_png(bytes(bad))
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((2, 2)))


def test_heatmap_colours():
    rgb = viz.heatmap_rgb(np.array([[2.0, -2.0, 0.0, 1.0]]))
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[0, 1].tolist() == [0, 0, 255]
    assert rgb[0, 2].tolist() == [255, 255, 255]
    assert rgb[0, 3].tolist() == [255, 128, 128]
    seq = viz.heatmap_rgb(np.array([[0.0, 1.0]]))
    assert seq[0, 0].tolist() == [0, 0, 4] and seq[0, 1].tolist() == [252, 255, 164]
    assert viz.heatmap_rgb(np.zeros((2, 2))).dtype == np.uint8


def _explanation(targets=None):
    w = T(np.random.default_rng(1).normal(size=(64, 3)))
    model = lambda v: v.reshape(v.shape[0], -1) @ w  # noqa: E731
    x = T(np.random.default_rng(2).uniform(size=(3, 1, 8, 8)))
    kw = {"targets": targets} if targets else {"target": [0, 1, 2]}
    return X.IntegratedGradients(model).attribute(x, n_steps=4, **kw), x


def test_save_pictures_to_a_file_and_to_a_directory(tmp_path):
    e, x = _explanation()
    png, page = X.save_pictures(e, x, tmp_path / "sub" / "grid.png", backend="numpy")
    grid = read_png(png)
    assert grid.ndim == 3 and grid.shape[0] >= 3 * 96
    assert page.endswith("grid.html") and os.path.exists(page)
    out = X.save_pictures(e, x, tmp_path / "dir", labels=["a", "b", "c"])
    assert [os.path.basename(p) for p in out] == ["example_0.png", "example_1.png",
                                                  "example_2.png", "index.html"]
    panel = read_png(out[0])
    assert panel.shape[0] == 96 and panel.shape[1] == 3 * 96 + 2 * 4  # input | heat | overlay
    # the same function is reachable from every explainer class and from the Explanation
    assert X.IntegratedGradients.save_pictures(e, x, tmp_path / "c.png", backend="numpy")
    assert e.save_pictures(x, tmp_path / "d.png")
    multi, _ = _explanation(targets=[0, 2])
    single = read_png(X.save_pictures(e, x, tmp_path / "s.png", backend="numpy")[0])
    wide = read_png(X.save_pictures(multi, x, tmp_path / "m.png", backend="numpy")[0])
    assert wide.shape[1] > single.shape[1] - 1  # (the title may set the width)
    from corefw_xai._figure import layout

    assert [h[0] for h in layout(multi, x).headings] == ["input", "attribution", "attribution",
                                                          "overlay"]


def test_html_report_escapes_every_text(tmp_path):
    e, x = _explanation()
    evil = "<script>alert('x')</script>"
    e.params["note"] = evil
    page = X.html_report(e, x, tmp_path / "r.html", labels=[evil, "&", '"q"'],
                         captions=[evil, "", ""], title=evil)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "&amp;" in page
    assert open(tmp_path / "r.html", encoding="utf-8").read() == page
    assert page.count("data:image/png;base64,") == 3
    html = viz.text_html(["<b>", "ok", "&"], np.array([1.0, 0.0, -1.0]))
    assert "<b>" not in html
    assert "&lt;b&gt;" in html and "&amp;" in html
    assert "rgb(255,0,0)" in html and "rgb(0,0,255)" in html


def test_pictures_of_layer_maps_and_vectors(tmp_path):
    class Net(corefw.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = corefw.nn.Conv2d(1, 2, 3, padding=1, dtype=corefw.float64)

        def forward(self, v):
            return self.conv(v).mean((2, 3))

    net = Net()
    x = T(np.random.default_rng(3).uniform(size=(2, 1, 6, 6)))
    cam = X.LayerGradCam(net, net.conv).attribute(x, target=1)
    assert X.save_pictures(cam, x, tmp_path / "cam.png", backend="numpy")
    vec = X.Saliency(lambda v: v.sum(1)).attribute(T(np.ones((2, 5))))
    assert read_png(X.save_pictures(vec, T(np.ones((2, 5))), tmp_path / "v.png",
                                    backend="numpy")[0]).size


def test_plot_returns_a_figure():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    e, x = _explanation()
    fig = viz.plot(e, x, index=1)
    assert len(fig.axes) >= 3


def test_corefw_demo_writes_attribution_pictures(tmp_path):
    demo = pytest.importorskip("corefw.demo")
    code = demo.main(["--epochs", "1", "--limit", "64", "--quiet", "--output", str(tmp_path)])
    assert code in (0, None)
    from corefw_xai._png import read_png_text

    pictures = sorted(p for p in os.listdir(tmp_path) if p.startswith("attributions"))
    assert pictures == ["attributions_cnn_integrated_gradients.html",
                        "attributions_cnn_integrated_gradients.png"], os.listdir(tmp_path)
    png = os.path.join(tmp_path, pictures[1])
    assert read_png(png).ndim == 3
    meta = read_png_text(png)
    assert meta["Title"] == "integrated_gradients - demo CNN"
    assert "#7; true: " in meta["Description"] and "pred: " in meta["Description"]
    page = open(os.path.join(tmp_path, pictures[0]), encoding="utf-8").read()
    assert page.count("data:image/png;base64,") == 8 and "completeness residual" in page


def _two_scales():
    """Two examples whose attributions differ 10x in size (Saliency of a linear model)."""
    w = T(np.linspace(-1, 1, 16).reshape(16, 1))
    model = lambda v: v.reshape(v.shape[0], -1) @ w  # noqa: E731
    x = T(np.ones((2, 1, 4, 4)) * np.array([1.0, 10.0])[:, None, None, None])
    return X.InputXGradient(model).attribute(x), x


@pytest.mark.parametrize("backend", ["numpy", "matplotlib"])
def test_picture_labels_title_and_colour_bar(backend, tmp_path):
    if backend == "matplotlib":
        pytest.importorskip("matplotlib")
    from corefw_xai._png import read_png_text

    e, x = _explanation()
    path = X.save_pictures(e, x, tmp_path / "p.png", labels=[7, 8, 9], predictions=[7, 1, 9],
                           model="tiny linear", backend=backend, report=False)[0]
    meta = read_png_text(path)
    assert meta["Title"] == "integrated_gradients - tiny linear"
    desc = meta["Description"]
    for want in ("colour scale: per row", "columns: input, attribution, overlay",
                 "#0; true: 7; pred: 7; target: 0", "#1; true: 8; pred: 1; target: 1",
                 "#2; true: 9; pred: 9; target: 2", "colour bar 1: -"):
        assert want in desc, (want, desc)
    img = read_png(path)
    assert img.shape[0] > 3 * 96 and len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 20
    if backend == "numpy":  # title text drawn in the top band, labels left of each row
        assert np.any(img[8:22, 8:200] < 100)
        assert np.any(img[120:140, 8:40] < 100)


def test_several_targets_are_labelled_each(tmp_path):
    from corefw_xai._png import read_png_text

    multi, x = _explanation(targets=[0, 2])
    path = X.save_pictures(multi, x, tmp_path / "m.png", backend="numpy", report=False)[0]
    desc = read_png_text(path)["Description"]
    assert "attribution target 0, attribution target 2, overlay target 0" in desc
    assert "targets: 0, 2" in desc


def test_scale_option_is_stated_and_changes_pixels(tmp_path):
    from corefw_xai._figure import layout, render_numpy

    e, x = _two_scales()
    row = layout(e, x, scale="row")
    shared = layout(e, x, scale="shared")
    top = np.abs(N(e)).reshape(2, -1).max(1)
    np.testing.assert_allclose(row.tops, top)
    np.testing.assert_allclose(shared.tops, [top.max()] * 2)
    assert "per row" in row.scale_note and "shared" in shared.scale_note
    a, b = render_numpy(row), render_numpy(shared)
    # the first (10x smaller) row is paler with the shared scale: fewer saturated pixels (the
    # colour bars and the second row are the same in both)
    sat = [int(((img.max(2).astype(int) - img.min(2)) > 100).sum()) for img in (a, b)]
    assert sat[1] < sat[0] - 2000, sat
    with pytest.raises(ValueError, match="scale must be"):
        X.save_pictures(e, x, tmp_path / "z.png", scale="global")
    with pytest.raises(ValueError, match="backend must be"):
        X.save_pictures(e, x, tmp_path / "z.png", backend="svg")


def test_report_explains_delta_hides_seed_and_has_a_legend(tmp_path):
    import re

    e, x = _explanation()
    page = X.html_report(e, x, predictions=[0, 1, 2])
    assert "completeness residual" in page and "sum(phi) - (F(x) - F(x&#x27;))" in page
    assert "seed" not in page  # IG is deterministic
    assert "colour legend" in page and page.count("background:rgb(") >= 9
    assert "Content-Security-Policy" in page and "default-src &#x27;none" not in page
    # nothing is loaded from anywhere: every src/href is an embedded data: URI
    urls = re.findall(r"(?:src|href)\s*=\s*['\"]([^'\"]*)", page)
    assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", page)
    assert not re.search(r"https?:|//[a-z]|<script|<link|<iframe|@import|url\(", text, re.I)
    w = T(np.random.default_rng(1).normal(size=(64, 1)))
    sh = X.GradientShap(lambda v: v.reshape(v.shape[0], -1) @ w).attribute(
        x, baselines=T(np.zeros((2, 1, 8, 8))), n_samples=2, seed=5)
    assert "seed 5" in X.html_report(sh, x)


def test_report_renders_text_attributions_as_highlighted_tokens():
    w = T(np.array([[1.0], [-2.0], [0.5]]))
    e = X.InputXGradient(lambda v: v @ w).attribute(T(np.ones((2, 3))))
    page = X.html_report(e, T(np.ones((2, 3))), tokens=[["<a>", "b", "&"], ["x", "y", "z"]])
    assert "<a>" not in page and "&lt;a&gt;" in page and "&amp;" in page
    assert page.count("<span title=") == 6 and "<img" not in page
    assert "rgb(255,0,0)" in page or "rgb(0,0,255)" in page
