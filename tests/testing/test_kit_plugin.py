"""The kit's pytest plugin: options, report files, skips/xfails with XPASS, the one-line
conftest of a backend's own suite, and never being loaded into unrelated runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

KIT = ["--pyargs", "corefw.testing.conformance"]


def _pytest(args, cwd, pythonpath=None, timeout=300):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COREFW_") and k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def bootstrap_site(tmp_path_factory) -> Path:
    """A site directory holding only the kit's ``pytest11`` entry point, as corefw's own
    distribution declares it (``corefw-conformance = corefw.testing.bootstrap``)."""
    site = tmp_path_factory.mktemp("site")
    info = site / "corefw_kit_entry-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: corefw-kit-entry\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\ncorefw-conformance = corefw.testing.bootstrap\n")
    return site


def test_report_skips_xfails_and_xpass(tmp_path):
    skips = tmp_path / "skips.txt"
    skips.write_text("exp float32 xfail suspected slow exp\nrelu * skip fused kernel missing\n"
                     "seeding * skip no generator state on this device\n")
    report = tmp_path / "out" / "cpu.json"
    proc = _pytest(["-p", "corefw.testing.plugin", *KIT, "--corefw-backend=cpu",
                    "--corefw-ops=add,exp,relu", f"--corefw-skips={skips}",
                    f"--corefw-report={report}", "-rXs"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "XPASS" in proc.stdout and "test_op[exp-float32]" in proc.stdout
    assert "fused kernel missing" in proc.stdout
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["ops"]["exp"]["cells"]["float32"]["status"] == "xpass"
    assert rep["ops"]["exp"]["cells"]["float64"]["status"] == "native"
    assert rep["ops"]["relu"]["cells"]["float32"]["status"] == "skipped"
    assert rep["checks"]["seeding"]["status"] == "skip"
    assert rep["ops"]["matmul"]["cells"]["float32"]["status"] == "not run"
    assert not rep["summary"]["conformant"]  # skips and unrun ops are not conformance
    assert (tmp_path / "out" / "cpu.md").exists()
    assert "XPASS exp float32" in proc.stdout  # the matrix's own note: remove the line


def test_a_failure_fails_the_run(tmp_path):
    """A conftest that breaks one cpu kernel: the kit's run fails and names it."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import numpy as np
        import corefw.dispatch

        def pytest_configure(config):
            corefw.dispatch.register_kernels("cpu", {"tanh": lambda x: np.sin(x)},
                                             owner="saboteur", override=True)
    """))
    proc = _pytest(["-p", "corefw.testing.plugin", *KIT, "--corefw-backend=cpu",
                    "--corefw-ops=tanh,add"], tmp_path)
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "test_op[tanh-float32]" in proc.stdout
    assert "NOT CONFORMANT" in proc.stdout


def test_backend_is_required(tmp_path):
    proc = _pytest(["-p", "corefw.testing.plugin", *KIT], tmp_path)
    assert proc.returncode != 0
    assert "--corefw-backend=NAME" in proc.stdout + proc.stderr


def test_unknown_backend_names_the_installed_ones(tmp_path):
    proc = _pytest(["-p", "corefw.testing.plugin", *KIT, "--corefw-backend=nodev"], tmp_path)
    assert proc.returncode != 0
    assert "nodev" in proc.stdout + proc.stderr and "cpu" in proc.stdout + proc.stderr


def test_without_the_plugin_the_kit_says_how_to_load_it(tmp_path):
    # with the pytest11 entry point blocked, as where corefw is not installed as a package
    proc = _pytest(["-p", "no:corefw-conformance", *KIT], tmp_path)
    assert proc.returncode != 0
    assert "-p corefw.testing.plugin" in proc.stdout + proc.stderr


def test_with_the_entry_point_a_missing_backend_option_is_named(tmp_path):
    proc = _pytest([*KIT], tmp_path)
    assert proc.returncode != 0
    assert "--corefw-backend=NAME" in proc.stdout + proc.stderr


def test_documented_command_with_the_entry_point(tmp_path, bootstrap_site):
    """``python -m pytest --pyargs corefw.testing.conformance --corefw-backend=NAME``."""
    proc = _pytest([*KIT, "--corefw-backend=cpu", "--corefw-ops=add,matmul", "-q"], tmp_path,
                   pythonpath=bootstrap_site)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "corefw conformance matrix" in proc.stdout


def test_never_loaded_into_unrelated_runs(tmp_path, bootstrap_site):
    (tmp_path / "test_other.py").write_text(textwrap.dedent("""
        import sys

        def test_kit_absent(request):
            assert "corefw.testing.plugin" not in sys.modules
            assert not request.config.pluginmanager.has_plugin("corefw.testing.plugin")
    """))
    proc = _pytest(["-q"], tmp_path, pythonpath=bootstrap_site)
    assert proc.returncode == 0, proc.stdout[-2000:]
    helped = _pytest(["--help"], tmp_path, pythonpath=bootstrap_site)
    assert "--corefw-backend" not in helped.stdout


def test_one_line_conftest_in_a_backend_suite(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(
        'pytest_plugins = ["corefw.testing.plugin"]\n')
    (tmp_path / "tests" / "test_own.py").write_text("def test_own():\n    assert 1 + 1 == 2\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.pytest.ini_options]
        testpaths = ["tests"]
        corefw_backend = "cpu"
        corefw_ops = "add,softmax"
        corefw_report = "kit/cpu.json"
    """))
    proc = _pytest(["-v"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "tests/test_own.py::test_own PASSED" in proc.stdout
    assert "corefw.testing.conformance::test_op[softmax-float32] PASSED" in proc.stdout
    assert "corefw.testing.conformance::test_check[transfer] PASSED" in proc.stdout
    assert (tmp_path / "kit" / "cpu.json").exists() and (tmp_path / "kit" / "cpu.md").exists()
    alone = _pytest(["-q", "-p", "no:corefw.testing.plugin", "tests/test_own.py"], tmp_path)
    assert "test_conformance" not in alone.stdout


def test_packaging_declares_the_entry_point_and_templates():
    """corefw's distribution ships the bootstrap entry point and the plugin templates."""
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines()]
    start = lines.index("[project.entry-points.pytest11]")
    assert lines[start + 1].replace(" ", "") == '"corefw-conformance"="corefw.testing.bootstrap"'
    start = lines.index("[tool.setuptools.package-data]")
    data = [ln for ln in lines[start + 1:] if ln.startswith('"corefw.templates"')]
    assert data and '"**/*.tmpl"' in data[0], "corefw/templates/**/*.tmpl must be package data"
