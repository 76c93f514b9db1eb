"""The one op test table (:mod:`corefw.testing`), run row by row: every case in every variant
(0-d, empty, broadcast, scalar, non-contiguous, strided, large ...) and dtype, forward against
its float64 reference and backward against float64 finite differences of the reference; the
second derivative of the cases marked for it; every composite through its decomposition.

The conformance kit runs the same rows per backend; this file is where corefw's own suite runs
them. Add an op's rows to ``corefw/testing/cases*.py``, not here.
"""

from __future__ import annotations

import pytest

import corefw.dispatch
from corefw.ops import OPS
from corefw.testing import table
from corefw.testing.cases import NotApplicable


def _devices() -> list:
    """cpu, and cuda where it is available (else one visible skip, not a skip per row)."""
    backend = corefw.dispatch.backends().get("cuda")
    if backend is not None and backend.is_available():
        return ["cpu", "cuda"]
    return ["cpu"]


DEVICES = _devices()
ROWS = [(d, r) for d in DEVICES for r in table.rows()]


def _id(item) -> str:
    device, row = item
    return f"{device}-{row.id}"


def _run(check, device, *args):
    try:
        check(table.context(device), *args)
    except NotApplicable as why:
        pytest.skip(str(why))


@pytest.mark.parametrize("item", ROWS, ids=_id)
def test_row(item):
    device, row = item
    if row.dtype not in table.context(device).dtypes:
        pytest.skip(f"{device} does not declare {row.dtype}")
    _run(table.check_row, device, row)


GRADGRAD = [(d, c, v) for d in DEVICES for c in table.all_cases() if c.gradgrad
            for v in c.variants if v in ("basic", "scalar", "broadcast")]


@pytest.mark.parametrize("item", GRADGRAD, ids=lambda i: f"{i[0]}-{i[1].name}-{i[2]}")
def test_second_derivative(item):
    device, case, variant = item
    _run(table.check_gradgrad, device, case, variant)


DECOMPOSED = [(d, r) for d, r in ROWS if r.dtype == "float64" and r.variant != "large"
              and r.case.op in OPS and OPS[r.case.op].decomposition is not None]


@pytest.mark.parametrize("item", DECOMPOSED, ids=_id)
def test_composite_through_its_decomposition(item):
    device, row = item
    _run(table.check_decomposition, device, row)


def test_cuda_rows_run_where_a_gpu_is():
    if "cuda" not in DEVICES:
        pytest.skip("no available cuda backend: the table ran on cpu only")
    assert any(d == "cuda" for d, _ in ROWS)


def test_every_op_has_rows_in_every_kind_it_is_tested():
    names = {r.case.op for r in table.rows()}
    assert set(OPS) <= names, sorted(set(OPS) - names)
    # the edge variants are not optional for shape-generic elementwise ops
    for op in ("exp", "add", "sum", "where"):
        variants = {r.variant for r in table.rows(ops=[op])}
        assert {"basic", "0-d", "empty", "noncontig"} <= variants, (op, variants)


def test_samples_iterates_the_rows_that_apply():
    seen = list(table.samples("cpu", ops=["add"], dtypes=["float32"]))
    variants = {v for _, v, _, _ in seen}
    assert {"basic", "0-d", "empty", "broadcast", "scalar", "noncontig"} <= variants
    case, variant, dtype, sample = seen[0]
    assert case.op == "add" and dtype == "float32"
    assert all(a.dtype.name == "float32" for a in sample.arrays if hasattr(a, "dtype"))
