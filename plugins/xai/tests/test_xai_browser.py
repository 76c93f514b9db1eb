"""The HTML report in a real headless browser (Debian's ``chromium``): it renders (the
screenshot is not blank, the embedded pictures are drawn) and logs no console message (no
script error, nothing blocked by the page's no-network policy).

Skips with the reason where chromium is not installed, except in CI (``CI=true``), where
``.ci/run`` installs it and its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import corefw_xai as X
import numpy as np
import pytest
from corefw_xai._png import read_png
from xai_models import T

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-default-apps", "--disable-sync",
         "--disable-extensions", "--no-first-run", "--no-default-browser-check",
         "--metrics-recording-only", "--disable-client-side-phishing-detection",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=900,700"]


@pytest.fixture(scope="module")
def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        reason = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs it, so CI must have it")
        pytest.skip(reason)
    return exe


def _shoot(exe: str, page, tmp_path) -> tuple[np.ndarray, list[str]]:
    """Screenshot of ``page`` and the console messages chromium logged while loading it."""
    shot = tmp_path / f"{os.path.basename(page)}.png"
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", f"file://{page}"],
                          capture_output=True, text=True, timeout=180, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return read_png(str(shot)), console


def test_report_renders_without_console_errors(chromium, tmp_path):
    w = T(np.random.default_rng(1).normal(size=(64, 3)))
    model = lambda v: v.reshape(v.shape[0], -1) @ w  # noqa: E731
    x = T(np.random.default_rng(2).uniform(size=(3, 1, 8, 8)))
    e = X.IntegratedGradients(model).attribute(x, target=[0, 1, 2], n_steps=8)
    page = tmp_path / "report.html"
    X.html_report(e, x, page, labels=["<b>one</b>", "two & three", "'four'"],
                  title="<script>alert(1)</script> report")
    img, console = _shoot(chromium, page, tmp_path)
    assert console == [], console
    rgb = img[..., :3].reshape(-1, 3).astype(int)
    assert np.mean(np.any(rgb < 200, 1)) > 0.01  # not blank: text and pictures were drawn
    reds = (rgb[:, 0] > 200) & (rgb[:, 2] < 120)
    blues = (rgb[:, 2] > 200) & (rgb[:, 0] < 120)
    assert reds.sum() > 50 and blues.sum() > 50  # the heatmaps and the legend were decoded


def test_text_report_renders_highlighted_tokens(chromium, tmp_path):
    from corefw_xai._text import CharTokenizer, LLMAttribution, TextTokenInput

    import corefw

    tok = CharTokenizer("_ab<&c")
    emb = corefw.tensor(np.random.default_rng(0).normal(size=(6, 6)))

    def lm(ids):  # next-token logits from the sum of embeddings
        return emb.index_select(0, ids.reshape(-1)).reshape(*ids.shape, 6).sum(1, keepdim=True)

    res = LLMAttribution(X.FeatureAblation(lm), tok).attribute(TextTokenInput("ab<&c", tok),
                                                                target="ca")
    page = res.save_html(tmp_path / "text.html", title="<i>tokens</i>")
    img, console = _shoot(chromium, page, tmp_path)
    assert console == [], console
    rgb = img[..., :3].reshape(-1, 3).astype(int)
    coloured = (np.abs(rgb[:, 0] - rgb[:, 2]) > 60).sum()
    assert coloured > 200  # highlighted token backgrounds were drawn


def test_the_console_check_catches_errors(chromium, tmp_path):
    """The detector itself: a page with a script error and a blocked load is reported."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
                    "content=\"img-src data:\"></head><body><p>x</p>"
                    "<img src='http://example.invalid/a.png'>"
                    "<script>console.error('boom'); missing();</script></body></html>")
    _, console = _shoot(chromium, page, tmp_path)
    text = "\n".join(console)
    assert "boom" in text and "missing is not defined" in text and "example.invalid" in text
