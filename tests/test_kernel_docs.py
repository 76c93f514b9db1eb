"""docs/kernels.md is generated from the op declarations and must be current."""

from __future__ import annotations

from corefw import _gen_kernel_docs
from corefw._registry import OPS
from corefw.ops.primitives import PRIMITIVES


def test_the_kernel_reference_is_current():
    on_disk = _gen_kernel_docs.TARGET.read_text(encoding="utf-8")
    assert on_disk == _gen_kernel_docs.render(), (
        "docs/kernels.md is out of date: run `python -m corefw._gen_kernel_docs`")


def test_it_lists_every_primitive_with_its_kernel_signature():
    text = _gen_kernel_docs.render()
    assert f"## Primitives ({len(PRIMITIVES)})" in text
    for name in PRIMITIVES:
        assert f"| `{name}` | `{name}(" in text, name
    assert "`index_put(x, values, *, key, accumulate)`" in text
    assert "`pad(x, *, pad, value)`" in text
    assert all(f"`{n}`" in text for n, op in OPS.items() if op.owner == "corefw")
