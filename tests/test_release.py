"""The release artefacts work: corefw and every plugin build a wheel and an sdist whose
metadata validates, and the wheels (not editable installs) run the demo and the conformance
kit in a fresh virtual environment.

Nothing is downloaded: builds run without isolation (``python -m build --no-isolation``, the
``build`` and ``setuptools`` of the ``testing`` extra), packages install with ``--no-index
--no-deps``, and the fresh environment sees only the third-party libraries corefw needs
(numpy, scipy, pluggy ...) through links to where this interpreter has them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source directory -> distribution name
PACKAGES = {".": "corefw", "plugins/cpu": "corefw-cpu", "plugins/cuda": "corefw-cuda",
            "plugins/xai": "corefw-xai", "plugins/jax": "corefw-jax",
            "examples/plugins/corefw-refdev": "corefw-refdev",
            "examples/plugins/corefw-extralayers": "corefw-extralayers",
            "examples/plugins/corefw-saliency": "corefw-saliency"}
#: what the fresh environment borrows from this one, with their dependencies: corefw's and
#: corefw-cpu's run-time libraries and pytest for the kit
BORROWED = ("numpy", "scipy", "pluggy", "safetensors", "tqdm", "packaging", "pytest")
_IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".venv",
                                 "corefw-output", ".ruff_cache")

pytestmark = pytest.mark.slow


def _copy_sources(src: str, dst: Path) -> None:
    """A clean copy to build from (building in the repository would leave build/ there)."""
    if src == ".":  # corefw itself: the package and what its pyproject names
        dst.mkdir(parents=True)
        shutil.copytree(ROOT / "corefw", dst / "corefw", ignore=_IGNORE)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / name, dst / name)
    else:
        shutil.copytree(ROOT / src, dst, ignore=_IGNORE)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> Path:
    """A directory with the wheel and the sdist of every package (the wheel built from the
    sdist, as ``python -m build`` does, so an incomplete sdist fails here)."""
    if importlib.util.find_spec("build") is None:
        pytest.fail("the 'build' package is missing: install corefw's testing extra")
    root = tmp_path_factory.mktemp("release")
    out = root / "dist"
    procs = {}
    for src in PACKAGES:
        tree = root / "src" / PACKAGES[src]
        _copy_sources(src, tree)
        procs[src] = subprocess.Popen(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(tree)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for src, proc in procs.items():
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"python -m build failed for {src}:\n{log[-3000:]}"
    return out


def _metadata(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(zf.read(name).decode())
        licenses = [n for n in zf.namelist() if ".dist-info/licenses/" in n]
    return {"msg": msg, "licenses": licenses}


def test_every_package_builds_a_wheel_and_an_sdist_with_complete_metadata(dists):
    from packaging.metadata import Metadata
    from packaging.specifiers import SpecifierSet

    core_version = None
    for dist in PACKAGES.values():
        stem = dist.replace("-", "_")
        (wheel,) = dists.glob(f"{stem}-*.whl")
        (sdist,) = dists.glob(f"{stem}-*.tar.gz")
        assert sdist.stat().st_size > 0
        meta = _metadata(wheel)
        msg = meta["msg"]
        # what PyPI (and twine check) validate: raises on a malformed field
        parsed = Metadata.from_email(str(msg), validate=True)
        assert parsed.name == dist
        assert msg["License-Expression"] == "Apache-2.0", dist
        assert any(n.endswith("/LICENSE") for n in meta["licenses"]), dist
        assert msg["Requires-Python"] == ">=3.10"
        assert msg["Description-Content-Type"] == "text/markdown" and msg.get_payload()
        urls = dict(u.split(", ", 1) for u in msg.get_all("Project-URL"))
        assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
        classifiers = msg.get_all("Classifier")
        assert "Programming Language :: Python :: 3.10" in classifiers
        if dist == "corefw":
            core_version = str(parsed.version)
        else:  # every plugin says which corefw releases it supports
            (req,) = [r for r in parsed.requires_dist or () if r.name == "corefw" and not r.marker]
            assert req.specifier, f"{dist} pins no corefw version range"
            ranges = SpecifierSet(str(req.specifier))
            assert core_version is None or core_version in ranges
            assert "0.1.0" in ranges and "1.0.0" not in ranges


def _closure(names) -> set[str]:
    """The installed distributions ``names`` and everything they require here."""
    from importlib import metadata

    from packaging.requirements import Requirement

    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for line in dist.requires or ():
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _link_farm(site: Path) -> None:
    """Make BORROWED (and what they need) importable in the fresh environment, nothing else:
    links to each distribution's top-level packages and its .dist-info."""
    from importlib import metadata

    wanted = _closure(BORROWED)
    for dist in metadata.distributions():
        if dist.metadata["Name"].lower().replace("_", "-") not in wanted:
            continue
        tops = {Path(str(f)).parts[0] for f in dist.files or ()}
        base = Path(dist.locate_file(""))
        for top in tops:
            path = base / top
            if top.endswith((".pth", "..")) or top == "bin" or not path.exists():
                continue
            if not (site / top).exists():
                os.symlink(path, site / top)


def test_wheels_run_the_demo_and_the_kit_in_a_fresh_environment(dists, tmp_path):
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True,
                   timeout=120)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    _link_farm(site)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--no-deps", "--disable-pip-version-check", "-q", "--find-links", str(dists),
         "corefw", "corefw-cpu", "corefw-refdev"], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COREFW_", "PYTHON", "PYTEST_"))}
    env.update(COREFW_STRICT_PLUGINS="1", OPENBLAS_NUM_THREADS="1")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    where = run("-c", "import corefw, corefw_cpu, corefw_refdev, json; print(json.dumps("
                "[corefw.__file__, corefw_cpu.__file__, corefw_refdev.__file__]))")
    assert where.returncode == 0, where.stderr
    for path in where.stdout.strip()[2:-2].split('", "'):  # from the wheels, not the repo
        assert path.startswith(str(site)) and not path.startswith(str(ROOT)), path
    listing = run("-m", "corefw", "plugins")
    assert listing.returncode == 0, listing.stderr
    rows = {ln.split()[0]: ln for ln in listing.stdout.splitlines() if ln[:1].strip()}
    assert rows["cpu"].rstrip().endswith("loaded") and rows["refdev"].rstrip().endswith("loaded")
    demo = run("-m", "corefw", "demo", "--epochs", "1", "--limit", "256", "--quiet",
               "--output", str(tmp_path / "out"))
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "test accuracy" in demo.stdout.lower()
    kit = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
              "corefw.testing.conformance", "--corefw-backend=refdev",
              "--corefw-ops=add,matmul,softmax,gather,index_put",)
    assert kit.returncode == 0, kit.stdout[-3000:] + kit.stderr[-2000:]
    assert "corefw conformance matrix: device type 'refdev'" in kit.stdout
