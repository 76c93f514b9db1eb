"""``cuda_fuse``'s graph rewrites (corefw_cuda.fuse.fuse) on every op-table case and a training
step, with host kernels evaluating the same expression trees the CuPy kernels are built from:
the rewritten programs must equal eager, forward and backward. This checks the graph surgery
(what is fused, moved, kept), not CuPy's numerics: that waits for a GPU (docs/cuda.md).
"""

from __future__ import annotations

import numpy as np
from corefw_cuda import fuse as F
from test_cuda_fuse import _graphs, _host_emit, _host_make

import corefw
from corefw.compiler import replay


def _host_fuse(graph, counts=None):
    """cuda_fuse's rewrites (:func:`corefw_cuda.fuse.fuse`: chains, then reductions) with host
    kernels from the same trees: checks the graph surgery on every captured program, not
    CuPy's numerics."""
    fused = F.fuse(graph, _host_emit, _host_make([]))
    assert F.well_formed(fused), fused
    if counts is not None:
        for n in fused.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
    return replay(fused)


def test_a_value_read_by_two_fused_pieces_is_made_by_its_own_kernel():
    """``x*x + y*y`` is read by two escaping divisions (atan2's backward): fuse_chains cuts
    the chain after it, so every piece reads only values made before it."""
    def f(y, x, g):
        r = x * x + y * y
        return g * x / r, -g * y / r

    graph = _graphs(f, corefw.randn(3, 4), corefw.randn(3, 4), corefw.randn(3, 4))[0]
    fused = F.fuse(graph, _host_emit, _host_make([]))
    assert F.well_formed(fused) and [n.op for n in fused.nodes] == ["fused"] * 3


def test_host_evaluated_rewrites_equal_eager_on_every_op_case():
    """The first variant in the first float dtype of every case (float64 where a case has no
    float32), forward and backward, through :func:`corefw.testing.check_compiler`."""
    from corefw.testing import check_compiler

    counts: dict[str, int] = {}
    report = check_compiler(lambda graph: _host_fuse(graph, counts), rtol=1e-5, atol=1e-6,
                            dtypes=["float32", "float64"], first_dtype_only=True,
                            first_variant_only=True)
    assert report.checked > 150, report.summary()
    # the rewrites happened (about 170 fused chains and 60 fused reductions in 2026-12)
    assert counts.get("fused", 0) > 100 and counts.get("fused_reduce", 0) > 30, counts


def test_host_evaluated_rewrites_of_a_training_step_equal_eager():
    def train(backend):
        corefw.manual_seed(0)
        model = corefw.nn.Sequential(corefw.nn.Linear(8, 16), corefw.nn.ReLU(),
                                     corefw.nn.Linear(16, 3))
        opt = corefw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, t = corefw.randn(5, 8), corefw.tensor([0, 2, 1, 1, 0])

        def step(x, t):
            loss = corefw.nn.functional.cross_entropy(model(x), t) + \
                (model[0].weight ** 2).mean() * 0.01
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss

        fn = corefw.compile(step, backend=backend) if backend else step
        losses = [fn(x, t).item() for _ in range(5)]
        return losses, [p.detach().numpy().copy() for p in model.parameters()]

    made = []
    want, want_p = train(None)
    got, got_p = train(lambda g: made.append(g) or _host_fuse(g))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for g, w in zip(got_p, want_p):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    fused = [F.fuse(g, _host_emit, _host_make([])) for g in made]
    assert any(n.op == "fused_reduce" for g in fused for n in g.nodes)


def test_a_value_read_twice_per_level_does_not_grow_the_kernel_exponentially():
    """``y * y`` writes ``y``'s expression twice: 20 levels would be 2**20 copies of ``x0``
    in one CUDA source; fuse cuts pieces at ``MAX_SIZE`` ops and leaves."""
    def f(x):
        y = x
        for _ in range(20):
            y = (y * y) * 0.25 + x  # stays below 2 for x in [0, 1)
        return y

    x = corefw.rand(3, 4)
    graph = _graphs(f, x)[0]
    fused = F.fuse(graph, _host_emit, _host_make([]))
    sizes = [len(F.render(n.kernel.tree)) for n in fused.nodes if n.op == "fused"]
    assert sizes and max(sizes) < 40 * F.MAX_SIZE, sizes
    assert F.well_formed(fused)
    np.testing.assert_allclose(replay(fused)([x.numpy()])[0], f(x).numpy(), rtol=1e-6)
