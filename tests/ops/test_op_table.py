"""The one op test table (:mod:`corefw.testing`), run row by row: every case in every variant
(0-d, empty, broadcast, scalar, non-contiguous, strided ...) and dtype, forward against
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


def _groups(rows) -> list:
    """Rows grouped by (device, case): one test each, its variants and dtypes inside (a pytest
    item per row would cost more in overhead than the checks themselves)."""
    groups: dict = {}
    for device in DEVICES:
        for row in rows:
            groups.setdefault((device, id(row.case)), []).append(row)
    return [pytest.param(device, group, id=f"{device}-{group[0].case.name}")
            for (device, _), group in groups.items()]


def _run_all(check, device, group) -> None:
    """Run ``check`` on every row of the group the device declares the dtype of; fail naming
    every failing row."""
    ctx = table.context(device)
    failures, ran, why = [], 0, set()
    for row in group:
        if row.dtype not in ctx.dtypes:
            why.add(f"{device} does not declare {row.dtype}")
            continue
        try:
            check(ctx, row)
        except NotApplicable as exc:
            why.add(str(exc))
            continue
        except AssertionError as exc:
            failures.append(str(exc))
        ran += 1
    assert not failures, "\n".join(failures)
    if not ran:
        pytest.skip("no row applies: " + "; ".join(sorted(why)))


#: The ``large`` rows (forward only, tens of thousands of elements) and float16 gradients are
#: left to the kit's own cpu run (tests/testing/test_conformance_cpu.py runs every row of this
#: table in every dtype): the same rows, checked once.
ROWS = [r for r in table.rows() if r.variant != "large"]


def _check(ctx, row) -> None:
    # float16 and bfloat16 gradients are the kit's business (its cpu run checks them); here
    # those rows run forward, float32 and float64 rows forward and backward
    table.check_row(ctx, row, backward=row.dtype not in ("float16", "bfloat16"))


@pytest.mark.parametrize("device,group", _groups(ROWS))
def test_rows(device, group):
    _run_all(_check, device, group)


GRADGRAD = [(d, c, v) for d in DEVICES for c in table.all_cases() for v in c.gradgrad_variants()]


@pytest.mark.parametrize("item", GRADGRAD, ids=lambda i: f"{i[0]}-{i[1].name}-{i[2]}")
def test_second_derivative(item):
    device, case, variant = item
    try:
        table.check_gradgrad(table.context(device), case, variant)
    except NotApplicable as why:
        pytest.skip(str(why))


DECOMPOSED = [r for r in table.rows(dtypes=["float64"]) if r.variant != "large"
              and r.case.op in OPS and OPS[r.case.op].decomposition is not None]


@pytest.mark.parametrize("device,group", _groups(DECOMPOSED))
def test_composite_through_its_decomposition(device, group):
    _run_all(table.check_decomposition, device, group)


def test_cuda_rows_run_where_a_gpu_is():
    if "cuda" not in DEVICES:
        pytest.skip("no available cuda backend: the table ran on cpu only")
    assert table.context("cuda").device.type == "cuda"


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


def test_layout_variants_really_are_views():
    ctx = table.context("cpu")
    for variant in ("noncontig", "strided"):
        for case, _, _, sample in table.samples("cpu", ops=["add"], dtypes=["float32"],
                                                variants=[variant]):
            x = table.tensors(ctx, sample, variant)[0]
            assert not x.numpy().flags.c_contiguous, (case.name, variant)
