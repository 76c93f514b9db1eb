"""corefw-cpu's numexpr fusion (:func:`corefw_cpu.fuse.fuse`) on every op-table case, forward
and backward, within the tolerance its module documents, with fusion forced on
(``min_elements=0``): ``cpu_fuse`` fuses only where numexpr wins the speed probe, which it
loses on the project's machines, so without this the numexpr rendering would go unchecked.
Plus the rendering's regressions: numexpr's operand and register limits, NaN in
maximum/minimum/relu, and expressions that would double in length per nesting level."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.compiler import replay
from corefw.testing import check_compiler

numexpr = pytest.importorskip("numexpr", reason="numexpr is not installed (corefw-cpu[fuse])")
from corefw_cpu import fuse as F  # noqa: E402 - after the skip: fuse imports numexpr lazily

#: fuse.py's documented tolerance per dtype (rtol = atol); measured over the table in 2026-12
#: (numexpr 2.14, no VML): float32 1.0e-6 relative and 1.1e-6 absolute (a gelu-tanh gradient
#: that cancels to ~0), float64 2.8e-15 relative and 1.8e-15 absolute
TOLERANCE = {"float32": 5e-6, "float64": 1e-13}


def _graphs(fn, *args) -> list:
    compiled = corefw.compile(fn, backend="replay")
    compiled(*args)
    return [g for plan in compiled.cache.values() for g in plan.graphs]


@pytest.mark.parametrize("dtype", sorted(TOLERANCE))
def test_numexpr_fusion_equals_eager_on_every_op_case(dtype):
    made: dict[str, int] = {}

    def numexpr_fuse(graph):
        fused = F.fuse(graph, min_elements=0)
        for n in fused.nodes:
            made[n.op] = made.get(n.op, 0) + 1
        return replay(fused)

    tol = TOLERANCE[dtype]
    report = check_compiler(numexpr_fuse, rtol=tol, atol=tol, dtypes=[dtype])
    assert report.checked > 1000 and report.replayed > 0.9 * report.checked, report.summary()
    # numexpr nodes were made (about 850 per dtype in 2026-12)
    assert made.get("fused", 0) > 500, made


def test_numexpr_limits_are_kept_by_cutting_long_chains():
    """200 distinct constants in one chain: numexpr takes 64 operands and 255 registers (it
    raised "too many inputs" on polygamma's and i0's backward); chains are cut at
    ``MAX_SIZE`` ops and leaves and equal constants share one operand."""
    def f(x):
        for i in range(100):
            x = x * (1 + i / 1000) + i / 7
        return x

    x = corefw.randn(5, 3)
    (graph,) = _graphs(f, x)
    fused = F.fuse(graph, min_elements=0)
    got = replay(fused)([x.numpy()])[0]
    np.testing.assert_allclose(got, f(x).numpy(), rtol=TOLERANCE["float32"])
    assert 3 <= sum(n.op == "fused" for n in fused.nodes) <= 10


def test_maximum_minimum_and_relu_propagate_nan_as_eager():
    def f(x, y):
        return (corefw.maximum(x, y) + corefw.minimum(y, x)).relu() * 2, \
            (corefw.maximum(y, x) - corefw.minimum(x, y)).relu() * 2

    nan = float("nan")
    x = corefw.tensor([nan, -1.0, 2.0, nan, 0.5])
    y = corefw.tensor([1.0, nan, -3.0, nan, 0.25])
    (graph,) = _graphs(f, x, y)
    fused = F.fuse(graph, min_elements=0)
    assert [n.op for n in fused.nodes] == ["fused", "fused"]
    for got, want in zip(replay(fused)([x.numpy(), y.numpy()]), f(x, y), strict=True):
        np.testing.assert_array_equal(got, want.numpy())  # NaN where eager has NaN


def test_nested_maxima_do_not_double_the_expression_per_level():
    """maximum repeats its operands in numexpr's text; 25 nested levels would be 2**25
    copies of ``x0``: a long operand becomes a stage of its own."""
    def f(x):
        y = x
        for i in range(25):
            y = corefw.maximum(y * 0.5, x - i)
        return y

    x = corefw.randn(4, 4)
    (graph,) = _graphs(f, x)
    fused = F.fuse(graph, min_elements=0)
    kernels = [n.kernel for n in fused.nodes if n.op == "fused"]
    assert kernels and all(len(k.__name__) < 10_000 for k in kernels)
    np.testing.assert_array_equal(replay(fused)([x.numpy()])[0], f(x).numpy())
