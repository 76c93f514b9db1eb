"""The op test table as rows: one ``(case, variant, dtype)`` per row, for any consumer.

The conformance kit runs the table per backend (one pytest item per op and dtype); corefw's own
suite (``tests/ops/test_op_table.py``) runs it row by row on cpu and cuda, and adds the checks a
backend author does not need (second derivatives, composites through their decompositions).
Checks derived from the op declarations (every declared op has rows, the shape/dtype rule agrees
with the kernel, only views alias) iterate the same rows::

    from corefw.testing.table import samples

    for case, variant, dtype, sample in samples("cpu"):
        ...  # sample.arrays are host arrays in `dtype`; case.fn(*tensors, **sample.attrs)

Model: PyTorch's OpInfo database (``op_db`` + ``sample_inputs``) and JAX's ``LAX_OPS`` with
``lax_reference.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

import corefw

from .cases import CASES, NotApplicable, OpCase, Sample, cases_for
from .runner import Context, _tensors, make_context, make_sample, run_variant

__all__ = ["Row", "all_cases", "check_decomposition", "check_gradgrad", "check_row",
           "context", "decomposed", "host", "rows", "samples", "tensors"]


@dataclass(frozen=True)
class Row:
    """One row of the table: a case in one variant and one dtype."""

    case: OpCase
    variant: str
    dtype: str

    @property
    def id(self) -> str:
        """``name-variant-dtype`` (the op's name when the case calls only the op)."""
        return f"{self.case.name}-{self.variant}-{self.dtype}"


def all_cases() -> list[OpCase]:
    """Every case of the table (the built-in ones and every registered one), by op name."""
    cases_for("add")  # loads the built-in table and the plugins' case modules
    return [c for op in sorted(CASES) for c in CASES[op]]


def rows(*, ops: Iterable[str] | None = None, dtypes: Iterable[str] | None = None,
         variants: Iterable[str] | None = None) -> list[Row]:
    """Every ``(case, variant, dtype)`` of the table, optionally restricted."""
    ops = None if ops is None else set(ops)
    dtypes = None if dtypes is None else set(dtypes)
    variants = None if variants is None else set(variants)
    out = []
    for case in all_cases():
        if ops is not None and case.op not in ops:
            continue
        for variant in case.variants:
            if variants is not None and variant not in variants:
                continue
            for dtype in case.dtypes():
                if dtypes is not None and dtype not in dtypes:
                    continue
                out.append(Row(case, variant, dtype))
    return out


@functools.cache
def context(device_type: str = "cpu") -> Context:
    """The backend under test, described once per device type (see
    :func:`corefw.testing.runner.make_context`)."""
    return make_context(device_type)


def samples(device_type: str = "cpu", **select) -> Iterator[tuple[OpCase, str, str, Sample]]:
    """``(case, variant, dtype, sample)`` for every row that applies on ``device_type`` (rows
    whose dtype the backend lacks, or whose ``make`` raises NotApplicable, are left out).
    ``select``: the keywords of :func:`rows`."""
    ctx = context(device_type)
    for row in rows(**select):
        if row.dtype not in ctx.dtypes or row.case.needs - ctx.capabilities:
            continue
        try:
            sample, _ = make_sample(ctx, row.case, row.variant, row.dtype)
        except NotApplicable:
            continue
        yield row.case, row.variant, row.dtype, sample


def tensors(ctx: Context, sample: Sample, variant: str = "basic",
            requires_grad: bool = False) -> list:
    """The sample's arrays as tensors on ``ctx``'s device, laid out as the variant says
    (``noncontig``: transposed views; ``strided``: slice views); the other items as they are.
    ``requires_grad``: the case's differentiable inputs are leaves that require grad."""
    grad = tuple(range(len(sample.arrays))) if requires_grad else ()
    inputs, _, _ = _tensors(sample, ctx, variant, grad)
    return inputs


def check_row(ctx: Context, row: Row, backward: bool = True) -> None:
    """Forward against the float64 reference and, unless ``backward`` is False, backward
    against float64 finite differences of the reference (float dtypes); raises AssertionError
    naming the row and the problem, or NotApplicable."""
    case = row.case if backward else dataclasses.replace(row.case,
                                                         forward_only=row.case.variants)
    problem = run_variant(ctx, case, row.variant, row.dtype)
    if problem:
        raise AssertionError(f"{row.id}: {problem}")


def check_gradgrad(ctx: Context, case: OpCase, variant: str = "basic") -> None:
    """The second derivative of ``case.fn`` in float64: ``corefw.autograd.gradgradcheck`` over
    the case's differentiable inputs (the first derivative's graph is checked by finite
    differences, also with respect to the output gradient)."""
    sample, _ = make_sample(ctx, case, variant, "float64")
    grad = case.grad if sample.grad is None else sample.grad
    inputs = tensors(ctx, sample, variant)
    leaves = tuple(inputs[i].detach().requires_grad_(True) for i in grad)

    def fn(*xs):
        args = list(inputs)
        for i, x in zip(grad, xs):
            args[i] = x
        return case.fn(*args, **sample.attrs)

    assert corefw.autograd.gradgradcheck(fn, leaves) is True, f"{case.name}-{variant}"


@contextlib.contextmanager
def decomposed(ctx: Context, op_name: str):
    """Within the block, ``op_name`` runs through its decomposition on ``ctx``'s device (the
    path of a backend that has only the primitives), whatever kernel the backend has."""
    from corefw import dispatch
    from corefw.ops import OPS

    op = OPS[op_name]
    if op.decomposition is None:
        raise NotApplicable(f"{op_name} has no decomposition")
    table = ctx.device.table
    orig = table.get(op_name)
    table[op_name] = dispatch._decomposition_runner(op, ctx.device)
    try:
        yield
    finally:
        table[op_name] = orig


def check_decomposition(ctx: Context, row: Row) -> None:
    """The forward of :func:`check_row` with the op forced through its decomposition: a
    composite's decomposition must agree with the same float64 reference as its kernel. (The
    backward is the op's VJP either way: :func:`check_row` checks it.)"""
    with decomposed(ctx, row.case.op):
        check_row(ctx, row, backward=False)


def host(t) -> np.ndarray:
    """A tensor's values on the host (a copy)."""
    return np.array(t.detach().numpy(), copy=True)
