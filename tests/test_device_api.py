"""``corefw.cuda`` and ``corefw.accelerator``: answers without a cuda backend and with one (the
NumPy-backed fake of tests/fake_cuda.py), each in a fresh interpreter so the registered
backends are exactly the scenario's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

WITHOUT = """
import json
import corefw, corefw.cuda, corefw.accelerator
from corefw.errors import BackendUnavailableError
out = {}
out["avail"] = corefw.cuda.is_available()
out["count"] = corefw.cuda.device_count()
out["mem"] = [corefw.cuda.memory_allocated(), corefw.cuda.max_memory_allocated(),
              corefw.cuda.memory_reserved(), corefw.cuda.memory_stats()]
corefw.cuda.manual_seed(3); corefw.cuda.manual_seed_all(3)
corefw.cuda.synchronize(); corefw.cuda.empty_cache()
errors = []
for fn in (corefw.cuda.current_device, lambda: corefw.cuda.set_device(0),
           corefw.cuda.get_device_name, corefw.accelerator.current_device_index):
    try:
        fn()
    except BackendUnavailableError as e:
        errors.append(str(e))
out["errors"] = errors
out["acc"] = [corefw.accelerator.is_available(), corefw.accelerator.device_count(),
              str(corefw.accelerator.current_accelerator()),
              str(corefw.accelerator.current_accelerator(check_available=True)),
              corefw.accelerator.memory_allocated()]
corefw.accelerator.synchronize(); corefw.accelerator.empty_cache()
print(json.dumps(out))
"""

WITH_FAKE = """
import json, sys
sys.path.insert(0, "tests")
import fake_cuda
fake_cuda.pytest_configure(None)
import corefw, corefw.cuda, corefw.accelerator
out = {"avail": corefw.cuda.is_available(), "count": corefw.cuda.device_count(),
       "name": corefw.cuda.get_device_name(0), "current": corefw.cuda.current_device()}
corefw.manual_seed(0)
corefw.cuda.manual_seed(5)
a = corefw.randn(4, device="cuda").tolist()
corefw.cuda.manual_seed_all(5)
b = corefw.randn(4, device="cuda").tolist()
out["seeded"] = a == b
corefw.cuda.set_device("cuda:0")
with corefw.cuda.device(0):
    out["in_ctx"] = corefw.cuda.current_device()
try:
    corefw.cuda.set_device(3)
except Exception as e:
    out["bad_index"] = type(e).__name__ + ": " + str(e)
corefw.cuda.synchronize(); corefw.cuda.empty_cache()
out["mem"] = corefw.cuda.memory_allocated()
acc = corefw.accelerator.current_accelerator()
out["acc"] = [corefw.accelerator.is_available(), corefw.accelerator.device_count(), str(acc),
              acc == corefw.device("cuda"), corefw.accelerator.current_device_index()]
corefw.accelerator.set_device_index(0)
corefw.accelerator.synchronize(0)
print(json.dumps(out))
"""


def _run(code: str, **env: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("plugins", ["cpu", "cpu,cuda"])
def test_without_a_usable_cuda_backend(plugins):
    """Only the cpu plugin, or the cuda plugin too where it cannot run (skipped on a GPU)."""
    out = _run(WITHOUT, COREFW_PLUGINS=plugins)
    if plugins == "cpu,cuda" and out["avail"]:
        pytest.skip("a GPU is present: the cuda plugin is usable here")
    assert out["avail"] is False and out["count"] == 0
    assert out["mem"] == [0, 0, 0, {}]
    assert len(out["errors"]) == 4
    if plugins == "cpu":
        assert "no backend serves device type 'cuda'" in out["errors"][0]
        assert "no accelerator backend is installed" in out["errors"][3]
        assert out["acc"] == [False, 0, "None", "None", 0]
    else:  # PyTorch's answer on a CUDA build without a GPU
        assert "'cuda' is unavailable here" in out["errors"][0]
        assert out["acc"] == [False, 0, "cuda", "None", 0]


def test_with_a_cuda_backend():
    out = _run(WITH_FAKE, COREFW_PLUGINS="cpu")
    assert out["avail"] is True and out["count"] == 1 and out["current"] == 0
    assert out["name"] == "fake-cuda (numpy)"
    assert out["seeded"] and out["in_ctx"] == 0 and out["mem"] == 0
    assert "device index 3 does not exist" in out["bad_index"]
    assert out["acc"] == [True, 1, "cuda", True, 0]
