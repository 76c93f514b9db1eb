"""The example third-party packages install into a fresh directory and pass their own tests;
the conformance kit passes the refdev and immut backends; the demo trains on them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
PACKAGES = ("corefw-refdev", "corefw-extralayers", "corefw-saliency", "corefw-immutable",
            "corefw-constfold")

SUITES = {"corefw-refdev": ("corefw-refdev",), "corefw-extralayers": ("corefw-extralayers",),
          "corefw-saliency": ("corefw-saliency",), "corefw-immutable": ("corefw-immutable",),
          "corefw-constfold": ("corefw-constfold",)}


@pytest.mark.parametrize("name", PACKAGES)
def test_package_is_complete(name):
    root = EXAMPLES / name
    meta = (root / "pyproject.toml").read_text(encoding="utf-8")
    section = meta.split('[project.entry-points."corefw.plugins"]\n', 1)[1].split("\n[", 1)[0]
    (module,) = re.findall(r'^\w+ = "([\w.]+)"$', section, re.M)
    assert not module.startswith("corefw."), "third-party code lives outside corefw's namespace"
    assert (root / module.split(".")[0] / "__init__.py").exists()
    assert (root / "README.md").read_text(encoding="utf-8").startswith(f"# {name}")
    assert list((root / "tests").glob("test_*.py")), f"{name} has no tests"
    assert f'\nname = "{name}"\n' in meta


def test_all_four_load_as_plugins(run):
    proc = run("-c", "import json\nfrom corefw.plugins import plugin_records\n"
               "print(json.dumps({r.name: [r.status, r.distribution, r.registered] for r in "
               "plugin_records()}))", packages=PACKAGES)
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout.strip().splitlines()[-1])
    assert records["refdev"][:2] == ["loaded", "corefw-refdev"]
    assert records["refdev"][2]["device_types"] == ["refdev"]
    assert records["extralayers"][2]["ops"] == ["rms_norm"]
    assert records["extralayers"][2]["layers"] == ["FusedRMSNorm", "SwiGLU"]
    assert records["saliency"][2]["explainers"] == ["gradient_x_input", "smoothgrad"]
    assert records["immutable"][:2] == ["loaded", "corefw-immutable"]
    assert records["immutable"][2]["device_types"] == ["immut"]
    assert records["constfold"][2]["compilers"] == ["constfold"]


@pytest.mark.parametrize("name", PACKAGES)
def test_own_test_suite_passes(name, installed, run):
    """Each package's suite as its author runs it; refdev's includes the conformance kit
    (its one-line conftest) and trains the demo CNN on refdev against cpu."""
    proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider", packages=SUITES[name],
               cwd=installed[name]["src"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    if name in ("corefw-refdev", "corefw-immutable"):
        device = {"corefw-refdev": "refdev", "corefw-immutable": "immut"}[name]
        assert "corefw conformance" in proc.stdout and "\nCONFORMANT\n" in proc.stdout
        assert (installed[name]["src"] / "conformance" / f"{device}.json").exists()


def test_conformance_kit_passes_refdev(run, tmp_path):
    """The documented command; the extra layer library's op joins the matrix."""
    report = tmp_path / "refdev.json"
    proc = run("-m", "pytest", "-p", "corefw.testing.plugin", "--pyargs",
               "corefw.testing.conformance", "--corefw-backend=refdev",
               f"--corefw-report={report}", "-q", "-p", "no:cacheprovider",
               packages=("corefw-refdev", "corefw-extralayers"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["summary"]["conformant"], rep["summary"]["reasons"]
    assert rep["backend"]["dtypes"] == ["bool", "int32", "int64", "float32", "float64"]
    ops = rep["ops"]
    assert ops["add"]["cells"]["float32"]["status"] == "native"
    assert ops["matmul"]["cells"]["int64"]["status"] == "native"
    assert ops["add"]["cells"]["float16"]["status"] == "n/a"
    for composite in ("softmax", "conv2d", "layer_norm", "cross_entropy",
                      "scaled_dot_product_attention"):
        assert ops[composite]["cells"]["float32"]["status"] == "decomposed", composite
    assert ops["rms_norm"]["core"] is False
    assert ops["rms_norm"]["cells"]["float64"]["status"] == "decomposed"
    assert rep["checks"]["errors-device"]["status"] == "pass"
    md = report.with_suffix(".md").read_text(encoding="utf-8")
    assert "**Conformant**" in md and "| `rms_norm` (plugin) |" in md


def test_demo_trains_on_refdev_and_explains(run, tmp_path):
    """``corefw demo --device refdev``: the demo CNN trains through refdev's own kernels."""
    code = f"""
import corefw
from corefw.demo import main

backend = corefw.plugins.backends()["refdev"]
calls, matmul = [0], backend.kernels["matmul"]

def counted(*args, **kwargs):
    calls[0] += 1
    return matmul(*args, **kwargs)

backend.kernels["matmul"] = counted  # before the device's kernel table is built
status = main(["--device", "refdev", "--epochs", "2", "--limit", "300", "--quiet",
               "--output", {str(tmp_path)!r}])
print("REFDEV-MATMULS", calls[0])
raise SystemExit(status)
"""
    proc = run("-c", code, packages=("corefw-refdev", "corefw-saliency"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy" in proc.stdout, proc.stdout
    assert int(proc.stdout.split("REFDEV-MATMULS")[1].split()[0]) > 50
    assert list(tmp_path.glob("*.safetensors")) and list(tmp_path.glob("*.png"))


def test_layers_and_explainer_on_refdev(run):
    """The layer library and the explainer, installed together, on the refdev device: a model
    with FusedRMSNorm and SwiGLU trains there, and its attributions match the same model's on
    cpu."""
    code = """
import numpy as np
import corefw
from corefw_extralayers import FusedRMSNorm, SwiGLU

corefw.manual_seed(0)
model = corefw.nn.Sequential(corefw.nn.Linear(6, 8), FusedRMSNorm(8), SwiGLU(8, 16),
                             corefw.nn.Linear(8, 3))
x, y = corefw.randn(32, 6), corefw.randint(0, 3, (32,))
explain = corefw.explainers()["gradient_x_input"]
on_cpu = explain(model).attribute(x, target=y).numpy()
model.to("refdev")
xr, yr = x.to("refdev"), y.to("refdev")
on_ref = explain(model).attribute(xr, target=yr)
assert on_ref.device.type == "refdev" and on_ref.shape == x.shape
np.testing.assert_allclose(on_ref.numpy(), on_cpu, rtol=1e-4, atol=1e-6)
opt = corefw.optim.Adam(model.parameters(), lr=1e-2)
losses = []
for _ in range(25):
    opt.zero_grad()
    loss = corefw.nn.functional.cross_entropy(model(xr), yr)
    loss.backward()
    opt.step()
    losses.append(loss.item())
assert losses[-1] < 0.6 * losses[0], losses
smooth = corefw.explainers()["smoothgrad"](model).attribute(
    xr, target=yr, samples=3, generator=corefw.Generator().manual_seed(0))
assert smooth.device.type == "refdev" and np.isfinite(smooth.numpy()).all()
print("LAYERS-EXPLAINER-OK")
"""
    proc = run("-c", code, packages=PACKAGES)
    assert proc.returncode == 0 and "LAYERS-EXPLAINER-OK" in proc.stdout, proc.stderr[-3000:]
