"""``corefw demo``: a quick run, its checkpoint, bit-identical resuming, errors, pictures."""

from __future__ import annotations

import os
import struct
import sys
import zlib

import numpy as np
import pytest

import corefw
from corefw import demo

QUICK = ["--epochs", "1", "--limit", "256", "--quiet", "--no-explain"]


def _flat(obj, prefix=""):
    """Every leaf of a nested checkpoint as {path: numpy array or value}."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    if isinstance(obj, corefw.Tensor):
        return {prefix[:-1]: obj.numpy()}
    return {prefix[:-1]: obj}


def _same_bits(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes() == b.tobytes())
    return a == b or (a != a and b != b)  # nan == nan for the metrics


def _accuracy(model, data) -> float:
    """Independent of the demo's loop: one batch, numpy argmax."""
    x = corefw.stack([data[i][0] for i in range(len(data))])
    y = np.array([int(data[i][1].item()) for i in range(len(data))])
    with corefw.no_grad():
        logits = model.eval()(x).numpy()
    return float((logits.argmax(1) == y).mean())


def test_quick_run_saves_a_checkpoint_that_loads(tmp_path, capsys):
    assert demo.main([*QUICK, "--output", str(tmp_path)]) == 0
    path = tmp_path / "demo_cnn.safetensors"
    out = capsys.readouterr().out
    assert str(path) in out and "test accuracy" in out
    ckpt = corefw.load(path)
    assert ckpt["epoch"] == 1 and ckpt["config"]["model"] == "cnn"
    assert ckpt["config"]["limit"] == 256
    assert set(ckpt["rng"]) == set(corefw.get_rng_state())
    model = demo.build_model("cnn")
    model.load_state_dict(ckpt["model"])
    _, test = demo.make_splits()
    acc = _accuracy(model, test)
    assert acc == pytest.approx(ckpt["metrics"]["test_accuracy"], abs=1e-12)
    assert acc > 0.3  # one epoch on 256 images is far better than chance (0.1)
    assert f"{acc:.2%}" in out


def test_splits_are_disjoint_and_fixed():
    train, test = demo.make_splits()
    train2, test2 = demo.make_splits(limit=100)
    assert len(test) == demo.TEST_SIZE and len(train) + len(test) == 1797
    assert not set(train.indices) & set(test.indices)
    assert list(test2.indices) == list(test.indices)
    assert list(train2.indices) == list(train.indices)[:100]


def _run(out, epochs, *extra):
    args = ["--epochs", str(epochs), "--limit", "96", "--batch-size", "32", "--quiet",
            "--no-explain", "--output", str(out), *extra]
    assert demo.main(args) == 0
    return corefw.load(os.path.join(out, "demo_cnn.safetensors"))


def test_resume_is_bit_identical(tmp_path):
    straight = _run(tmp_path / "a", 2)
    first = _run(tmp_path / "b", 1)
    corefw.manual_seed(1234)  # the resumed run must not depend on the state it starts in
    corefw.randn(10)
    resumed = _run(tmp_path / "c", 2, "--resume", str(tmp_path / "b" / "demo_cnn.safetensors"))
    assert resumed["epoch"] == straight["epoch"] == 2
    a, b = _flat(straight), _flat(resumed)
    a.pop("metrics.train_seconds"), b.pop("metrics.train_seconds")
    assert sorted(a) == sorted(b)
    assert [k for k in a if not _same_bits(a[k], b[k])] == []
    # the second epoch changed every parameter: the comparison above is not vacuous
    w1, w2 = _flat(first["model"]), _flat(straight["model"])
    assert all(not np.array_equal(w1[k], w2[k]) for k in w1)


def test_resume_without_the_loader_state_differs(tmp_path, monkeypatch):
    """The bit-identity test can fail: skipping one restored state changes the result."""
    straight = _run(tmp_path / "a", 2)
    _run(tmp_path / "b", 1)
    monkeypatch.setattr(corefw.Generator, "set_state", lambda self, state: self)
    resumed = _run(tmp_path / "c", 2, "--resume", str(tmp_path / "b" / "demo_cnn.safetensors"))
    a, b = _flat(straight["model"]), _flat(resumed["model"])
    assert any(not np.array_equal(a[k], b[k]) for k in a)


def test_resume_errors(tmp_path, capsys):
    assert demo.main(["--resume", str(tmp_path / "missing.safetensors")]) == 1
    assert "no checkpoint at" in capsys.readouterr().err
    corefw.save({"model": {"w": corefw.zeros(2)}}, tmp_path / "other.safetensors")
    assert demo.main(["--resume", str(tmp_path / "other.safetensors")]) == 1
    assert "not a demo checkpoint" in capsys.readouterr().err
    _run(tmp_path, 1)
    ckpt = str(tmp_path / "demo_cnn.safetensors")
    assert demo.main(["--resume", ckpt, "--model", "mlp", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "--model cnn, not mlp" in err
    assert demo.main(["--resume", ckpt, "--epochs", "1", "--quiet", "--no-explain",
                      "--output", str(tmp_path)]) == 0
    assert "already trained 1 epochs" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--limit", "-1"], ["--model", "rnn"]])
def test_bad_options_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        demo.main(argv)
    assert info.value.code == 2


def test_mlp_model(tmp_path):
    assert demo.main([*QUICK, "--model", "mlp", "--output", str(tmp_path)]) == 0
    ckpt = corefw.load(tmp_path / "demo_mlp.safetensors")
    assert sorted(ckpt["model"]) == ["1.bias", "1.weight", "3.bias", "3.weight"]


def test_cli_dispatches_to_the_demo(tmp_path, capsys):
    from corefw import cli

    assert cli.main(["demo", *QUICK, "--model", "mlp", "--output", str(tmp_path)]) == 0
    assert (tmp_path / "demo_mlp.safetensors").exists()


# --- attribution pictures through the explainer registry ---------------------------------


def _read_png(path) -> np.ndarray:
    """A minimal decoder for the 8-bit RGB, filter-0 PNGs the demo writes."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x02"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h = size
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


class _GradTimesInput:
    """A stand-in explainer: attributions = input * d logit[target] / d input."""

    def __init__(self, model):
        self.model = model

    def attribute(self, inputs, target):
        x = inputs.detach().requires_grad_(True)
        out = self.model(x)
        picked = corefw.gather(out, 1, target.reshape(-1, 1)).sum()
        (grad,) = corefw.autograd.grad(picked, x)
        return x.detach() * grad


def test_pictures_through_the_registry(tmp_path, monkeypatch, capsys):
    class Other(_GradTimesInput):
        def attribute(self, inputs, target):
            raise AssertionError("integrated_gradients must be preferred")

    registry = {"other": Other, "integrated_gradients": _GradTimesInput}
    monkeypatch.setattr(corefw, "explainers", lambda: dict(registry))
    assert demo.main([*QUICK[:-1], "--output", str(tmp_path)]) == 0
    path = tmp_path / "attributions_cnn_integrated_gradients.png"  # model name: no clashes
    assert str(path) in capsys.readouterr().out
    img = _read_png(path)
    assert img.shape == (16 * 8, 8 * 9 * 8, 3)  # 2 rows of 8x8 tiles, 1-pixel gaps, x8
    # the top row shows the inputs: the first 8 test digits, grey, scaled to the largest pixel
    _, test = demo.make_splits()
    x = np.stack([test[i][0].numpy()[0] for i in range(8)])
    expect = np.round(x / x.max() * 255).astype(np.uint8)
    for i in range(8):
        tile = img[:64, i * 72:i * 72 + 64, 0][::8, ::8]
        np.testing.assert_array_equal(tile, expect[i])
    # attributions: white where zero; pixels that are 0 in the input have 0 attribution
    bottom = img[64:, :64][::8, ::8]
    assert (bottom[x[0] == 0] == 255).all() and (bottom[x[0] != 0] != 255).any()


def test_plugin_picture_hook_is_used(tmp_path, monkeypatch):
    calls = []

    class WithHook(_GradTimesInput):
        @staticmethod
        def save_pictures(explanation, inputs, path):
            calls.append((explanation.shape, inputs.shape, path))
            return [path + ".a", path + ".b"]

    monkeypatch.setattr(corefw, "explainers", lambda: {"saliency": WithHook})
    assert demo.main([*QUICK[:-1], "--output", str(tmp_path)]) == 0
    assert calls == [((8, 1, 8, 8), (8, 1, 8, 8),
                      os.path.join(str(tmp_path), "attributions_cnn_saliency.png"))]


def test_a_failing_explainer_is_a_warning(tmp_path, monkeypatch, capsys):
    class Broken(_GradTimesInput):
        def attribute(self, inputs, target):
            raise RuntimeError("boom")

    monkeypatch.setattr(corefw, "explainers", lambda: {"broken": Broken})
    assert demo.main([*QUICK[:-1], "--output", str(tmp_path)]) == 0
    assert "explainer failed (RuntimeError: boom)" in capsys.readouterr().err
    assert (tmp_path / "demo_cnn.safetensors").exists()


def test_save_pictures_accepts_an_object_with_attributions(tmp_path):
    class Explanation:
        attributions = corefw.tensor([[[[1.0, -1.0], [0.0, 0.5]]]])

    x = corefw.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
    path = demo.save_pictures(Explanation(), x, str(tmp_path / "p.png"), scale=1)
    img = _read_png(path)
    assert img.shape == (4, 3, 3)
    np.testing.assert_array_equal(img[:2, :2, 0], [[0, 255], [128, 64]])
    # +1 -> pure red, -1 -> pure blue, 0 -> white, +0.5 -> light red
    np.testing.assert_array_equal(img[2:, :2].reshape(4, 3),
                                  [[255, 0, 0], [0, 0, 255], [255, 255, 255], [255, 128, 128]])


def test_progress_bar_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = ["--epochs", "2", "--limit", "64", "--no-explain", "--output", str(tmp_path)]
    assert demo.main(args) == 0
    captured = capsys.readouterr()
    for field in ("training:", "epoch=2/2", "loss=", "acc=", "samples/s="):
        assert field in captured.err, captured.err
    assert "epoch 1/2: loss" in captured.out
    assert demo.main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "epoch 1/2" not in captured.out
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert demo.main(args) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "epoch 2/2: loss" in captured.out


@pytest.mark.slow
def test_default_run_reaches_97_percent(tmp_path):
    """The README's promise, with the default options (about 2 s of training on 2 idle cores;
    the time is reported, not asserted, since shared machines vary tenfold)."""
    assert demo.main(["--quiet", "--no-explain", "--output", str(tmp_path)]) == 0
    ckpt = corefw.load(tmp_path / "demo_cnn.safetensors")
    assert ckpt["epoch"] == demo.DEFAULTS["epochs"]
    assert ckpt["metrics"]["test_accuracy"] >= 0.97
    model = demo.build_model("cnn")
    model.load_state_dict(ckpt["model"])
    assert _accuracy(model, demo.make_splits()[1]) >= 0.97
