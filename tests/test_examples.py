"""Smoke tests of ``examples/`` (a few steps each, as a user runs them) and checks of the
pieces they rely on: the WGAN-GP penalty (double backward) and the causal transformer."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import corefw

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script, args, expect", [
    ("mlp_digits.py", ["--steps", "3"], "test accuracy"),
    ("cnn_digits.py", ["--steps", "3"], "test accuracy"),
    ("gan_digits.py", ["--steps", "3"], "samples:"),
    ("gan_digits.py", ["--steps", "3", "--wgan-gp"], "samples:"),
    ("char_transformer.py", ["--steps", "3", "--sample", "20"], "a sample:"),
])
def test_example_runs(script, args, expect, tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 steps" in proc.stdout and expect in proc.stdout, proc.stdout
    assert list(tmp_path.iterdir()) == []  # examples write nothing into the working directory


def test_every_example_is_smoke_tested():
    tested = {"mlp_digits.py", "cnn_digits.py", "gan_digits.py", "char_transformer.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_gradient_penalty_closed_form():
    """For a linear critic w.x + b the input gradient is w everywhere: the penalty is
    (|w| - 1)^2 and its gradient with respect to w is 2 (|w| - 1) w / |w| (double backward)."""
    gan = _load("gan_digits")
    critic = corefw.nn.Sequential(corefw.nn.Flatten(), corefw.nn.Linear(64, 1))
    real, fake = corefw.rand(5, 1, 8, 8), corefw.rand(5, 1, 8, 8)
    gp = gan.gradient_penalty(critic, real, fake)
    gp.backward()
    w = critic[1].weight.detach().numpy().astype(np.float64).ravel()
    norm = np.sqrt((w * w).sum())
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-4)
    np.testing.assert_allclose(critic[1].weight.grad.numpy().ravel(), 2 * (norm - 1) * w / norm,
                               rtol=1e-4, atol=1e-6)
    assert critic[1].bias.grad is None or float(critic[1].bias.grad.abs().sum()) == 0.0


def test_gan_shapes():
    gan = _load("gan_digits")
    fake = gan.make_generator()(corefw.randn(3, gan.LATENT))
    assert fake.shape == (3, 1, 8, 8)
    assert 0.0 <= float(fake.min()) and float(fake.max()) <= 1.0
    assert gan.make_critic()(fake).shape == (3, 1)
    assert len(gan.show(fake).splitlines()) == 8


def test_char_transformer_is_causal():
    """Changing the last character leaves the logits of every earlier position unchanged."""
    ct = _load("char_transformer")
    model = ct.CharTransformer(vocab=11, block=12, d_model=16, nhead=2, layers=2).eval()
    a = corefw.randint(0, 11, (2, 12))
    b = a.clone()
    b[:, -1] = (a[:, -1] + 1) % 11
    with corefw.no_grad():
        la, lb = model(a).numpy(), model(b).numpy()
    assert la.shape == (2, 12, 11)
    np.testing.assert_allclose(la[:, :-1], lb[:, :-1], rtol=1e-6, atol=1e-6)
    assert np.abs(la[:, -1] - lb[:, -1]).max() > 1e-3


def test_sonnets_text_is_shipped():
    text = (EXAMPLES / "data" / "sonnets.txt").read_text(encoding="utf-8")
    assert len(text) > 5000 and "Shall I compare thee to a summer's day?" in text
    assert text.isascii()
    assert math.log2(len(set(text))) < 7  # a small character vocabulary
