"""The cpu code generator (``cpu_fuse``): bit-identical to eager, buffers reused only when
safe, returned tensors never overwritten by a later call, dynamic batch sizes."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from corefw_cpu import _codegen

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.compiler import Graph, Node, Value


def _np(t):
    return t.detach().numpy().copy()


def _spy():
    """A compiler that is ``cpu_fuse`` and keeps what it generated."""
    from corefw_cpu.fuse import cpu_fuse

    runs = []

    def compiler(graph):
        run = cpu_fuse(graph)
        runs.append(run)
        return run
    return compiler, runs


def _mlp_step(batch_sizes, backend):
    corefw.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                          nn.Linear(16, 5))
    opt = corefw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    fn = step if backend is None else corefw.compile(step, backend=backend)
    rng = np.random.default_rng(0)
    losses = []
    for b in batch_sizes:
        x = corefw.from_numpy(rng.standard_normal((b, 12), dtype=np.float32))
        y = corefw.from_numpy(rng.integers(0, 5, b))
        losses.append(fn(x, y))  # the tensors themselves: a later call must not change them
    return losses, [_np(p) for p in model.parameters()]


def test_training_step_uses_buffers_and_is_bit_identical_to_eager():
    compiler, runs = _spy()
    sizes = [32] * 6
    want_losses, want_params = _mlp_step(sizes, None)
    losses, params = _mlp_step(sizes, compiler)
    for a, b in zip(losses, want_losses):  # checked after all calls: none was overwritten
        assert _np(a).tobytes() == _np(b).tobytes()
    for a, b in zip(params, want_params):
        assert a.tobytes() == b.tobytes()
    src = runs[-1].source
    assert "out=b" in src and "cross_entropy_fwd_bwd" not in src.split("else:")[0]
    assert "reshape" not in src  # the targets' identity reshape was dropped
    # 7 matmul-shaped results, softmax temporaries ...: fewer buffers than values, by reuse
    assert 0 < runs[-1].buffers < src.count("out=b")


def test_dynamic_batch_sizes_equal_eager():
    sizes = [32, 48, 40, 32, 17]
    want_losses, want_params = _mlp_step(sizes, None)
    losses, params = _mlp_step(sizes, "cpu_fuse")
    for a, b in zip(losses + params, want_losses + want_params):
        a, b = (_np(v) if isinstance(v, corefw.Tensor) else v for v in (a, b))
        assert a.tobytes() == b.tobytes()


def test_returned_tensors_and_their_views_are_not_overwritten():
    def f(x):
        h = (x * 2).exp()
        t = h.t()  # a view of h, returned: h must be a fresh array
        y = (h + 1).relu()
        return t, y.sum(), y * 3

    compiled = corefw.compile(f, backend="cpu_fuse")
    xs = [corefw.randn(3, 4) for _ in range(4)]
    outs = [compiled(x) for x in xs]
    for x, out in zip(xs, outs):
        for got, want in zip(out, f(x)):
            assert _np(got).tobytes() == _np(want).tobytes()


def test_buffer_reuse_respects_views_of_dead_values():
    def f(x, w):
        a = x * 2
        b = a.t()  # b keeps a's buffer alive past a's last direct use
        c = (x + 1).exp()  # may not take a's buffer
        d = c * 3  # c dies here: in place
        return (b @ d).sum()

    x, w = corefw.randn(4, 4), corefw.randn(4, 4)
    compiler, runs = _spy()
    compiled = corefw.compile(f, backend=compiler)
    for _ in range(3):
        x = corefw.randn(4, 4)
        assert _np(compiled(x, w)).tobytes() == _np(f(x, w)).tobytes()
    assert runs and "out=b" in runs[0].source


def _value(i, shape, kind="tmp"):
    return Value(i, shape, np.dtype(np.float32), kind)


def test_in_place_reuse_and_aliasing_in_a_hand_built_graph():
    """``-(exp(x + 1) * 2)`` then ``sum``, returning the sum and ``exp``'s result: ``neg``
    overwrites the dying ``mul`` result in place, the returned ``exp`` result is a fresh array
    (so ``mul`` cannot write into it), and a second call leaves the first one's results
    intact."""
    def uf(u):  # the cpu backend's ufunc kernels: the ufunc called with out=...
        return partial(u, out=...)

    x = _value(0, (8, 8), "input")
    v1, v2, v3, v4 = (_value(i, (8, 8)) for i in (1, 2, 3, 4))
    s = Value(5, (), np.dtype(np.float32))
    red = _codegen._table().get("sum") or (lambda x, dim, keepdim: np.asarray(
        np.add.reduce(x, axis=dim, keepdims=keepdim)))
    nodes = [Node("add", uf(np.add), (x, 1.0), {}, v1), Node("exp", uf(np.exp), (v1,), {}, v2),
             Node("mul", uf(np.multiply), (v2, 2.0), {}, v3),
             Node("neg", uf(np.negative), (v3,), {}, v4),
             Node("sum", red, (v4,), {"dim": None, "keepdim": False}, s)]
    run = _codegen.codegen(Graph([x], nodes, [s, v2]))
    lines = run.source.splitlines()
    mul = next(line for line in lines if line.strip().startswith("v3 ="))
    neg = next(line for line in lines if line.strip().startswith("v4 ="))
    buf = mul.split("out=")[1].rstrip(")")
    assert buf.startswith("b") and neg.endswith(f"out={buf})")  # in place on mul's result
    assert "out=...)" in next(line for line in lines if line.strip().startswith("v2 ="))
    a = np.random.default_rng(0).standard_normal((8, 8), dtype=np.float32)
    first = run([a])
    keep = [r.copy() for r in first]
    run([a + 5])
    for r, k in zip(first, keep):
        assert r.tobytes() == k.tobytes()
    want = -(np.exp(a + 1) * 2)
    assert first[0].tobytes() == np.asarray(np.add.reduce(want, axis=None)).tobytes()
    assert first[1].tobytes() == np.exp(a + 1).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_cross_entropy_templates_bit_identical(dtype):
    corefw.manual_seed(1)
    x = corefw.randn(6, 5, dtype=getattr(corefw, np.dtype(dtype).name), requires_grad=True)
    y = corefw.tensor([0, 4, 2, 2, 1, 3])

    def f(x, y):
        p = F.softmax(x * 1.5, dim=1)
        loss = F.cross_entropy(x * 2, y)
        return loss, (p * 2).sum()

    compiled = corefw.compile(f, backend="cpu_fuse")
    for _ in range(3):
        (l1, s1), (l2, s2) = compiled(x, y), f(x, y)
        assert _np(l1).tobytes() == _np(l2).tobytes() and _np(s1).tobytes() == _np(s2).tobytes()
        (l1 + s1).backward()
        g1 = _np(x.grad)
        x.grad = None
        (l2 + s2).backward()
        assert g1.tobytes() == _np(x.grad).tobytes()
        x.grad = None


def test_shared_gradient_is_not_used_as_a_temporary():
    """``a + b``'s backward may hand both parameters the same gradient array: the SGD update
    must not use it as its temporary while the other parameter still reads it."""
    corefw.manual_seed(0)
    a = nn.Parameter(corefw.randn(16, 8))
    b = nn.Parameter(corefw.randn(16, 8))
    x = corefw.randn(16, 8)
    opt = corefw.optim.SGD([a, b], lr=0.1, momentum=0.9)

    def step(x):
        loss = ((a + b) * x).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    compiled = corefw.compile(step, backend="cpu_fuse")
    want_a, want_b = a.detach().numpy().copy(), b.detach().numpy().copy()
    for _ in range(4):
        compiled(x)
    got = (a.detach().numpy().copy(), b.detach().numpy().copy())
    a.data.copy_(corefw.from_numpy(want_a)), b.data.copy_(corefw.from_numpy(want_b))
    opt2 = corefw.optim.SGD([a, b], lr=0.1, momentum=0.9)
    for _ in range(4):
        ((a + b) * x).sum().backward()
        opt2.step()
        opt2.zero_grad()
    assert got[0].tobytes() == a.detach().numpy().tobytes()
    assert got[1].tobytes() == b.detach().numpy().tobytes()


def test_templates_still_apply_once_bfloat16_wrapped_the_kernels():
    """Using bfloat16 wraps every cpu kernel (corefw_cpu/_bfloat16.py); float32 graphs keep
    their generated code, bfloat16 ones call the kernels, both equal to eager."""
    h = corefw.ones(3, dtype=corefw.bfloat16) * 2  # installs the wrappers
    assert h.dtype == corefw.bfloat16
    compiler, runs = _spy()
    sizes = [32] * 3
    want_losses, want_params = _mlp_step(sizes, None)
    losses, params = _mlp_step(sizes, compiler)
    for a, b in zip(losses, want_losses):
        assert _np(a).tobytes() == _np(b).tobytes()
    for a, b in zip(params, want_params):
        assert a.tobytes() == b.tobytes()
    assert "out=b" in runs[-1].source and "u_greater" in runs[-1].source  # relu backward
    x = corefw.randn(4, 5).to(corefw.bfloat16)
    f = corefw.compile(lambda x: (x * 3).exp().sum(), backend="cpu_fuse")
    for _ in range(3):
        assert _np(f(x).float()).tobytes() == _np(((x * 3).exp().sum()).float()).tobytes()


@pytest.mark.parametrize("m,k,n", [(64, 784, 512), (64, 512, 256), (32, 64, 128), (5, 3, 7),
                                   (1, 9, 4)])
def test_linear_template_is_bit_identical(m, k, n):
    """The linear template multiplies with ``ndarray.dot`` (the kernel: ``np.matmul``)."""
    corefw.manual_seed(m + k + n)
    lin = nn.Linear(k, n)
    x = corefw.randn(m, k)

    def f(x):
        h = lin(x)
        return (h.relu() * 2).sum(), h

    compiler, runs = _spy()
    compiled = corefw.compile(f, backend=compiler)
    for _ in range(3):
        (s1, h1), (s2, h2) = compiled(x), f(x)
        assert _np(s1).tobytes() == _np(s2).tobytes() and _np(h1).tobytes() == _np(h2).tobytes()
    assert "dot" in runs[0].source


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_memory_layout_follows_numpy(dtype):
    """NumPy lays a result out in its operands' memory order, and a later reduction sums in
    that order: a buffer in another layout would change bits. A transposed view inside the
    graph, and a non-contiguous argument (the generated code checks its inputs), both run
    as eager does."""
    dt = getattr(corefw, dtype)
    corefw.manual_seed(3)
    a = corefw.randn(40, 6, dtype=dt, requires_grad=True)
    b = corefw.randn(5, 1, 40, dtype=dt)

    def f(a, b):
        p = a.t().reshape(1, 6, 40) * b  # in a's (transposed) memory order
        return ((p * 3).sum(2) * 2).sum(0)

    compiled = corefw.compile(f, backend="cpu_fuse")
    for _ in range(3):
        assert _np(compiled(a, b)).tobytes() == _np(f(a, b)).tobytes()
    x = corefw.randn(40, 30, dtype=dt)
    g = corefw.compile(lambda x: ((x * 2).exp() * 3).sum(1) * 2, backend="cpu_fuse")
    for arg in (x, x.t().contiguous().t(), x):  # C, then F-ordered with the same shape
        assert _np(g(arg)).tobytes() == _np(((arg * 2).exp() * 3).sum(1) * 2).tobytes()


def test_concurrent_calls_do_not_share_buffers():
    """A call while another thread runs the generated function takes its fresh-array
    version: both get their own results."""
    import threading

    w = corefw.randn(64, 64)

    def f(x):
        h = (x @ w).relu()
        return (h * 2 + 1).sum(1)

    compiled = corefw.compile(f, backend="cpu_fuse")
    xs = [corefw.randn(32, 64) for _ in range(4)]
    compiled(xs[0]), compiled(xs[0])
    want = [_np(f(x)) for x in xs]
    errors = []

    def work(k):
        for _ in range(200):
            got = _np(compiled(xs[k]))
            if got.tobytes() != want[k].tobytes():
                errors.append(k)
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
