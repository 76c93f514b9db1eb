"""Pictures: the numpy PNG writer, heatmaps, save_pictures, the escaped HTML report, the demo."""

from __future__ import annotations

import os
import struct
import zlib

import corefw_xai as X
import numpy as np
import pytest
from conftest import T
from corefw_xai import viz
from corefw_xai._png import encode_png, read_png

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
    [png] = X.save_pictures(e, x, tmp_path / "sub" / "grid.png")
    grid = read_png(png)
    assert grid.ndim == 3 and grid.shape[0] >= 3 * 96
    out = X.save_pictures(e, x, tmp_path / "dir", labels=["a", "b", "c"])
    assert [os.path.basename(p) for p in out] == ["example_0.png", "example_1.png",
                                                  "example_2.png", "index.html"]
    panel = read_png(out[0])
    assert panel.shape[0] == 96 and panel.shape[1] == 3 * 96 + 2 * 4  # input | heat | overlay
    # the same function is reachable from every explainer class and from the Explanation
    assert X.IntegratedGradients.save_pictures(e, x, tmp_path / "c.png")
    assert e.save_pictures(x, tmp_path / "d.png")
    multi, _ = _explanation(targets=[0, 2])
    wide = read_png(X.save_pictures(multi, x, tmp_path / "m.png")[0])
    assert wide.shape[1] == 4 * 96 + 3 * 4  # input | heat t0 | heat t2 | overlay


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
    assert X.save_pictures(cam, x, tmp_path / "cam.png")
    vec = X.Saliency(lambda v: v.sum(1)).attribute(T(np.ones((2, 5))))
    assert read_png(X.save_pictures(vec, T(np.ones((2, 5))), tmp_path / "v.png")[0]).size


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
    pictures = [p for p in os.listdir(tmp_path) if p.startswith("attributions")]
    assert pictures, os.listdir(tmp_path)
    assert read_png(os.path.join(tmp_path, pictures[0])).ndim == 3
