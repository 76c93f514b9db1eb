"""``cuda_fuse``: the compiler of corefw-cuda (corefw_cuda.fuse, corefw_cuda._cuda_graph).

Without a GPU these check the pure parts on graphs captured from real corefw functions on the
cpu device: the C text rendered for every op and constant, the ReductionKernel arguments, the
reduction pass (its rewritten graph evaluated on the host from the same trees must equal
eager), the capture-safety decisions, and -- where NVRTC is installed -- that every kernel
source the compiler can emit compiles (test_cuda_fuse_rewrites.py runs the rewrites on every
op-table case). None of this runs a CuPy kernel or a CUDA graph: the tests in
test_cuda_fuse_gpu.py do, and they wait for a GPU (docs/cuda.md).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from corefw_cuda import fuse as F
from corefw_cuda._cuda_graph import capture_safety, graphed, written_inputs

import corefw
from corefw.compiler import CompileWarning, replay
from corefw.compiler.fusion import ELEMENTWISE, fuse_chains


def _graphs(fn, *args, backend=None, calls=1):
    """The graphs ``fn`` compiles to (a custom compiler callable that keeps them)."""
    got = []

    def keep(graph):
        got.append(graph)
        return (backend or replay)(graph)

    compiled = corefw.compile(fn, backend=keep)
    for _ in range(calls):
        compiled(*args)
    return got


# -- rendering ---------------------------------------------------------------------------------
RENDERED = {
    "add": "(x0 + x1)", "sub": "(x0 - x1)", "mul": "(x0 * x1)", "div": "(x0 / x1)",
    "maximum": "cfw_max(x0, x1)", "minimum": "cfw_min(x0, x1)", "neg": "(-x0)",
    "exp": "exp(x0)", "log": "log(x0)", "sqrt": "sqrt(x0)", "tanh": "tanh(x0)",
    "sin": "sin(x0)", "cos": "cos(x0)", "abs": "fabs(x0)", "relu": "cfw_max(x0, (T)0)",
}


def test_every_fusable_op_has_a_rendering():
    assert set(RENDERED) == set(ELEMENTWISE)


@pytest.mark.parametrize("op", sorted(RENDERED))
def test_rendered_op(op):
    tree = (op, *[("in", i) for i in range(ELEMENTWISE[op])])
    assert F.render(tree) == RENDERED[op]


@pytest.mark.parametrize("value, text", [
    (0.5, "((T)0.5)"), (2, "((T)2.0)"), (-3, "((T)-3.0)"), (1e-30, "((T)1e-30)"),
    (math.inf, "((T)cfw_inf())"), (-math.inf, "((T)-cfw_inf())"),
    (math.nan, "((T)cfw_nan())")])
def test_rendered_constants(value, text):
    assert F.render(("const", value)) == text


def test_rendered_chain_and_spec():
    tree = ("exp", ("mul", ("relu", ("add", ("in", 0), ("in", 1))), ("const", 0.5)))
    assert F.render(tree) == "exp((cfw_max((x0 + x1), (T)0) * ((T)0.5)))"
    assert F.elementwise_spec(tree, 2) == (
        "T x0, T x1", "T y", "y = exp((cfw_max((x0 + x1), (T)0) * ((T)0.5)));")


# -- reduction specs ---------------------------------------------------------------------------
def test_reduction_spec_sum_of_a_chain():
    tree = ("mul", ("in", 0), ("in", 1))
    assert F.reduction_spec("sum", tree, 2) == {
        "in_params": "T x0, T x1", "out_params": "T y", "map_expr": "(x0 * x1)",
        "reduce_expr": "a + b", "post_map_expr": "y = (T)(a)", "identity": "0",
        "reduce_type": "float"}


def test_reduction_spec_mean_post_map_and_float64():
    spec = F.reduction_spec("sum", ("exp", ("in", 0)), 1,
                            ("div", ("in", 0), ("const", 20)), np.float64)
    assert spec["post_map_expr"] == "y = (T)((a / ((T)20.0)))"
    assert spec["reduce_type"] == "double" and spec["map_expr"] == "exp(x0)"


def test_reduction_spec_amax_amin_identities():
    amax = F.reduction_spec("amax", ("in", 0), 1)
    amin = F.reduction_spec("amin", ("in", 0), 1)
    assert (amax["reduce_expr"], amax["identity"]) == ("cfw_max(a, b)", "-cfw_inf()")
    assert (amin["reduce_expr"], amin["identity"]) == ("cfw_min(a, b)", "cfw_inf()")


def test_reduction_spec_refuses_half():
    with pytest.raises(TypeError, match="float16 is not fused"):
        F.reduction_spec("sum", ("in", 0), 1, dtype=np.float16)


# -- the reduction pass, evaluated on the host -------------------------------------------------
_NP = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
       "maximum": np.maximum, "minimum": np.minimum, "neg": np.negative, "exp": np.exp,
       "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
       "abs": np.abs, "relu": lambda x: np.maximum(x, 0)}
_NP_REDUCE = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min}


def _ev(tree, arrays, dtype):
    if tree[0] == "in":
        return arrays[tree[1]]
    if tree[0] == "const":
        return dtype.type(tree[1])
    return _NP[tree[0]](*[_ev(c, arrays, dtype) for c in tree[1:]])


def _host_make(made):
    """A ``make`` for fuse_reductions that evaluates its trees with NumPy."""
    def make(spec, axis, keepdims, parts):
        op, tree, post = parts
        made.append((spec, axis, keepdims, parts))

        def kernel(*arrays):
            dtype = arrays[0].dtype
            a = _NP_REDUCE[op](_ev(tree, arrays, dtype), axis=axis, keepdims=keepdims)
            return np.asarray(a if post is None else _ev(post, [a], dtype), dtype)
        return kernel
    return make


def _host_emit(tree, inputs, dtype):
    def kernel(*arrays):
        return np.asarray(_ev(tree, arrays, np.dtype(dtype)), dtype)
    kernel.tree = tree
    return kernel


def _six(a, b, c, d):
    return corefw.exp(corefw.relu(a @ b + c) * d).sum()


def _reductions(a, b):
    h = corefw.relu(a * b + 1.0)
    return (h.sum(), (a - b).exp().mean(dim=1), (a * b).amax(dim=0, keepdim=True),
            (a + b).amin(), (a * 2).sum(dim=(0, 1)), a.amax(), (a * b).mean() * 3.0)


def test_reduction_pass_rewrites_and_equals_eager():
    a, b = corefw.randn(4, 5), corefw.randn(4, 5)
    (graph,) = _graphs(_reductions, a, b)
    made = []
    fused = F.fuse_reductions(fuse_chains(graph, _host_emit), _host_make(made))
    ops = [n.op for n in fused.nodes]
    # six of the seven reductions take their chain or post-map in (a.amax() has neither)
    assert ops.count("fused_reduce") == 6 and ops.count("amax") == 1, fused
    assert not {"relu", "exp", "div", "sum", "amin"} & set(ops), fused
    specs = {p[0]: s for s, _, _, p in made}
    assert set(specs) == {"sum", "amax", "amin"}
    mean = [s for s, axis, _, _ in made if s["post_map_expr"] != "y = (T)(a)"]
    assert {s["post_map_expr"] for s in mean} == {
        "y = (T)((a / ((T)5.0)))", "y = (T)(((a / ((T)20.0)) * ((T)3.0)))"}
    got = replay(fused)([a.numpy(), b.numpy()])
    for g, w in zip(got, _reductions(a, b)):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-6, atol=1e-6)
        assert g.shape == w.shape and g.dtype == w.numpy().dtype


def test_reduction_pass_leaves_values_read_elsewhere():
    def f(a, b):
        h = a * b
        return h.sum(), h  # h is returned: the product must stay materialised

    a, b = corefw.randn(3, 4), corefw.randn(3, 4)
    (graph,) = _graphs(f, a, b)
    fused = F.fuse_reductions(fuse_chains(graph, _host_emit), _host_make([]))
    assert [n.op for n in fused.nodes] == ["mul", "sum"]


def test_reduction_pass_broadcasts_and_leaves_empty_amax():
    def f(a, b, e):
        return (a * b).sum(dim=0), (e * 2.0).amax(dim=1)

    a, b, e = corefw.randn(4, 1), corefw.randn(5), corefw.randn(0, 3)
    (graph,) = _graphs(f, a, b, e)
    fused = F.fuse_reductions(fuse_chains(graph, _host_emit), _host_make([]))
    # the broadcast product is fused; the amax of an empty array is not (no identity there)
    assert [n.op for n in fused.nodes] == ["fused_reduce", "mul", "amax"], fused
    got = replay(fused)([a.numpy(), b.numpy(), e.numpy()])
    for g, w in zip(got, f(a, b, e)):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-6, atol=1e-7)
        assert g.shape == w.shape


def test_fused_six_op_graph_with_backward_equals_eager_on_the_host():
    rng = np.random.default_rng(0)
    args = [corefw.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
            for s in ((8, 6), (6, 5), (5,), (8, 5))]
    fwd, *rest = _graphs(lambda *xs: _six(*xs), *args)
    fused = F.fuse_reductions(fuse_chains(fwd, _host_emit), _host_make([]))
    assert "fused" in [n.op for n in fused.nodes]
    inputs = [x.detach().numpy() for x in args]
    assert [v.shape for v in fwd.inputs] == [x.shape for x in inputs]
    got, want = replay(fused)(inputs), replay(fwd)(inputs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


# -- capture safety ----------------------------------------------------------------------------
def test_elementwise_and_matmul_graph_is_capture_safe():
    a, b, c, d = corefw.randn(8, 6), corefw.randn(6, 5), corefw.randn(5), corefw.randn(8, 5)
    (graph,) = _graphs(_six, a, b, c, d)
    assert capture_safety(graph) == (True, "")
    assert written_inputs(graph) == []


def test_random_ops_are_not_capture_safe():
    def f(x):
        return corefw.nn.functional.dropout(x, 0.5, training=True) * 2

    (graph,) = _graphs(f, corefw.randn(4, 4))
    ok, why = capture_safety(graph)
    assert not ok and "random" in why, why


def test_every_random_primitive_is_unsafe():
    from corefw_cuda._cuda_graph import UNSAFE_OPS

    from corefw.ops.primitives import RANDOM

    assert set(RANDOM) <= UNSAFE_OPS


def test_item_and_branches_are_not_capture_safe():
    def item(x):
        return x * (x.sum().item() + 1.0)

    def branch(x):
        return x * 2 if bool(x.sum() > 0) else x * 3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for fn in (item, branch):
            graphs = _graphs(fn, corefw.randn(4))
            verdicts = [capture_safety(g) for g in graphs]
            assert any(not ok and "host" in why for ok, why in verdicts), (fn, verdicts)


def test_nonzero_is_not_capture_safe():
    def f(x):
        return corefw.nonzero(x > 0).sum()

    graphs = _graphs(f, corefw.randn(6))
    assert not all(capture_safety(g)[0] for g in graphs)


def test_a_python_value_input_is_not_capture_safe():
    from corefw.compiler import Graph, Node, Value

    x, n = Value(0, (3, 2), np.dtype(np.float32), "input"), Value(1, None, None, "input")
    out = Value(2, (6,), np.dtype(np.float32))
    graph = Graph([x, n], [Node("reshape", np.reshape, (x, n), {}, out)], [out])
    ok, why = capture_safety(graph)
    assert not ok and "%1" in why and "fixed shape" in why, why


def _training_step_graphs(make_opt):
    """The graphs of three compiled training steps of a linear model with ``make_opt``."""
    model = corefw.nn.Linear(3, 2)
    opt = make_opt(model.parameters())
    x, y = corefw.randn(4, 3), corefw.randn(4, 2)

    def step(x, y):
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return _graphs(step, x, y, calls=3)


def test_optimizer_step_writes_its_parameters():
    graphs = _training_step_graphs(lambda ps: corefw.optim.SGD(ps, lr=0.1, momentum=0.9))
    writers = [g for g in graphs if any(n.mutates for n in g.nodes)]
    assert writers, [str(g) for g in graphs]
    for g in writers:
        written = written_inputs(g)
        assert written, g
        # each written input is read by an in-place node (directly or through a view)
        assert all(g.inputs[i].shape is not None for i in written)


@pytest.mark.parametrize("capturable", [False, True])
def test_an_adam_step_is_capture_safe_when_capturable(capturable):
    """Adam's default step reads its cpu step counter on the host (``host.item``): replayed
    without a CUDA graph. ``capturable=True`` keeps the counter a device tensor: the whole
    training step is capture safe."""
    graphs = _training_step_graphs(
        lambda ps: corefw.optim.Adam(ps, lr=0.1, capturable=capturable))
    verdicts = [capture_safety(g) for g in graphs]
    if capturable:
        assert verdicts and all(ok for ok, _ in verdicts), verdicts
    else:
        assert any(not ok and "host.item" in why for ok, why in verdicts), verdicts


def test_a_view_of_a_written_input_returned_is_not_captured():
    """Its static buffer would be returned as a copy while eager returns the caller's memory,
    which the write changed: the program replays instead."""
    from corefw_cuda._cuda_graph import _plan

    def view(p, g):
        p.sub_(g)
        return p.reshape(-1)

    def fresh(p, g):
        p.sub_(g)
        return p, (p * 2).sum()

    (g1,) = _graphs(view, corefw.randn(2, 3), corefw.randn(2, 3))
    assert "view of input %0" in _plan(g1)
    run = graphed(g1, replay(g1))
    assert run.cuda_graph is False and "writes in place" in run.reason
    (g2,) = _graphs(fresh, corefw.randn(2, 3), corefw.randn(2, 3))
    assert _plan(g2) == ([0], {})  # input 0 is copied back after each launch
    from corefw.compiler import Graph, Value

    x = Value(0, (2,), np.dtype(np.float32), "input")
    assert _plan(Graph([x], [], [x])) == ([], {0: 0})  # an input returned: the caller's array


# -- the compiled callable without a GPU -------------------------------------------------------
def test_cuda_fuse_on_a_cpu_graph_replays_and_says_why():
    from corefw_cuda.fuse import cuda_fuse

    a, b, c, d = corefw.randn(8, 6), corefw.randn(6, 5), corefw.randn(5), corefw.randn(8, 5)
    f = corefw.compile(_six, backend="cuda_fuse")
    for _ in range(3):
        got = f(a, b, c, d)
    assert np.array_equal(got.numpy(), _six(a, b, c, d).numpy())
    (graph,) = _graphs(_six, a, b, c, d)
    run = cuda_fuse(graph)
    assert run.cuda_graph is False and "not cuda" in run.reason


def _on_cuda(graph):
    """``graph`` relabelled as a cuda graph (its arrays stay NumPy: nothing may run it)."""
    graph.device = corefw.device("cuda")
    return graph


def test_cuda_fuse_builds_real_cupy_kernels_without_a_gpu():
    """CuPy's kernel constructors accept what cuda_fuse passes (preamble, options,
    reduce_type); they compile on their first call, which needs a GPU."""
    cupy = pytest.importorskip("cupy", reason="cupy is not installed")
    (graph,) = _graphs(_reductions, corefw.randn(4, 5), corefw.randn(4, 5))
    (chain,) = _graphs(lambda a, b: (a * b + 1.0).relu(), corefw.randn(4), corefw.randn(4))

    def kernels(g, op, cls):
        nodes = [n for n in F.fuse(_on_cuda(g)).nodes if n.op == op]
        return [n for n in nodes if any(isinstance(c.cell_contents, cls)
                                        for c in n.kernel.__closure__)]

    assert len(kernels(graph, "fused_reduce", cupy.ReductionKernel)) == 6
    assert len(kernels(chain, "fused", cupy.ElementwiseKernel)) == 1
    run = F.cuda_fuse(graph)
    assert run.cuda_graph is False and "second call" in run.reason  # safe: captures on call 2
    assert run.source.count("# fused_reduce") == 6


def test_cuda_fuse_replays_where_cuda_is_a_stand_in(monkeypatch):
    (graph,) = _graphs(_six, corefw.randn(8, 6), corefw.randn(6, 5), corefw.randn(5),
                       corefw.randn(8, 5))
    monkeypatch.setattr(F, "_ours", lambda: False)
    run = F.cuda_fuse(_on_cuda(graph))
    assert run.cuda_graph is False and "not served by corefw-cuda" in run.reason
    assert "fused" not in run.source


def test_graphed_unsafe_program_is_plain_replay_with_the_reason():
    (graph,) = _graphs(lambda x: corefw.nn.functional.dropout(x, 0.5) + 1, corefw.randn(3))
    plain = replay(graph)
    run = graphed(graph, plain)
    assert run is plain and run.cuda_graph is False and "random" in run.reason


def test_graphed_safe_program_with_host_arrays_stays_plain():
    a, b, c, d = corefw.randn(8, 6), corefw.randn(6, 5), corefw.randn(5), corefw.randn(8, 5)
    (graph,) = _graphs(_six, a, b, c, d)
    run = graphed(graph, replay(graph))
    inputs = [a.numpy(), b.numpy(), c.numpy(), d.numpy()]
    want = replay(graph)(inputs)
    for _ in range(3):  # warm-up, then calls whose NumPy arrays cannot be captured
        got = run(inputs)
        assert np.array_equal(got[0], want[0])
    assert run.cuda_graph is False and "second call" in run.reason


# -- the kernel sources compile (NVRTC, no GPU needed) -----------------------------------------
def _nvrtc_compile(source: str, name: str) -> None:
    from test_cuda_sources import _compile

    _compile(source, name)


def _ew_source(tree, n: int, ctype: str) -> str:
    params, _, body = F.elementwise_spec(tree, n)
    args = ", ".join([f"const T* x{i}_ptr" for i in range(n)] + ["T* y_ptr"])
    loads = " ".join(f"const T x{i} = x{i}_ptr[i];" for i in range(n))
    return (f"typedef {ctype} T;\n{F.PREAMBLE}\nextern \"C\" __global__ void k({args}) {{\n"
            f"  const int i = blockIdx.x * blockDim.x + threadIdx.x;\n  {loads}\n"
            f"  T& y = y_ptr[i];\n  {body}\n}}\n")


def _reduce_source(spec: dict, n: int, ctype: str) -> str:
    """CuPy's reduction template in miniature: REDUCE/POST_MAP macros, the identity, the map."""
    args = ", ".join([f"const T* x{i}_ptr" for i in range(n)] + ["T* y_ptr"])
    loads = " ".join(f"const T x{i} = x{i}_ptr[i];" for i in range(n))
    return (f"typedef {ctype} T;\n{F.PREAMBLE}\n"
            f"#define REDUCE(a, b) ({spec['reduce_expr']})\n"
            f"#define POST_MAP(a) ({spec['post_map_expr']})\n"
            f"typedef {spec['reduce_type']} _type_reduce;\n"
            f"extern \"C\" __global__ void k({args}) {{\n"
            f"  const int i = blockIdx.x * blockDim.x + threadIdx.x;\n  {loads}\n"
            f"  _type_reduce _s = _type_reduce({spec['identity']});\n"
            f"  _type_reduce _a = static_cast<_type_reduce>({spec['map_expr']});\n"
            f"  _s = REDUCE(_s, _a);\n  T& y = y_ptr[0];\n  POST_MAP(_s);\n}}\n")


@pytest.mark.parametrize("ctype", ["float", "double"])
def test_every_elementwise_rendering_compiles(ctype):
    for op, arity in ELEMENTWISE.items():
        tree = (op, *[("in", i) for i in range(arity)])
        _nvrtc_compile(_ew_source(tree, arity, ctype), f"ew_{op}_{ctype}")
    consts = ("add", ("mul", ("in", 0), ("const", math.inf)), ("const", math.nan))
    _nvrtc_compile(_ew_source(consts, 1, ctype), f"ew_consts_{ctype}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(F.REDUCTIONS))
def test_every_reduction_spec_compiles(op, dtype):
    tree = ("exp", ("mul", ("relu", ("in", 0)), ("in", 1)))
    spec = F.reduction_spec(op, tree, 2, ("div", ("in", 0), ("const", 7)), dtype)
    ctype = "float" if dtype == np.float32 else "double"
    _nvrtc_compile(_reduce_source(spec, 2, ctype), f"reduce_{op}_{ctype}")


def test_a_broken_fused_source_is_reported():
    """The compile check can fail: an unknown function does not compile."""
    with pytest.raises(AssertionError, match="does not compile"):
        _nvrtc_compile(_ew_source(("in", 0), 1, "float").replace("y = x0", "y = nope(x0)"),
                       "broken")


def test_fused_amax_refuses_a_zero_size_reduction_like_eager():
    """A program made dynamic can meet a zero batch the capture never saw."""
    pytest.importorskip("cupy", reason="cupy is not installed")
    from corefw.errors import CorefwIndexError

    spec = F.reduction_spec("amax", ("mul", ("in", 0), ("const", 2.0)), 1)
    run = F._reduce_kernel(spec, (0,), False)
    with pytest.raises(CorefwIndexError, match="zero-size dim"):
        run(np.zeros((0, 3), np.float32))  # refused before any kernel runs
