"""The documentation works: every ```python block of README.md, docs/*.md and the plugins'
READMEs runs, the README starts with the two commands CI runs, and links between the pages
resolve.

Each Markdown file's python blocks run in order in one namespace, in a fresh interpreter whose
working directory is an empty temporary directory. A block may be skipped only when the line
before it (blank lines aside) is ``<!-- not-tested: the reason -->``. A failure's traceback
names the Markdown file and line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: the pages whose examples run and whose links resolve: the docs and each plugin's README
RUN_FILES = [*DOC_FILES, *sorted(ROOT.glob("plugins/*/README.md"))]

_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
_SKIP = re.compile(r"^\s*<!--\s*not-tested:(.*?)-->\s*$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")

_RUNNER = """
import json, sys
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
for block in blocks:
    # pad with newlines so tracebacks show the Markdown file's own line numbers
    source = "\\n" * (block["line"] - 1) + block["code"]
    exec(compile(source, block["file"], "exec"), namespace)
"""


@dataclass
class Block:
    """A fenced code block: its language, first code line (1-based), code and skip reason."""

    lang: str
    line: int
    code: str
    skip: str | None


def code_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the reason of a ``not-tested`` comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path}:{i + 1}: a ``` fence that is never closed")
        prev = i - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        skip = _SKIP.match(lines[prev]) if prev >= 0 else None
        code = textwrap.dedent("\n".join(lines[i + 1:end])) + "\n"
        blocks.append(Block(m.group(2), i + 2, code, skip.group(1).strip() if skip else None))
        i = end + 1
    return blocks


def python_blocks(path: Path) -> list[Block]:
    return [b for b in code_blocks(path) if b.lang in ("python", "py", "python3")]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", RUN_FILES, ids=_id)
def test_python_blocks_run(path, tmp_path):
    blocks = python_blocks(path)
    run = [{"file": str(path), "line": b.line, "code": b.code} for b in blocks if b.skip is None]
    if not run:
        pytest.skip(f"{_id(path)} has no tested python blocks")
    spec = tmp_path / "blocks.json"
    spec.write_text(json.dumps(run), encoding="utf-8")
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(spec)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"a python block of {_id(path)} failed:\n{proc.stderr[-4000:]}")


def test_skipped_blocks_give_a_reason():
    for path in RUN_FILES:
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if "not-tested" in line:
                m = _SKIP.match(line)
                assert m and m.group(1).strip(), (
                    f"{_id(path)}:{n}: write <!-- not-tested: the reason --> on its own line")


def test_block_parser(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("text\n```python\na = 1\n```\n\n<!-- not-tested: needs a GPU -->\n\n"
                  "```python\nimport cupy\n```\n- item\n  ```python\n  b = a + 1\n  ```\n"
                  "```bash\nls\n```\n", encoding="utf-8")
    blocks = python_blocks(md)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (3, "a = 1\n", None), (9, "import cupy\n", "needs a GPU"), (13, "b = a + 1\n", None)]


def test_a_failing_block_fails_the_test(tmp_path):
    """The runner is not vacuous: an exception in a block gives a non-zero status and names
    the Markdown line."""
    spec = tmp_path / "blocks.json"
    spec.write_text(json.dumps([{"file": "doc.md", "line": 7, "code": "x = 1\n"},
                                {"file": "doc.md", "line": 12, "code": "\nassert x == 2\n"}]))
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(spec)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert 'File "doc.md", line 13' in proc.stderr and "AssertionError" in proc.stderr


# --- README: the two commands, CI, links ------------------------------------------------------


def _readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert _FENCE.match(lines[0]), "README.md must start with the fenced install commands"
    end = lines.index("```", 1)
    return lines[1:end]


def test_readme_starts_with_the_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.startswith("python3 -m pip install ") and demo.endswith(" && corefw demo")
    assert tests.startswith("python3 -m pip install ") and tests.endswith(" && python3 -m pytest")
    assert '-e ".[testing]"' in tests  # quoted: an unquoted [..] is a glob in zsh


def _editable_targets(command: str) -> list[str]:
    words = shlex.split(command.split("&&")[0])
    return [words[i + 1] for i, w in enumerate(words) if w == "-e"]


def test_readme_commands_install_the_core_and_every_plugin():
    plugins = sorted(f"plugins/{p.parent.name}" for p in ROOT.glob("plugins/*/pyproject.toml"))
    assert "plugins/cpu" in plugins
    for command in _readme_commands():
        targets = _editable_targets(command)
        assert targets[0].split("[")[0] == ".", targets
        assert sorted(t.split("[")[0] for t in targets[1:]) == plugins, (
            f"README: {command!r} must install every plugin under plugins/: {plugins}")
        for target in targets[1:]:
            assert (ROOT / target.split("[")[0] / "pyproject.toml").exists()


def test_ci_runs_the_readme_test_command():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    lines = [ln.strip() for ln in script.read_text(encoding="utf-8").splitlines()]
    assert lines[0] in ("#!/usr/bin/env bash", "#!/bin/bash")
    assert "set -euo pipefail" in lines
    code = [ln for ln in lines if ln and not ln.startswith("#")]
    assert code[-1] == _readme_commands()[1]


def _links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code are not links
    return [m.group(1) for m in _LINK.finditer(text)]


@pytest.mark.parametrize("path", RUN_FILES, ids=_id)
def test_relative_links_resolve(path):
    for link in _links(path):
        if re.match(r"^[a-z]+:", link) or link.startswith("#"):
            continue
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"{_id(path)}: broken link {link!r}"


def test_docs_index_lists_every_page():
    linked = {(ROOT / "docs" / link.split("#")[0]).resolve()
              for link in _links(ROOT / "docs" / "index.md")}
    missing = [p.name for p in DOC_FILES[1:] if p.name != "index.md" and p.resolve() not in linked]
    assert not missing, f"docs/index.md does not link {missing}"
