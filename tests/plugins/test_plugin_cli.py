"""The ``corefw`` command in-process: ``version``, ``demo`` forwarding, help."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

import corefw
from corefw import cli
from corefw.plugins import PLUGIN_API_VERSION


def test_version(capsys):
    assert cli.main(["version"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"corefw {corefw.__version__} (plugin API {PLUGIN_API_VERSION}")
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == text


def test_plugins_json_lists_builtin_and_cpu(capsys):
    assert cli.main(["plugins", "--json"]) == 0
    recs = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert recs["corefw.nn"]["status"] == "loaded" and recs["corefw.nn"]["builtin"]
    assert recs["cpu"]["distribution"] == "corefw-cpu"
    assert "cpu" in recs["cpu"]["registers"]["device_types"]


def test_demo_is_forwarded_with_its_arguments(monkeypatch):
    seen = []
    fake = types.ModuleType("corefw.demo")
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "corefw.demo", fake)
    assert cli.main(["demo", "--epochs", "2", "--help"]) == 7
    assert seen == [["--epochs", "2", "--help"]]


def test_missing_demo_gives_a_clear_message(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "corefw.demo", None)  # import raises ModuleNotFoundError
    assert cli.main(["demo"]) == 1
    assert "corefw/demo.py" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "plugins" in out and "demo" in out and "version" in out


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2


def test_console_script_points_at_cli_main():
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert re.search(r'^\[project\.scripts\]\ncorefw = "corefw\.cli:main"$', text, re.M)
