"""corefw-jax passes corefw's conformance kit, run as a backend author runs it (the kit
starts in the background when collection is done: conftest.py)."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("jax", reason="jax is not installed (pip install 'corefw-jax[jax]')")
pytest.importorskip("corefw_jax", reason="corefw-jax is not installed")


@pytest.mark.skipif(os.environ.get("COREFW_JAX_KIT") != "1", reason=(
    "the whole kit on jax still takes about 8 min of CPU on a 2-core machine (one XLA "
    "compile per result it reads, on new shapes), more than fits beside the suite in CI's "
    "budget: run it with COREFW_JAX_KIT=1 (plugins/jax/STATUS.md)"))
def test_jax_is_conformant(jax_kit):
    proc = jax_kit["proc"]
    try:
        proc.wait(timeout=1800)
    finally:
        jax_kit["log"].close()
    out = (jax_kit["dir"] / "kit.log").read_text(encoding="utf-8")
    print(out[-12000:])  # the op x dtype matrix, shown with -s or on failure
    rep = json.loads(jax_kit["report"].read_text(encoding="utf-8"))
    assert rep["summary"]["conformant"], "\n".join(rep["summary"]["reasons"])
    assert proc.returncode == 0, out[-3000:]
    assert "corefw conformance matrix: device type 'jax'" in out
    assert "\nCONFORMANT\n" in out
    for op in ("conv2d", "conv2d_grad_input", "conv2d_grad_weight", "max_pool2d",
               "max_pool2d_grad_input", "avg_pool2d", "avg_pool2d_grad_input"):
        assert rep["ops"][op]["cells"]["float32"]["status"] == "native", op
