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


def test_compiler_jits_indexing_and_checks_indices_after_the_call():
    """gather/index run unchecked under jax.jit; their indices come back with the results and
    the eager bounds check runs on them before anything is written: an out-of-range index
    raises eager's IndexError and the step changes nothing."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    import corefw_jax.compiler as jc

    made = []
    w = corefw.tensor(np.arange(12.0).reshape(3, 4), device="jax", requires_grad=True)
    opt = corefw.optim.SGD([w], lr=0.5)

    def step(i, j):
        loss = (w.gather(1, i) * 2).sum() + w[j].square().sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    def eager_losses(steps):
        w2 = corefw.tensor(np.arange(12.0).reshape(3, 4), device="jax", requires_grad=True)
        o2 = corefw.optim.SGD([w2], lr=0.5)
        out = []
        for i, j in steps:
            loss = (w2.gather(1, i) * 2).sum() + w2[j].square().sum()
            loss.backward()
            o2.step()
            o2.zero_grad()
            out.append(loss.item())
        return out, w2

    i = corefw.tensor([[0, 3], [1, 1], [2, 0]], device="jax")
    j = corefw.tensor([2, 0], device="jax")
    compiled = corefw.compile(step, backend=lambda g: made.append(jc.jax_jit(g)) or made[-1])
    got = [compiled(i, j).item() for _ in range(4)]
    want, w_eager = eager_losses([(i, j)] * 4)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(w.detach().to("cpu").numpy(), w_eager.detach().to("cpu").numpy())
    before = w.detach().to("cpu").numpy().copy()
    for bad_i, bad_j, msg in ((corefw.tensor([[0, 4], [1, 1], [2, 0]], device="jax"), j,
                               "gather: index 4 is out of bounds for axis 1 with size 4"),
                              (i, corefw.tensor([2, -4], device="jax"),
                               "index: index -4 is out of bounds for axis 0 with size 3")):
        with pytest.raises(IndexError) as info:
            compiled(bad_i, bad_j)
        assert str(info.value) == msg  # the deferred check's own message: no replay ran
        np.testing.assert_array_equal(w.detach().to("cpu").numpy(), before)
    assert [m.__name__ for m in made] == ["compiled"]


def test_compiler_jits_a_decomposition_that_indexes():
    """``embedding`` runs its decomposition (an ``index`` kernel) inside the jitted graph;
    it raised DTypeError while tracing before the index checks were deferred."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    corefw.manual_seed(0)
    emb = corefw.nn.Embedding(10, 4).to("jax")
    i = corefw.tensor([[1, 2], [3, 9]], device="jax")
    compiled = corefw.compile(lambda i: emb(i).sum(), backend="jax")
    for _ in range(3):
        np.testing.assert_allclose(compiled(i).item(), emb(i).sum().item(), rtol=1e-6)
    with pytest.raises(IndexError) as info:
        compiled(corefw.tensor([[1, 2], [3, 10]], device="jax"))
    # the deferred check's own message (replay would add the operands, eager names embedding)
    assert str(info.value) == "index: index 10 is out of bounds for axis 0 with size 10"


def _classifier_step(dev: str, backend, opt_name: str = "SGD", lr=0.01):
    """An embedding classifier's training step (embedding, indexing by a tensor, linear,
    cross_entropy, backward, optimizer) and the compiled callables made for it. The step's
    optimizer is ``step.opt`` (also when compiled)."""
    corefw.manual_seed(0)
    emb, lin = corefw.nn.Embedding(20, 8).to(dev), corefw.nn.Linear(8, 5).to(dev)
    params = list(emb.parameters()) + list(lin.parameters())
    opt = corefw.optim.SGD(params, lr=0.1, momentum=0.9) if opt_name == "SGD" else \
        corefw.optim.Adam(params, lr=lr, capturable=opt_name == "Adam-capturable")

    def step(i, t):
        h = emb(i).reshape(12, 8)[t * 2]
        loss = corefw.nn.functional.cross_entropy(lin(h), t)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    step.opt = opt
    made: list = []
    if backend is None:
        return step, made, params
    import corefw_jax.compiler as jc

    compiled = corefw.compile(step, backend=lambda g: made.append(jc.jax_jit(g)) or made[-1])
    compiled.opt = opt
    return compiled, made, params


def _ints(values, dev="jax"):
    return corefw.tensor(np.asarray(values, dtype=np.int64), device=dev)


def test_compiler_jits_a_classifier_training_step():
    """Embedding, indexing, cross_entropy (native kernels, targets checked after the call),
    backward and SGD: one jitted graph, eager's losses and parameters; a bad target raises
    the front end's IndexError and changes nothing."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    i, t = _ints(np.arange(12).reshape(3, 4) % 20), _ints([0, 4, 1, 3, 2, 0])
    eager, _, want_params = _classifier_step("jax", None)
    compiled, made, params = _classifier_step("jax", "jax")
    want = [eager(i, t).item() for _ in range(5)]
    got = [compiled(i, t).item() for _ in range(5)]
    assert [(m.jitted, m.reason) for m in made] == [(True, None)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for p, q in zip(params, want_params):
        np.testing.assert_allclose(p.detach().to("cpu").numpy(), q.detach().to("cpu").numpy(),
                                   rtol=1e-5, atol=1e-6)
    before = [p.detach().to("cpu").numpy().copy() for p in params]
    with pytest.raises(IndexError) as info:
        compiled(i, _ints([0, 4, 1, 3, 5, 0]))
    assert str(info.value) == ("cross_entropy: target 5 is out of bounds for 5 classes "
                               "(valid: 0..4, or ignore_index=-100)")
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.detach().to("cpu").numpy(), b)


def test_compiler_replays_a_graph_it_cannot_trace_and_says_why():
    """Adam's step counter lives on cpu by default (a NumPy kernel in the graph, which a trace
    cannot run): the graph is replayed from the first call on, with eager's results, and the
    compiled callable's ``jitted``/``reason`` say so."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    i, t = _ints(np.arange(12).reshape(3, 4) % 20), _ints([0, 4, 1, 3, 2, 0])
    eager, _, _ = _classifier_step("jax", None, "Adam")
    compiled, made, _ = _classifier_step("jax", "jax", "Adam")
    want = [eager(i, t).item() for _ in range(4)]
    got = [compiled(i, t).item() for _ in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(made) == 1 and made[0].jitted is False and made[0].reason


def test_compiler_jits_a_capturable_adam_step():
    """``Adam(capturable=True)`` keeps its step on ``jax``: the whole step is one jitted
    graph, with eager's losses and parameters (capturable or not)."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    i, t = _ints(np.arange(12).reshape(3, 4) % 20), _ints([0, 4, 1, 3, 2, 0])
    runs = {name: _classifier_step("jax", None, name) for name in ("Adam", "Adam-capturable")}
    compiled, made, params = _classifier_step("jax", "jax", "Adam-capturable")
    got = [compiled(i, t).item() for _ in range(5)]
    assert [(m.jitted, m.reason) for m in made] == [(True, None)]
    for eager, _, want_params in runs.values():
        np.testing.assert_allclose(got, [eager(i, t).item() for _ in range(5)], rtol=1e-5)
        for p, q in zip(params, want_params):
            np.testing.assert_allclose(p.detach().to("cpu").numpy(),
                                       q.detach().to("cpu").numpy(), rtol=1e-5, atol=1e-6)


def test_compiler_keeps_one_jitted_step_over_a_scheduled_tensor_lr():
    """A tensor lr on ``jax`` (filled in place by the scheduler) is an input of the jitted
    step: eight lr values, one capture and one ``jax.jit`` function, eager's losses."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    i, t = _ints(np.arange(12).reshape(3, 4) % 20), _ints([0, 4, 1, 3, 2, 0])
    eager, _, _ = _classifier_step("jax", None, "Adam")
    compiled, made, _ = _classifier_step("jax", "jax", "Adam-capturable",
                                         lr=corefw.tensor(0.01, device="jax"))
    scheds = [corefw.optim.lr_scheduler.CosineAnnealingLR(f.opt, T_max=8)
              for f in (eager, compiled)]
    got, want = [], []
    for _ in range(8):
        got.append(compiled(i, t).item())
        want.append(eager(i, t).item())
        for sched in scheds:
            sched.step()
    assert [(m.jitted, m.reason) for m in made] == [(True, None)]
    assert len(compiled.cache) == 1 and not compiled.recompiles
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_compiler_jits_a_step_with_dropout_drawing_eagers_masks():
    """Dropout's mask (a ``uniform`` draw of a shape) is drawn before the jitted call, in
    graph order, from the host stream: one jitted graph, eager's losses for the same seed,
    and the stream left where eager leaves it. ``bernoulli(p)`` (a ``uniform`` draw compared
    with ``p``) jits the same way; ``nonzero`` (a shape from data) is replayed, and said so."""
    pytest.importorskip("corefw.compiler", reason="this corefw has no compile")
    import corefw_jax.compiler as jc

    def run(backend):
        corefw.manual_seed(0)
        model = corefw.nn.Sequential(corefw.nn.Linear(6, 16), corefw.nn.ReLU(),
                                     corefw.nn.Dropout(0.5), corefw.nn.Linear(16, 3)).to("jax")
        opt = corefw.optim.SGD(model.parameters(), lr=0.1)
        x = corefw.randn(8, 6).to("jax")
        y = corefw.tensor([0, 1, 2, 0, 1, 2, 0, 1]).to("jax")

        def step():
            loss = corefw.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        made: list = []
        fn = step if backend is None else corefw.compile(
            step, backend=lambda g: made.append(jc.jax_jit(g)) or made[-1])
        losses = [fn().item() for _ in range(5)]
        return losses, corefw.rand(3).to("cpu").numpy(), made

    want, after_eager, _ = run(None)
    got, after, made = run("jax")
    assert [(m.jitted, m.reason) for m in made] == [(True, None)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_array_equal(after, after_eager)  # the same draws, in the same order

    p = corefw.full((4,), 0.5, device="jax")
    made = []
    probs = corefw.compile(lambda p: corefw.bernoulli(p) * 2,
                           backend=lambda g: made.append(jc.jax_jit(g)) or made[-1])
    corefw.manual_seed(1)
    got = [probs(p).to("cpu").numpy() for _ in range(3)]
    corefw.manual_seed(1)
    want = [(corefw.bernoulli(p) * 2).to("cpu").numpy() for _ in range(3)]
    np.testing.assert_array_equal(got, want)
    assert [(m.jitted, m.reason) for m in made] == [(True, None)]
    made = []
    nz = corefw.compile(lambda p: corefw.nonzero(p > 0.2).sum(),
                        backend=lambda g: made.append(jc.jax_jit(g)) or made[-1])
    assert nz(p).item() == corefw.nonzero(p > 0.2).sum().item()
    assert made and made[0].jitted is False and "nonzero" in made[0].reason
