"""The cpu plugin passes the conformance kit, run exactly as a backend author runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _kit(args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COREFW_") and k != "PYTEST_ADDOPTS"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "corefw.testing.plugin",
                           "--pyargs", "corefw.testing.conformance", "-q",
                           "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cpu_is_conformant(tmp_path):
    report = tmp_path / "cpu.json"
    proc = _kit(["--corefw-backend=cpu", f"--corefw-report={report}"], tmp_path)
    print(proc.stdout[-12000:])  # the op x dtype matrix, shown with -s or on failure
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["summary"]["conformant"], "\n".join(rep["summary"]["reasons"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "corefw conformance matrix: device type 'cpu'" in proc.stdout
    assert "\nCONFORMANT\n" in proc.stdout  # the verdict line of the printed matrix
    # every primitive and composite of corefw has a case and passes in float32
    for op, row in rep["ops"].items():
        if row["core"] and op != "to_device":
            assert row["cells"]["float32"]["status"] in ("native", "decomposed", "n/a"), op
    assert rep["ops"]["matmul"]["cells"]["float32"]["status"] == "native"
    assert rep["backend"]["dtypes"][-1] == "float64"
    assert (tmp_path / "cpu.md").read_text(encoding="utf-8").startswith(
        "# corefw conformance: `cpu` (numpy)")


@pytest.mark.cuda
def test_cuda_is_conformant(tmp_path):
    """The cuda plugin passes the kit where a GPU is present (skipped with the reason
    elsewhere)."""
    report = tmp_path / "cuda.json"
    proc = _kit(["--corefw-backend=cuda", f"--corefw-report={report}"], tmp_path)
    print(proc.stdout[-12000:])
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["summary"]["conformant"], "\n".join(rep["summary"]["reasons"])
    assert proc.returncode == 0
