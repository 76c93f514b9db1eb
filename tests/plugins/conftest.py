"""Fixtures for the plugin tests: real distributions, installed once, used in subprocesses.

Each directory under ``dists/`` is a distribution with its own pyproject.toml. The session
fixture copies it (so the build leaves nothing in the repository), installs it with pip into
its own target directory (no network, no dependencies), and tests run ``python`` with
``PYTHONPATH`` listing the distributions they want, so ``importlib.metadata`` finds their
entry points exactly as for a pip-installed plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).parent
DISTS = ("toy", "broken", "future", "toydup", "lazy", "impostor", "hazards", "rival",
         "rival2")

_PRELUDE = """\
import json, warnings
warnings.simplefilter("always")
caught = []
warnings.showwarning = lambda message, category, *a, **k: caught.append(
    [category.__name__, str(message)])
import corefw
out = {}
"""
_POSTLUDE = """
out["warnings"] = [m for c, m in caught if c == "PluginWarning"]
print("@@RESULT@@" + json.dumps(out))
"""


@pytest.fixture(scope="session")
def dist_paths(tmp_path_factory) -> dict[str, Path]:
    """name -> directory where that fixture distribution is installed."""
    root = tmp_path_factory.mktemp("corefw-plugin-dists")
    procs = {}
    for name in DISTS:
        src = root / f"src-{name}"
        shutil.copytree(HERE / "dists" / name, src, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__"))
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
             "--no-index", "--disable-pip-version-check", "-q", "--target", str(root / name),
             str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"pip could not install dists/{name}:\n{stdout}\n{stderr}"
    return {name: root / name for name in DISTS}


def _env(paths: dict[str, Path], dists: Sequence[str], env: dict | None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("COREFW_")}
    entries = [str(paths[d]) for d in dists]
    if os.environ.get("PYTHONPATH"):
        entries.append(os.environ["PYTHONPATH"])
    out["PYTHONPATH"] = os.pathsep.join(entries)
    out.update(env or {})
    return out


@pytest.fixture(scope="session")
def run_python(dist_paths) -> Callable[..., subprocess.CompletedProcess]:
    """``run_python(*args, dists=(), env=None)``: ``python *args`` with those dists on the
    path and no inherited ``COREFW_*`` variables."""

    def run(*args: str, dists: Sequence[str] = (), env: dict | None = None):
        return subprocess.run([sys.executable, *args], env=_env(dist_paths, dists, env),
                              capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture(scope="session")
def snippet(run_python) -> Callable[..., dict]:
    """``snippet(code, dists=(), env=None)``: run ``code`` after ``import corefw`` (with
    warnings recorded) in a fresh interpreter; returns its ``out`` dict, with the
    PluginWarning messages under ``"warnings"``."""

    def run(code: str, dists: Sequence[str] = (), env: dict | None = None) -> dict:
        proc = run_python("-c", _PRELUDE + textwrap.dedent(code) + _POSTLUDE, dists=dists,
                          env=env)
        assert proc.returncode == 0, f"snippet failed:\n{proc.stdout}\n{proc.stderr}"
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")][-1]
        return json.loads(line[len("@@RESULT@@"):])

    return run


@pytest.fixture(scope="session")
def listing(run_python) -> Callable[..., dict]:
    """``listing(dists, env=None)``: ``python -m corefw plugins --json`` as {name: record}."""

    def run(dists: Sequence[str], env: dict | None = None) -> dict:
        proc = run_python("-m", "corefw", "plugins", "--json", dists=dists, env=env)
        assert proc.returncode == 0, proc.stderr
        return {rec["name"]: rec for rec in json.loads(proc.stdout)}

    return run
