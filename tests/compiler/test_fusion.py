"""corefw.compiler.fusion: chains found and split correctly; the cpu (numexpr) and cuda
(CuPy C expression) renderings of a chain."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.compiler import replay
from corefw.compiler.fusion import fuse_chains


def _graph(fn, *args):
    compiled = corefw.compile(fn)
    compiled(*args)
    (plan,) = compiled.cache.values()
    return plan.graphs[0]


def _numpy_emit(tree, inputs, dtype):
    ops = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "exp": np.exp, "relu": lambda x: np.maximum(x, 0), "neg": np.negative,
           "tanh": np.tanh, "maximum": np.maximum}

    def ev(t, arrays):
        if t[0] == "in":
            return arrays[t[1]]
        if t[0] == "const":
            return t[1]
        return ops[t[0]](*[ev(c, arrays) for c in t[1:]])
    return lambda *arrays: ev(tree, arrays).astype(dtype, copy=False)


def test_chains_are_fused_and_split_where_a_value_escapes():
    def f(a, b):
        h = corefw.relu(a + b)             # h is read by the matmul below: a chain ends here
        y = corefw.exp(h * 0.5 - b).tanh()
        return (h @ b.T).sum() + y.sum()

    a, b = corefw.randn(6, 6), corefw.randn(6, 6)
    graph = _graph(f, a, b)
    fused = fuse_chains(graph, _numpy_emit)
    assert [n.op for n in fused.nodes][:3] == ["fused", "fused", "permute"]
    assert sum(n.op == "fused" for n in fused.nodes) == 2
    got = replay(fused)([a.numpy(), b.numpy()])[0]
    assert np.allclose(got, f(a, b).numpy(), rtol=1e-5)
    assert fuse_chains(graph, _numpy_emit, min_elements=10**6).nodes == graph.nodes


def test_cuda_rendering_of_a_chain():
    from corefw_cuda.fuse import render

    tree = ("exp", ("mul", ("relu", ("add", ("in", 0), ("in", 1))), ("const", 0.5)))
    assert render(tree) == "exp((cfw_max((x0 + x1), (T)0) * ((T)0.5)))"


def test_a_value_inlined_in_one_piece_and_read_by_another_is_kept():
    # atan2's backward: r is read by both escaping quotients, so the chain is cut after r
    def f(x, y, g):
        r = x * x + y * y
        return g * x / r, -g * y / r

    x, y, g = corefw.randn(5, 4), corefw.randn(5, 4), corefw.randn(5, 4)
    graph = _graph(f, x, y, g)
    fused = fuse_chains(graph, _numpy_emit)
    made = {id(v) for v in fused.inputs}
    for n in fused.nodes:  # every value read is an input, a constant or made earlier
        assert all(id(v) in made or v.kind == "const" for v in n.values()), n
        made.add(id(n.out))
    assert [n.op for n in fused.nodes] == ["fused"] * 3
    got = replay(fused)([x.numpy(), y.numpy(), g.numpy()])
    xs, ys, gs = (t.numpy().astype(np.float64) for t in (x, y, g))
    r = xs * xs + ys * ys
    for a, want in zip(got, (gs * xs / r, -gs * ys / r), strict=True):
        assert np.allclose(a, want, rtol=1e-5, atol=1e-6)


def _size(tree) -> int:
    return 1 if tree[0] in ("in", "const") else 1 + sum(_size(c) for c in tree[1:])


def test_max_size_cuts_trees_that_would_grow_exponentially():
    # y = y * y reads y twice inside the piece: written out, the tree doubles per step
    def f(x):
        for _ in range(30):
            x = x * x * 0.5 + 0.25
        return x

    x = corefw.rand(3, 3)
    graph = _graph(f, x)
    sizes = []

    def emit(tree, inputs, dtype):
        sizes.append(_size(tree))
        return _numpy_emit(tree, inputs, dtype)

    fused = fuse_chains(graph, emit, max_size=20)
    assert sizes and max(sizes) <= 20 and len(sizes) >= 9
    np.testing.assert_allclose(replay(fused)([x.numpy()])[0], f(x).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="max_size must be at least 3"):
        fuse_chains(graph, emit, max_size=2)
