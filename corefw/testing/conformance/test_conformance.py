"""One test per (op, dtype) the backend declares and one per check; see :mod:`corefw.testing`.

Each test records its result in the kit's report; the plugin prints the op x dtype matrix at
the end of the run and writes it with ``--corefw-report=PATH.json``.
"""

from __future__ import annotations

import pytest


def test_op(corefw_kit, corefw_cell):
    """Forward against the float64 reference, backward against finite differences, every
    variant (0-d, empty, broadcast, non-contiguous, large ...) of every case of the op."""
    op, dtype = corefw_cell
    cell = corefw_kit.run_cell(op, dtype)
    if cell.status == "untested":
        if op in corefw_kit.core_ops:
            pytest.fail(f"{cell.reason}: a corefw op without a case is never passed "
                        f"silently; add one with corefw.testing.register_case")
        pytest.skip(f"{cell.reason} (an op from a plugin; register a case to test it)")
    if cell.status in ("skip", "n/a"):
        pytest.skip(cell.reason)
    if cell.status in ("fail", "xfail"):
        pytest.fail(f"{op} in {dtype} ({cell.impl}):\n  " + "\n  ".join(cell.failures),
                    pytrace=False)


def test_check(corefw_kit, corefw_check):
    """Transfers, seeded reproducibility and error behaviour."""
    res = corefw_kit.run_check(corefw_check)
    if res.status in ("skip", "n/a"):
        pytest.skip(res.reason)
    if res.status in ("fail", "xfail"):
        pytest.fail(f"{corefw_check}: {res.reason}", pytrace=False)
