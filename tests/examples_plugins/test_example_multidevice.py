"""refdev next to cpu: transfers both ways, gradients across .to(), mixed-device errors, the
fallback policy and its ledger. Each script runs in a fresh interpreter with refdev installed
from its package."""

from __future__ import annotations

import textwrap

PRELUDE = """
import numpy as np
import corefw
from corefw.errors import DeviceError, KernelNotFoundError
rng = np.random.default_rng(0)
"""


def _run(run, body: str):
    proc = run("-c", PRELUDE + textwrap.dedent(body) + "\nprint('SCRIPT-OK')\n",
               packages=("corefw-refdev",))
    assert proc.returncode == 0 and "SCRIPT-OK" in proc.stdout, proc.stderr[-4000:]
    return proc.stdout


def test_transfers_are_exact_both_ways(run):
    _run(run, """
    for dtype in (corefw.bool_, corefw.int32, corefw.int64, corefw.float32, corefw.float64):
        host = (rng.standard_normal((5, 7)) * 10).astype(dtype.np)
        a = corefw.tensor(host, device="cpu")
        b = a.to("refdev")
        assert b.device.type == "refdev" and b.dtype is dtype
        back = b.to("cpu")
        assert back.device.type == "cpu" and np.array_equal(back.numpy(), host)
        assert np.array_equal(a.transpose(0, 1).to("refdev").numpy(), host.T)
    """)


def test_gradients_flow_across_to(run):
    _run(run, """
    x = rng.standard_normal((3, 4))
    a = corefw.tensor(x, requires_grad=True)                   # cpu leaf
    ((a.to("refdev") * a.to("refdev")).sum()).backward()      # computed on refdev
    assert a.grad.device.type == "cpu"
    np.testing.assert_allclose(a.grad.numpy(), 2 * x, rtol=1e-6)
    c = corefw.tensor(x, device="refdev", requires_grad=True)  # refdev leaf
    (c.to("cpu").exp().sum().to("refdev") + c.sin().sum()).backward()  # both devices
    assert c.grad.device.type == "refdev"
    np.testing.assert_allclose(c.grad.numpy(), np.exp(x) + np.cos(x), rtol=1e-5)
    model = corefw.nn.Linear(4, 2)
    out_cpu = model(corefw.tensor(x, dtype=corefw.float32))
    model.to("refdev")
    assert model.weight.device.type == "refdev"
    out_ref = model(corefw.tensor(x, dtype=corefw.float32, device="refdev"))
    np.testing.assert_allclose(out_ref.detach().numpy(), out_cpu.detach().numpy(), rtol=1e-6)
    """)


def test_mixed_devices_raise(run):
    _run(run, """
    a, b = corefw.ones(2, 3, device="refdev"), corefw.ones(2, 3)
    for fn in (lambda: a + b, lambda: a @ b.transpose(0, 1), lambda: corefw.cat([a, b])):
        try:
            fn()
        except DeviceError as exc:
            assert "refdev" in str(exc) and "cpu" in str(exc), exc
            assert isinstance(exc, RuntimeError)
        else:
            raise AssertionError("mixing refdev and cpu tensors did not raise")
    s = a * corefw.tensor(3.0)                 # a 0-d cpu tensor mixes as a scalar
    assert s.device.type == "refdev" and s.sum().item() == 18.0
    """)


def test_fallback_policy_and_ledger(run):
    out = _run(run, """
    import io, types, warnings
    from corefw.plugins import hookimpl, register_plugin

    plugin = types.ModuleType("twice_plugin")
    plugin.COREFW_PLUGIN_API = ">=1,<2"

    @hookimpl
    def register_ops(register):   # an op with a VJP but no decomposition ...
        register("twice_plus_one", vjp=lambda ctx, g: (2 * g,))

    @hookimpl
    def register_kernels(register):   # ... and a kernel for cpu only
        register("cpu", {"twice_plus_one": lambda x: 2 * x + 1})

    plugin.register_ops, plugin.register_kernels = register_ops, register_kernels
    assert register_plugin(plugin).status == "loaded"
    from corefw.plugins import call_op

    x = corefw.tensor([1.0, 2.0], device="refdev", requires_grad=True)
    assert corefw.get_fallback_policy() == "error"
    try:
        call_op("twice_plus_one", x)
    except KernelNotFoundError as exc:
        assert "twice_plus_one" in str(exc) and "refdev" in str(exc), exc
    else:
        raise AssertionError("a missing kernel did not raise under the 'error' policy")
    assert corefw.fallback_ledger() == {}
    corefw.set_fallback_policy("cpu")
    y = call_op("twice_plus_one", x)
    assert y.device.type == "refdev" and y.tolist() == [3.0, 5.0]
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    corefw.set_fallback_policy("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call_op("twice_plus_one", x)
    assert any("twice_plus_one" in str(w.message) for w in caught)
    assert corefw.fallback_ledger() == {("twice_plus_one", "refdev"): 2}
    buf = io.StringIO()
    corefw.print_fallback_ledger(file=buf)
    assert "twice_plus_one" in buf.getvalue() and "refdev" in buf.getvalue()

    from corefw.testing import OpCase, Sample, register_case, run_conformance
    register_case(OpCase("twice_plus_one", lambda rng, v, d, env: Sample(
        (rng.standard_normal((2, 3)).astype(d),)), lambda t: call_op("twice_plus_one", t),
        lambda t: 2 * t + 1))
    rep = run_conformance("refdev", ops=["twice_plus_one", "add"], dtypes=["float64"],
                          fallback_policy="cpu")
    assert rep.label("twice_plus_one", "float64") == "fallback", rep.to_text()
    corefw.set_fallback_policy("error")
    rep = run_conformance("refdev", ops=["twice_plus_one"], dtypes=["float64"])
    assert rep.label("twice_plus_one", "float64") == "missing", rep.to_text()
    print("LEDGER", corefw.fallback_ledger())
    """)
    assert "LEDGER" in out
