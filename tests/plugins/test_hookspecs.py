"""Every hook is typed, documented in its docstring and in docs/hooks.md (datasette's test)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from corefw.plugins import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def _hooks() -> list[str]:
    return sorted(name for name, obj in vars(hookspecs).items()
                  if callable(obj) and hasattr(obj, "corefw_spec"))


def test_hook_order_lists_every_hook_once():
    assert sorted(hookspecs.HOOK_ORDER) == _hooks()
    assert len(_hooks()) == 7


@pytest.mark.parametrize("hook", _hooks())
def test_hookspec_has_docstring_and_types(hook):
    fn = getattr(hookspecs, hook)
    doc = inspect.getdoc(fn) or ""
    assert len(doc) > 80, f"hookspec {hook} needs a docstring"
    assert "register(" in doc, f"{hook}'s docstring must show its register callback"
    params = inspect.signature(fn).parameters
    assert list(params) == ["register"]
    assert params["register"].annotation != inspect.Parameter.empty
    assert inspect.signature(fn).return_annotation == "None"


@pytest.mark.parametrize("hook", _hooks())
def test_hook_is_documented_in_hooks_md(hook):
    text = DOCS.read_text(encoding="utf-8")
    assert re.search(rf"^## {hook}\(register\)$", text, re.M), \
        f"docs/hooks.md needs a '## {hook}(register)' section"


def test_hooks_md_documents_no_hook_that_does_not_exist():
    text = DOCS.read_text(encoding="utf-8")
    documented = re.findall(r"^## (register_\w+)\(", text, re.M)
    assert sorted(documented) == _hooks()
