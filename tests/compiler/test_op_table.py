"""Every case of the op table, compiled with ``replay`` and with corefw-cpu's ``cpu_fuse`` (its
generated NumPy code), equals eager bit for bit (the same NumPy operations run), forward and
backward; the capture is checked to have replayed, not re-run (:func:`check_compiler`)."""

from __future__ import annotations

import pytest

from corefw.testing import check_compiler


@pytest.mark.parametrize("backend", ["replay", "cpu_fuse"])
def test_every_op_case_compiled_equals_eager_forward_and_backward(backend):
    report = check_compiler(backend)  # rtol = atol = 0: bit for bit
    assert report.checked > 1000
    assert report.replayed > 0.9 * report.checked, report.summary()
    assert report.backward > 1000, report.summary()


def test_check_compiler_names_what_a_wrong_compiler_gets_wrong():
    """The harness fails: a compiler that changes one op's result is reported by op, variant,
    dtype and backend, forward and backward, and raises with those lines."""
    from corefw.compiler import Node, replay

    def off_by_a_bit(graph):  # cos is a bit off: sin's backward and cos's forward are wrong
        nodes = []
        for n in graph.nodes:
            if n.op == "cos":
                n = Node(n.op, lambda *a, _k=n.kernel, **kw: _k(*a, **kw) * 1.001, n.args,
                         n.kwargs, n.out, n.line, n.mutates)
            nodes.append(n)
        return replay(type(graph)(graph.inputs, nodes, graph.outputs, graph.device,
                                  dict(graph.meta)))

    report = check_compiler(off_by_a_bit, ops=["sin", "cos", "neg"], dtypes=["float32"],
                            raise_exception=False)
    assert report.checked > 6 and report.failures
    assert {(f.op, f.stage) for f in report.failures} == {("sin", "backward"),
                                                           ("cos", "forward")}
    assert all(f.dtype == "float32" and f.backend == "off_by_a_bit" for f in report.failures)
    report = check_compiler(off_by_a_bit, ops=["neg"], dtypes=["float32"], rtol=1e-6, atol=0)
    assert report.passed and report.backward > 0
    with pytest.raises(AssertionError, match=r"sin \[basic, float32, off_by_a_bit\] backward"):
        check_compiler(off_by_a_bit, ops=["sin"], dtypes=["float32"], first_variant_only=True)
    check_compiler(off_by_a_bit, ops=["sin"], dtypes=["float32"], rtol=2e-3, atol=2e-3)


def test_check_compiler_reports_a_compiler_that_raises():
    def broken(graph):
        raise RuntimeError("cannot compile this")

    report = check_compiler(broken, ops=["neg"], dtypes=["float64"], raise_exception=False)
    assert report.checked > 0 and len(report.failures) == report.checked
    assert all(f.stage == "compiled call" and "cannot compile this" in f.message
               for f in report.failures)
