"""``corefw new-plugin`` writes packages that install and pass their own tests as generated."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from corefw.new_plugin import KINDS, main, render


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """kind -> (package directory, install target), each installed without build isolation,
    dependencies or network into a fresh directory."""
    root = tmp_path_factory.mktemp("new-plugin")
    out, procs = {}, {}
    for kind in KINDS:
        pkg, target = root / f"pkg-{kind}", root / f"site-{kind}"
        assert main([f"kit{kind}", "--kind", kind, "--output", str(pkg)]) == 0
        out[kind] = (pkg, target)
        procs[kind] = subprocess.Popen(
            [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
             "--no-index", "--disable-pip-version-check", "-q", "--target", str(target),
             str(pkg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for kind, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"pip could not install the {kind} package:\n{stderr}"
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_generated_package_passes_its_tests(kind, generated):
    pkg, target = generated[kind]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COREFW_") and k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=pkg, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert (target / f"corefw_kit{kind}" / "__init__.py").exists()
    if kind == "backend":  # its suite includes the conformance kit on the new device type
        assert "corefw conformance matrix: device type 'kitbackend'" in proc.stdout
        assert "\nCONFORMANT" in proc.stdout
        assert (pkg / "conformance" / "kitbackend.json").exists()


def test_files_and_names(tmp_path, capsys):
    assert main(["corefw-my-dev", "--kind", "backend", "--output", str(tmp_path / "p")]) == 0
    files = {str(p.relative_to(tmp_path / "p")) for p in (tmp_path / "p").rglob("*")
             if p.is_file()}
    assert files == {"pyproject.toml", "README.md", "conformance-skips.txt",
                     "corefw_my_dev/__init__.py", "corefw_my_dev/backend.py",
                     "tests/conftest.py", "tests/test_my_dev.py", ".github/workflows/test.yml"}
    meta = (tmp_path / "p" / "pyproject.toml").read_text()
    assert 'name = "corefw-my-dev"' in meta and 'my_dev = "corefw_my_dev"' in meta
    devices = meta.split('[project.entry-points."corefw.devices"]\n', 1)[1]
    assert devices.startswith('my_dev = "corefw_my_dev"\n')  # it owns its device type
    workflow = (tmp_path / "p" / ".github" / "workflows" / "test.yml").read_text()
    assert "corefw-my-dev's CI" in workflow and 'pip install ".[test]"' in workflow
    assert "python -m pytest" in workflow and "${{ matrix.python-version }}" in workflow
    test = (tmp_path / "p" / "tests" / "test_my_dev.py").read_text()
    assert "corefw.plugins.backends()" in test and "corefw.dispatch" not in test
    assert "{{" not in meta and "next: cd" in capsys.readouterr().out
    init = (tmp_path / "p" / "corefw_my_dev" / "__init__.py").read_text()
    assert 'COREFW_PLUGIN_API = ">=1,<2"' in init and "class" not in init


def test_refusals(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    assert main(["ok", "--kind", "layers", "--output", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    assert main(["9lives", "--kind", "layers", "--output", str(tmp_path / "a")]) == 2
    assert "lowercase identifier" in capsys.readouterr().err
    assert main(["cpu", "--kind", "backend", "--output", str(tmp_path / "b")]) == 2
    with pytest.raises(SystemExit):
        main(["x", "--kind", "compiler"])
    with pytest.raises(ValueError, match="must be one of"):
        render("x", "compiler", tmp_path / "c")


def test_generated_code_is_lint_clean(generated):
    """As its own project would lint it: ruff with corefw's rule set, nothing else."""
    import shutil

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    for kind, (pkg, _) in generated.items():
        proc = subprocess.run([ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP",
                               "--line-length", "100", "."], cwd=pkg, capture_output=True,
                              text=True)
        assert proc.returncode == 0, f"{kind}:\n{proc.stdout}"
