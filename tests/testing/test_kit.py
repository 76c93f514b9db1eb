"""The kit catches broken backends (mutation tests), applies skips/xfails, and its report says
exactly what passed: a kit that cannot fail would be a defect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from corefw.testing import parse_expectations
from corefw.testing.report import Report
from corefw.testing.runner import CellResult, compare, numeric_vjp

MUTANT = """
import json
import numpy as np
import corefw
from corefw.plugins import hookimpl, register_plugin
from corefw_cpu.backend import NumpyBackend
from corefw.testing import Kit


class Mutant(NumpyBackend):
    def __init__(self):
        super().__init__()
        self.device_type, self.name = "mutdev", "mutant"
        k = self.kernels
        exp, put = k["exp"], k["index_put"]
        k["exp"] = lambda x: exp(x) * x.dtype.type(1.001)               # 0.1% off
        k["sum"] = lambda x, dim, keepdim: np.asarray(np.sum(x, axis=dim))  # drops keepdim
        k["relu"] = lambda x: x                                         # wrong fused kernel
        k["uniform"] = lambda shape, low, high, dtype: np.full(shape, 0.5, dtype)
        k["nonzero"] = lambda x: np.argwhere(x).astype(np.int32)         # wrong dtype
        k["index_put"] = lambda x, values, key, accumulate: put(x, values, key, False)

        def scatter_add(x, index, src, dim):                             # repeats overwrite
            out = x.copy()
            np.put_along_axis(out, index, np.take_along_axis(out, index, dim) + src, dim)
            return out
        k["scatter_add"] = scatter_add


plugin = type(corefw)("mutant_plugin")
plugin.COREFW_PLUGIN_API = ">=1,<2"
plugin.register_backends = hookimpl(lambda register: register(Mutant()))
assert register_plugin(plugin).status == "loaded"
corefw.ops.register_op("mystery", decomposition=lambda x: x * 2)       # a core op, no case
corefw.ops.register_op("plugin_only", decomposition=lambda x: x, owner="someplugin")
"""


@pytest.fixture(scope="module")
def mutant_report():
    code = MUTANT + textwrap.dedent("""
    skips = {k: v for k, v in __import__("corefw.testing").testing.parse_expectations(
        "exp float32 xfail off by 0.1%\\nadd float32 xfail listed but fine\\n"
        "relu * skip fused kernel under repair\\n").items()}
    kit = Kit("mutdev", skips=skips, ops=["add", "exp", "sum", "relu", "uniform", "nonzero",
                                          "index_put", "gather", "scatter_add", "matmul",
                                          "mystery", "plugin_only"])
    rep = kit.run_all()
    print("@@" + json.dumps(rep.to_dict()))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COREFW_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.split("@@", 1)[1])


def _cell(rep, op, dtype):
    return rep["ops"][op]["cells"][dtype]


def test_broken_kernels_fail(mutant_report):
    rep = mutant_report
    assert _cell(rep, "exp", "float64")["status"] == "failing"
    assert "forward" in " ".join(_cell(rep, "exp", "float64")["detail"])
    assert _cell(rep, "exp", "float16")["status"] == "native"  # 0.1% is within float16's
    assert _cell(rep, "sum", "float32")["status"] == "failing"
    assert any("[keepdim] forward: shape" in d for d in _cell(rep, "sum", "float32")["detail"])
    assert _cell(rep, "uniform", "float32")["status"] == "failing"
    assert _cell(rep, "nonzero", "int64")["status"] == "failing"
    assert "result dtype int32, expected int64" in " ".join(_cell(rep, "nonzero",
                                                                  "int64")["detail"])
    detail = " ".join(_cell(rep, "index_put", "float32")["detail"])
    assert "[accumulate]" in detail and "[basic]" not in detail
    assert _cell(rep, "scatter_add", "float32")["status"] == "failing"


def test_a_backward_only_bug_is_caught(mutant_report):
    """gather's forward is right, but its VJP uses the broken scatter_add."""
    detail = " ".join(_cell(mutant_report, "gather", "float64")["detail"])
    assert "backward (input 0) vs float64 finite differences" in detail
    assert "forward:" not in detail


def test_good_kernels_pass(mutant_report):
    assert _cell(mutant_report, "add", "float64")["status"] == "native"
    assert _cell(mutant_report, "matmul", "float32")["status"] == "native"
    assert _cell(mutant_report, "matmul", "bool")["status"] == "n/a"


def test_expectations_and_untested_ops(mutant_report):
    rep = mutant_report
    assert _cell(rep, "exp", "float32")["status"] == "xfail"
    assert _cell(rep, "add", "float32")["status"] == "xpass"
    assert {_cell(rep, "relu", d)["status"] for d in ("float16", "float32", "float64")} == {
        "skipped"}
    assert _cell(rep, "mystery", "float32")["status"] == "untested"
    assert rep["ops"]["mystery"]["core"] and not rep["ops"]["plugin_only"]["core"]
    assert not rep["summary"]["conformant"]
    reasons = "\n".join(rep["summary"]["reasons"])
    for op in ("exp", "relu", "mystery", "uniform"):
        assert f"{op}:" in reasons
    assert "plugin_only:" not in reasons


def _report(cells, dtypes=("float32",), core=("add",), ops=("add",)):
    rep = Report("x", {"name": "x", "dtypes": list(dtypes)}, {}, ops=list(ops),
                 core_ops=set(core), check_names=[])
    for cell in cells:
        rep.add(cell)
    return rep


def test_verdict_rules():
    ok = _report([CellResult("add", "float32", "pass", "native")])
    assert ok.verdict() == (True, [])
    no_f32 = _report([CellResult("add", "float64", "pass", "native")], dtypes=("float64",))
    assert not no_f32.verdict()[0]
    assert "does not declare float32" in no_f32.verdict()[1][0]
    skipped = _report([CellResult("add", "float32", "skip", "native", reason="r")])
    assert skipped.label("add", "float32") == "skipped" and not skipped.verdict()[0]
    missing = _report([CellResult("add", "float32", "fail", "missing")])
    assert missing.label("add", "float32") == "missing"
    plugin_op = _report([CellResult("add", "float32", "pass", "native"),
                         CellResult("extra", "float32", "untested")], ops=("add", "extra"))
    assert plugin_op.verdict() == (True, [])
    assert plugin_op.label("extra", "float32") == "untested"


def test_report_files(tmp_path):
    rep = _report([CellResult("add", "float32", "fail", "native", failures=["[basic] bad"])])
    path, md = rep.write(tmp_path / "sub" / "r.json")
    data = json.loads(open(path, encoding="utf-8").read())
    assert data["ops"]["add"]["cells"]["float32"] == {"status": "failing",
                                                      "detail": ["[basic] bad"]}
    assert data["summary"]["conformant"] is False
    assert "| `add` |" in open(md, encoding="utf-8").read()
    assert "FAIL" in rep.to_text()


def test_expectations_file_format():
    exp = parse_expectations("# comment\nmatmul float16 xfail slow accumulate  # trailing\n"
                             "seeding * skip no RNG\n")
    assert exp[("matmul", "float16")].reason == "slow accumulate"
    assert exp[("seeding", "*")].action == "skip"
    for bad, why in (("matmul float16 xfail", "needs a reason"), ("a b maybe why", "action"),
                     ("a b skip x\na b skip y", "listed twice")):
        with pytest.raises(ValueError, match=r"<string>:\d.*" + why):
            parse_expectations(bad)


def test_compare():
    assert compare(np.array([1, 2]), np.array([1, 2]), 0, 0) is None
    assert "exact comparison" in compare(np.array([1, 3]), np.array([1, 2]), 1, 1)
    assert "shape (2,), expected (3,)" in compare(np.zeros(2), np.zeros(3), 1, 1)
    assert compare(np.float32([1.0]), np.array([1.0 + 1e-6]), 1e-5, 0) is None
    msg = compare(np.float32([1.0, 2.0]), np.array([1.0, 2.1]), 1e-5, 1e-5)
    assert "1 of 2 values differ" in msg and "(1,)" in msg
    assert compare(np.array([np.nan]), np.array([np.nan]), 0, 0) is None
    assert compare(np.array([np.nan]), np.array([1.0]), 1, 1) is not None


def test_numeric_vjp_matches_a_closed_form():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    y = np.array([1.5, -0.7])
    v = np.array([[1.0, 2.0], [-1.0, 0.5]])
    ref = lambda a, b: np.sin(a) * b  # noqa: E731
    np.testing.assert_allclose(numeric_vjp(ref, [x, y], {}, 0, v), v * np.cos(x) * y,
                               rtol=1e-7)
    np.testing.assert_allclose(numeric_vjp(ref, [x, y], {}, 1, v),
                               (v * np.sin(x)).sum(0), rtol=1e-7)


@pytest.fixture
def cpu_backend(monkeypatch):
    import corefw

    return corefw.dispatch.backends()["cpu"]


def test_tolerances_are_overridable(cpu_backend, monkeypatch):
    from corefw.testing import run_conformance

    strict = {"float32": {"forward": (0.0, 0.0)}}
    rep = run_conformance("cpu", ops=["exp"], dtypes=["float32"], tolerances=strict)
    assert rep.label("exp", "float32") == "failing"  # float32 rounding is not exact
    assert rep.tolerances["float32"]["forward"] == (0.0, 0.0)
    monkeypatch.setattr(cpu_backend, "conformance_tolerances", strict, raising=False)
    rep = run_conformance("cpu", ops=["exp"], dtypes=["float32"])
    assert rep.label("exp", "float32") == "failing"
    loose = {"float32": {"forward": (1e-3, 1e-3)}}
    rep = run_conformance("cpu", ops=["exp"], dtypes=["float32"], tolerances=loose)
    assert rep.label("exp", "float32") == "native"


def test_missing_capabilities_and_op_groups_skip_with_the_reason(cpu_backend, monkeypatch):
    from corefw.testing import run_conformance

    monkeypatch.setattr(cpu_backend, "op_groups", frozenset({"unary", "random"}), raising=False)
    monkeypatch.setattr(cpu_backend, "capabilities", frozenset({"broadcast", "views"}))
    rep = run_conformance("cpu", ops=["exp", "add", "uniform", "softmax"], dtypes=["float32"])
    assert rep.label("exp", "float32") == "native"
    assert rep.label("add", "float32") == "skipped"
    assert "not 'binary'" in rep.cells[("add", "float32")].reason
    assert rep.label("uniform", "float32") == "skipped"
    assert "capability random" in rep.cells[("uniform", "float32")].reason
    assert rep.label("softmax", "float32") == "native"  # composites are never group-skipped
    assert rep.checks["seeding"].status == "n/a"


def test_a_cell_runs_every_variant_before_it_reads_a_value(monkeypatch):
    """A queueing backend (corefw-jax's lazy arrays) runs a whole cell per read: the kit calls
    the op's kernel for every variant, forward and backward, before the first to_host."""
    from corefw.testing import runner

    ctx = runner.make_context("cpu")
    events: list[str] = []
    to_host = ctx.backend.to_host
    monkeypatch.setattr(ctx.backend, "to_host", lambda a: events.append("read") or to_host(a))
    mul = ctx.device.table["mul"]
    monkeypatch.setitem(ctx.device.table, "mul", lambda *a, **k: events.append("mul")
                        or mul(*a, **k))
    cell = runner.run_cell(ctx, "mul", "float32")
    assert cell.status == "pass" and len(cell.variants) >= 5, cell
    first_read = events.index("read")
    assert events.count("mul") >= 2 * len(cell.variants) - 2  # forward and backward
    assert "mul" not in events[first_read:], events
