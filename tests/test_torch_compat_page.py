"""docs/torch-compat.md matches the code: the page is rebuilt from the committed list of
PyTorch's names (corefw/testing/torch_api_names.json, extracted by
benchmarks/torch_api_coverage.py where torch is installed) and corefw alone; a name added to
or removed from corefw without rebuilding it (``python benchmarks/torch_api_coverage.py``)
fails here."""

from __future__ import annotations

import corefw
from corefw.testing import torch_compat


def test_page_matches_the_code():
    page = torch_compat.PAGE.read_text(encoding="utf-8")
    assert page == torch_compat.render(), (
        "docs/torch-compat.md is stale: run `python benchmarks/torch_api_coverage.py`")


def test_a_removed_name_changes_the_page(monkeypatch):
    assert torch_compat.status("torch", "tensor_split")[0] == "✓"
    before = torch_compat.render()
    monkeypatch.delattr(corefw, "tensor_split")
    assert torch_compat.status("torch", "tensor_split")[0] == "✗"
    assert torch_compat.render() != before


def test_differs_and_missing_notes_name_listed_names():
    names = torch_compat.load_names()["namespaces"]
    for ns, name in list(torch_compat.DIFFERS) + list(torch_compat.MISSING_NOTES):
        assert name in names[ns], f"{ns}.{name} is noted but not in the list of names"


def test_coverage_reaches_the_bar():
    sums = torch_compat.summary()
    have = sum(h for h, _ in sums.values())
    total = sum(t for _, t in sums.values())
    assert have / total >= 0.95, sums
    # every namespace the issue lists is measured
    assert set(sums) == {"torch", "Tensor", "nn", "nn.functional", "optim",
                         "optim.lr_scheduler", "utils.data", "linalg", "autograd"}
