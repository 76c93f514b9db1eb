"""``cuda_fuse`` on a GPU: compiled op-table cases, the 6-op graph, reductions, a training
step, against eager, forward and backward, and CUDA-graph replay where expected.

Every test here is marked ``cuda``: without a GPU it is collected and skipped with the reason.
They have not run yet (no GPU was lent while they were written): docs/cuda.md says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_cuda_fuse import _reductions, _six

import corefw
from corefw.compiler import CompileWarning

#: Fused kernels round like eager's (no FMA contraction), but a ReductionKernel sums in its own
#: order, not cupy.sum's (CUB), and scatter-adds (atomics) have no fixed order even eagerly:
#: float32 is compared to 1e-5 relative and absolute, float64 to 1e-12, half types to 1e-3 /
#: 1e-2 (they are never fused: only the atomics differ). Integers and bools are exact.
TOL = {np.dtype(np.float32): (1e-5, 1e-5), np.dtype(np.float64): (1e-12, 1e-12),
       np.dtype(np.float16): (1e-3, 1e-3), np.dtype(np.complex64): (1e-5, 1e-5),
       np.dtype(np.complex128): (1e-12, 1e-12)}


def _close(got, want, where=""):
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape and g.dtype == w.dtype, where
    if w.dtype.kind in "biu":
        assert np.array_equal(g, w), where
        return
    rtol, atol = TOL.get(w.dtype, (1e-2, 1e-2))  # bfloat16 and other extension floats
    if w.dtype not in TOL:
        g, w = g.astype(np.float64), w.astype(np.float64)
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=where)


@pytest.fixture
def gpu():
    """The cuda tests need corefw-cuda's CuPy backend: ``-p tests.fake_cuda`` serves ``cuda``
    with NumPy, where cuda_fuse replays (test_cuda_fuse.py checks that): nothing to verify."""
    from corefw_cuda.backend import CupyBackend

    from corefw.plugins import backends

    if not isinstance(backends().get("cuda"), CupyBackend):
        pytest.skip("cuda is not served by corefw-cuda's CuPy backend (a test stand-in)")


def _recording():
    from corefw_cuda.fuse import cuda_fuse

    made = []

    def backend(graph):
        run = cuda_fuse(graph)
        made.append((graph, run))
        return run
    return backend, made


@pytest.mark.cuda
def test_cuda_six_op_graph_fused_graphed_forward_and_backward(gpu):
    rng = np.random.default_rng(0)
    host = [(0.1 * rng.standard_normal(s)).astype(np.float32)
            for s in ((32, 64), (64, 128), (128,), (32, 128))]

    def leaves():
        return [corefw.tensor(h, device="cuda", requires_grad=True) for h in host]

    backend, made = _recording()
    f = corefw.compile(_six, backend=backend)
    eager = leaves()
    want = _six(*eager)
    want.backward()
    xs = leaves()  # the same leaves every call (see the report on fresh leaves per call)
    for _ in range(4):  # trace, warm-up, capture, launch
        for x in xs:
            x.grad = None
        got = f(*xs)
        got.backward()
        _close(got.detach().cpu().numpy(), want.detach().cpu().numpy(), "6-op forward")
        for x, e in zip(xs, eager):
            _close(x.grad.detach().cpu().numpy(), e.grad.detach().cpu().numpy(), "6-op gradient")
    runs = [run for _, run in made]
    assert any("fused" in run.source or "fused_reduce" in run.source for run in runs)
    assert all(run.cuda_graph for run in runs), [(run.cuda_graph, run.reason) for run in runs]


@pytest.mark.cuda
def test_cuda_reductions_fused_equal_eager(gpu):
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        a, b = (corefw.tensor(rng.standard_normal((64, 33)).astype(dtype), device="cuda")
                for _ in range(2))
        backend, made = _recording()
        f = corefw.compile(_reductions, backend=backend)
        with corefw.no_grad():
            want = _reductions(a, b)
            for _ in range(3):
                got = f(a, b)
                for g, w in zip(got, want):
                    _close(g.detach().cpu().numpy(), w.detach().cpu().numpy(),
                           f"reductions {dtype}")
        assert "fused_reduce" in made[0][1].source


@pytest.mark.cuda
def test_cuda_returned_arrays_are_not_overwritten_by_the_next_call(gpu):
    backend, made = _recording()
    f = corefw.compile(lambda x: (x * 2 + 1).relu(), backend=backend)
    xs = [corefw.randn(16, 16, device="cuda") for _ in range(5)]
    outs = [f(x) for x in xs]  # trace, warm-up, capture, launch, launch
    for x, out in zip(xs, outs):
        _close(out.detach().cpu().numpy(), (x * 2 + 1).relu().detach().cpu().numpy(), "kept result")
    (_, run), = made
    assert run.cuda_graph, run.reason
    assert "# fused" in run.source


@pytest.mark.cuda
def test_cuda_training_step_matches_eager(gpu):
    def run(compiled: bool):
        corefw.manual_seed(0)
        model = corefw.nn.Sequential(corefw.nn.Linear(64, 128), corefw.nn.ReLU(),
                                     corefw.nn.Linear(128, 10)).to("cuda")
        opt = corefw.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(2)
        x = corefw.tensor(rng.standard_normal((32, 64)).astype(np.float32), device="cuda")
        t = corefw.tensor(rng.integers(0, 10, 32), device="cuda")

        def step(x, t):
            loss = corefw.nn.functional.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        backend, made = _recording()
        fn = corefw.compile(step, backend=backend) if compiled else step
        losses = [fn(x, t).item() for _ in range(6)]
        return losses, [p.detach().detach().cpu().numpy() for p in model.parameters()], made

    want, want_params, _ = run(False)
    got, got_params, made = run(True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for g, w in zip(got_params, want_params):
        _close(g, w, "parameters after 6 steps")
    assert any(run.cuda_graph for _, run in made), [(r.cuda_graph, r.reason) for _, r in made]


@pytest.mark.cuda
def test_cuda_random_ops_fall_back_with_the_reason(gpu):
    backend, made = _recording()
    f = corefw.compile(lambda x: corefw.nn.functional.dropout(x, 0.5) * 2, backend=backend)
    x = corefw.randn(8, 8, device="cuda")
    for _ in range(3):
        corefw.manual_seed(3)
        got = f(x)
        corefw.manual_seed(3)
        want = corefw.nn.functional.dropout(x, 0.5) * 2
        _close(got.detach().cpu().numpy(), want.detach().cpu().numpy(), "dropout")
    assert not made[0][1].cuda_graph and "random" in made[0][1].reason


@pytest.mark.cuda
def test_cuda_every_op_case_compiled_with_cuda_fuse_equals_eager(gpu):
    from corefw.testing import cases as C
    from corefw.testing import runner

    ctx = runner.make_context("cuda")
    C.cases_for("add")
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for op_name, cases in sorted(C.CASES.items()):
            if op_name == "to_device":
                continue
            for case in cases:
                for dtype in case.dtypes():
                    for variant in case.variants:
                        if variant == "large":
                            continue
                        rng = np.random.default_rng(runner._seed(op_name, variant, dtype))
                        try:
                            sample = case.make(rng, variant, dtype, ctx.env())
                        except C.NotApplicable:
                            continue
                        _check_case(op_name, case, sample, variant, dtype, ctx, runner)
                        checked += 1
    assert checked > 100


def _check_case(op_name, case, sample, variant, dtype, ctx, runner):
    grad = tuple(sample.grad if sample.grad is not None else case.grad) \
        if dtype.startswith("float") else ()
    inputs, leaves, _ = runner._tensors(sample, ctx, variant, grad)
    attrs = dict(sample.attrs)
    if case.creation:
        attrs.update(device=ctx.device, dtype=runner._dtype(dtype))

    def fn(*xs):
        return case.fn(*xs, **attrs)

    compiled = corefw.compile(fn, backend="cuda_fuse")
    where = f"{op_name} [{variant}, {dtype}, cuda_fuse]"
    corefw.manual_seed(7)
    want = fn(*inputs)
    wants = list(want) if isinstance(want, (tuple, list)) else [want]
    for _ in range(3):  # trace, capture, launch
        corefw.manual_seed(7)
        got = compiled(*inputs)
        gots = list(got) if isinstance(got, (tuple, list)) else [got]
        for w, g in zip(wants, gots):
            if isinstance(w, corefw.Tensor):
                _close(g.detach().detach().cpu().numpy(), w.detach().detach().cpu().numpy(), where)
            else:
                assert g == w, where
    outs = [o for o in gots if isinstance(o, corefw.Tensor) and o.requires_grad]
    ref = [o for o in wants if isinstance(o, corefw.Tensor) and o.requires_grad]
    if outs and compiled.cache:
        got_g = corefw.autograd.grad([o.sum() for o in outs], list(leaves.values()),
                                     allow_unused=True, retain_graph=True)
        want_g = corefw.autograd.grad([o.sum() for o in ref], list(leaves.values()),
                                      allow_unused=True)
        for w, g in zip(want_g, got_g):
            assert (w is None) == (g is None), where
            if w is not None:
                _close(g.detach().cpu().numpy(), w.detach().cpu().numpy(), f"{where} gradient")
