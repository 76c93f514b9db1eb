"""Every backend example in the docs is a real backend: each block marked
``<!-- backend-example: DEVICE ... -->`` becomes a package (its definitions only: imports,
functions, classes, constants), is installed as a user would (no build isolation, no
dependencies, no network, a fresh target), and the conformance kit runs on its device type in a
subprocess with ``COREFW_STRICT_PLUGINS=1``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "plugins.md", ROOT / "docs" / "hooks.md")
_MARK = re.compile(r"^<!--\s*backend-example:\s*(\w+)\b.*-->\s*$")
#: names the doc pages import in earlier blocks
_HEADER = ("import numpy as np\n\nimport corefw\nimport corefw.backend\n"
           "from corefw.plugins import hookimpl, register_plugin\n\n")
#: the kit's ops: all primitives for a backend written from scratch, a sample (plus the
#: kernels the example adds) for one built on the toolkit, which corefw-cpu's run covers
_SAMPLE = "add,mul,matmul,sum,softmax,gelu,gather,scatter_add,index,index_put,copy_,cat,where"

pytestmark = pytest.mark.slow


def _examples() -> dict[str, str]:
    """device type -> the code of the block marked with it."""
    out = {}
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = _MARK.match(line)
            if not m:
                continue
            assert lines[i + 1] == "```python", f"{path.name}:{i + 1}: no python block follows"
            end = lines.index("```", i + 2)
            out[m.group(1)] = "\n".join(lines[i + 2:end]) + "\n"
    return out


def _definitions(code: str) -> tuple[str, str]:
    """The block's definitions as a module (no registration, prints or checks), and the name
    of its plugin class (the class that sets COREFW_PLUGIN_API)."""
    tree = ast.parse(code)
    keep, plugin = [], None
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign) and not any(isinstance(n, ast.Call)
                                                      for n in ast.walk(node.value)):
            keep.append(node)
        if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Assign) and any(getattr(t, "id", "") == "COREFW_PLUGIN_API"
                                                  for t in b.targets) for b in node.body):
            plugin = node.name
    assert plugin, "the example has no plugin class (one that sets COREFW_PLUGIN_API)"
    body = "\n\n\n".join(ast.get_source_segment(code, n) for n in keep)
    return _HEADER + body + "\n", plugin


def _package(root: Path, dev: str, code: str) -> Path:
    module, plugin = _definitions(code)
    pkg = root / f"src-{dev}"
    (pkg / f"docex_{dev}").mkdir(parents=True)
    (pkg / f"docex_{dev}" / "__init__.py").write_text(module, encoding="utf-8")
    target = f"docex_{dev}:{plugin}"
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "docex-{dev}"
        version = "0.0.1"

        [project.entry-points."corefw.plugins"]
        {dev} = "{target}"

        [project.entry-points."corefw.devices"]
        {dev} = "{target}"

        [tool.setuptools]
        packages = ["docex_{dev}"]
        """), encoding="utf-8")
    return pkg


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """device type -> the directory its example package is installed in."""
    root = tmp_path_factory.mktemp("doc-backends")
    procs, out = {}, {}
    for dev, code in _examples().items():
        out[dev] = root / f"site-{dev}"
        procs[dev] = subprocess.Popen(
            [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
             "--no-index", "--disable-pip-version-check", "-q", "--target", str(out[dev]),
             str(_package(root, dev, code))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    for dev, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"pip could not install the {dev} example:\n{err}"
    return out


def test_the_docs_mark_their_backend_examples():
    assert set(_examples()) == {"mydev", "scratch", "lazydev", "hooksdev"}


@pytest.mark.parametrize("dev", ["mydev", "scratch", "lazydev", "hooksdev"])
def test_doc_backend_passes_the_conformance_kit(dev, installed, tmp_path):
    from corefw.ops import PRIMITIVES

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COREFW_", "PYTEST_")) and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(installed[dev]), COREFW_STRICT_PLUGINS="1",
               OPENBLAS_NUM_THREADS="1")
    ops = ",".join(PRIMITIVES) if dev == "scratch" else _SAMPLE
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "corefw.testing.plugin", "--pyargs", "corefw.testing.conformance",
         f"--corefw-backend={dev}", f"--corefw-ops={ops}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert f"corefw conformance matrix: device type '{dev}'" in proc.stdout
