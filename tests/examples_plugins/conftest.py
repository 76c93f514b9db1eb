"""The example third-party packages under examples/plugins/, installed as a user would.

Each package is copied (so its build leaves nothing in the repository) and installed with
``pip install --no-build-isolation --no-deps --no-index --target DIR``: no network, nothing
resolved beyond what is installed, one fresh directory per package. Tests run ``python`` in a
subprocess with ``PYTHONPATH`` listing the packages they want, so corefw finds their entry
points exactly as for a pip-installed plugin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
PACKAGES = ("corefw-refdev", "corefw-extralayers", "corefw-saliency", "corefw-immutable",
            "corefw-constfold")


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """name -> {"src": a copy of the package's sources, "target": where it is installed}."""
    root = tmp_path_factory.mktemp("corefw-example-plugins")
    out, procs = {}, {}
    for name in PACKAGES:
        src = root / "src" / name
        shutil.copytree(EXAMPLES / name, src, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", "conformance"))
        target = root / "site" / name
        out[name] = {"src": src, "target": target}
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
             "--no-index", "--disable-pip-version-check", "-q", "--target", str(target),
             str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"pip could not install {name}:\n{stdout}\n{stderr}"
    return out


@pytest.fixture(scope="session")
def run(installed) -> Callable[..., subprocess.CompletedProcess]:
    """``run(*args, packages=(), cwd=None)``: ``python *args`` with those packages
    importable (and no inherited ``COREFW_*`` settings)."""

    def go(*args: str, packages: Sequence[str] = (), cwd=None, timeout: int = 240):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("COREFW_") and k != "PYTEST_ADDOPTS"}
        paths = [str(installed[p]["target"]) for p in packages]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=timeout)

    return go
