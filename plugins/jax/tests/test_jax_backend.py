"""corefw-jax beyond the conformance kit: lazy loading, immutability, index bounds, agreement
with cpu, in-place ops through functionalization. Skipped, with the reason, where jax or
corefw-jax is not installed (README's test command installs both)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install 'corefw-jax[jax]')")
pytest.importorskip("corefw_jax",
                    reason="corefw-jax is not installed (pip install -e 'plugins/jax[jax]')")

import corefw  # noqa: E402
import corefw.plugins  # noqa: E402


def test_registered_lazily_with_its_capabilities():
    code = ("import sys, corefw.plugins\n"
            "b = corefw.plugins.backends()['jax']\n"
            "print('jax' in sys.modules, sorted(b.capabilities))\n"
            "corefw.ones(1, device='jax')\n"
            "print('jax' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["False ['broadcast', 'random']", "True"]
    assert corefw.device("jax", 0) in corefw.plugins.devices()


def test_arrays_are_jax_arrays_and_results_match_cpu():
    host = np.random.default_rng(0).standard_normal((4, 5))
    x = corefw.tensor(host, dtype=corefw.float64, device="jax", requires_grad=True)
    xc = corefw.tensor(host, dtype=corefw.float64, requires_grad=True)
    for t in (x, xc):
        corefw.nn.functional.gelu(t @ t.T).log_softmax(1).sum().backward()
    np.testing.assert_allclose(x.grad.to("cpu").numpy(), xc.grad.numpy(), rtol=1e-12)


def test_seeded_values_match_cpu():
    corefw.manual_seed(3)
    a = corefw.rand(5, device="jax").to("cpu").numpy()
    corefw.manual_seed(3)
    b = corefw.rand(5).numpy()
    np.testing.assert_array_equal(a, b)


def test_out_of_range_indices_raise_instead_of_clamping():
    x = corefw.arange(5.0, device="jax")
    with pytest.raises(IndexError, match="7"):
        x[corefw.tensor([1, 7], device="jax")]
    with pytest.raises(IndexError, match="9"):
        corefw.gather(x, 0, corefw.tensor([9], device="jax"))
    with pytest.raises(IndexError, match="-9"):
        x[corefw.tensor([-9], device="jax")]


def test_in_place_ops_write_through_functionalization():
    """No "inplace"/"views": corefw rebinds copy_/index_put_ results to the tensor and its
    views (docs/architecture.md, "Views, in-place and functionalization")."""
    z = corefw.zeros(3, device="jax")
    z.add_(1.0)
    z[corefw.tensor([0], device="jax")] = 5.0
    assert z.tolist() == [5.0, 1.0, 1.0]
    base = corefw.zeros(2, 3, device="jax")
    row, col = base[1], base[:, 2]
    row.add_(2.0)
    base.t()[0].fill_(7.0)
    want = np.zeros((2, 3))
    want[1] += 2.0
    want[:, 0] = 7.0
    np.testing.assert_array_equal(base.to("cpu").numpy(), want)
    np.testing.assert_array_equal(row.to("cpu").numpy(), want[1])
    np.testing.assert_array_equal(col.to("cpu").numpy(), want[:, 2])


@pytest.mark.slow
def test_demo_cnn_trains_as_on_cpu():
    """A few Adam steps of the demo CNN: parameters change and the losses follow cpu's."""
    from corefw.data.datasets import digits
    from corefw.demo import build_model

    data = digits()
    x = corefw.stack([data[i][0] for i in range(32)])
    y = corefw.tensor([int(data[i][1]) for i in range(32)])
    losses = {}
    for dev in ("cpu", "jax"):
        corefw.manual_seed(0)
        model = build_model("cnn").to(dev)
        before = [p.detach().to("cpu").numpy().copy() for p in model.parameters()]
        optim = corefw.optim.Adam(model.parameters(), lr=1e-2)
        xs, ys = x.to(dev), y.to(dev)
        losses[dev] = []
        for _ in range(3):
            optim.zero_grad()
            loss = corefw.nn.functional.cross_entropy(model(xs), ys)
            loss.backward()
            optim.step()
            losses[dev].append(loss.item())
        after = [p.detach().to("cpu").numpy() for p in model.parameters()]
        assert all(not np.array_equal(b, a) for b, a in zip(before, after)), dev
    assert losses["jax"][-1] < losses["jax"][0]
    np.testing.assert_allclose(losses["jax"], losses["cpu"], rtol=1e-4)


def test_compiler_jits_a_captured_graph():
    """``corefw.compile(fn, backend="jax")``: the graph becomes one jax.jit function whose
    results equal eager ones."""
    compiler = pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    import corefw_jax.compiler as jc

    assert "jax" in compiler.list_backends()
    made = []

    def spy(graph):
        run = jc.jax_jit(graph)
        made.append(run.__name__)
        return run

    def f(x, w):
        return (x @ w).tanh().softmax(1).sum(0)

    rng = np.random.default_rng(0)
    x = corefw.tensor(rng.standard_normal((8, 16)), dtype=corefw.float64, device="jax")
    w = corefw.tensor(rng.standard_normal((16, 4)), dtype=corefw.float64, device="jax")
    g = corefw.compile(f, backend=spy)
    for _ in range(3):
        out = g(x, w)
    assert made == ["compiled"]  # the jit path, not plain replay
    np.testing.assert_allclose(out.to("cpu").numpy(), f(x, w).to("cpu").numpy(), rtol=1e-12)
