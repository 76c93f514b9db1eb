"""corefw-jax passes corefw's conformance kit, run as a backend author runs it, in a
subprocess beside the rest of the suite (conftest.py)."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("jax", reason="jax is not installed (pip install 'corefw-jax[jax]')")
pytest.importorskip("corefw_jax", reason="corefw-jax is not installed")


@pytest.mark.skipif(os.environ.get("COREFW_JAX_KIT") == "0", reason=(
    "COREFW_JAX_KIT=0: the kit on jax (about 3.5 min of CPU) was switched off"))
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
    for op in ("conv2d", "conv2d_grad_input", "conv2d_grad_weight", "max_pool2d", "argsort",
               "linalg_eigh", "linalg_svd", "linalg_qr", "linalg_slogdet",
               "max_pool2d_grad_input", "avg_pool2d", "avg_pool2d_grad_input"):
        assert rep["ops"][op]["cells"]["float32"]["status"] == "native", op
