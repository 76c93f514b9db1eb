"""The core is one straight line of layers with no import cycle (pyproject.toml's
import-linter contract, plus a cycle check over every core module)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the layers above the core (each may import the whole core)
ABOVE_CORE = ("corefw.nn", "corefw.optim", "corefw.data", "corefw.testing", "corefw.templates",
              "corefw.cli", "corefw.demo", "corefw._demo_pictures", "corefw.new_plugin",
              "corefw.__main__",
              "corefw._gen_tensor_methods", "corefw._gen_kernel_docs", "corefw.distributed",
              "corefw.utils",
              "corefw.cuda", "corefw.accelerator", "corefw.backends", "corefw._device_api",
              "corefw.compiler")


def test_the_layers_contract_is_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: install corefw's testing extra (import-linter)")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "0 broken" in proc.stdout, proc.stdout[-3000:]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycle_among_the_core_modules():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("corefw")
    core = {m for m in graph.modules if m != "corefw" and not m.startswith(ABOVE_CORE)}
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in core}
             for m in core}
    assert not _cycles(edges)


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
