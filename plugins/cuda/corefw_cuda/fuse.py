"""``cuda_fuse``: the corefw.compile compiler of corefw-cuda, in three steps.

1. Chains of elementwise kernels (:func:`corefw.compiler.fusion.fuse_chains`) become one CuPy
   ``ElementwiseKernel`` each (one launch, no temporaries).
2. A ``sum`` / ``amax`` / ``amin`` (``mean`` is captured as ``sum`` then ``div`` by the count)
   whose operand is such a chain, or a single elementwise node, read by nothing else, becomes
   one ``ReductionKernel``: the chain is its map expression, the reduction its reduce
   expression, and elementwise ops of the reduced value with constants (the ``div`` of a
   mean) its post-map expression (:func:`fuse_reductions`).
3. The program is replayed (:func:`corefw.compiler.replay`) and, where every node is
   capture-safe, captured once into a CUDA graph that later calls launch
   (:mod:`corefw_cuda._cuda_graph`).

The C source of every kernel comes from pure functions (:func:`render`,
:func:`elementwise_spec`, :func:`reduction_spec`) that need neither CuPy nor a GPU; the tests
compile their output with NVRTC where it is installed. Kernels are compiled with
``--fmad=false`` so ``a * b + c`` rounds as the separate eager kernels do; maximum, minimum
and relu propagate NaN as NumPy's do. Verified on a GPU only when one is lent (docs/cuda.md).
"""

from __future__ import annotations

import math

import numpy as np

from corefw.compiler import Graph, Node, Value, replay
from corefw.compiler.fusion import ELEMENTWISE, fuse_chains

__all__ = ["MAX_SIZE", "OPTIONS", "PREAMBLE", "REDUCTIONS", "cuda_fuse", "elementwise_spec", "fuse",
           "fuse_reductions", "reduction_spec", "render", "well_formed"]

#: Device helpers every fused kernel sees: infinities/NaN without math headers, and maximum /
#: minimum that return NaN when either operand is NaN (NumPy's and CuPy's ``maximum``; CUDA's
#: ``max(float, float)`` is ``fmaxf``, which drops the NaN).
PREAMBLE = r"""
__device__ inline double cfw_inf() { return __longlong_as_double(0x7ff0000000000000LL); }
__device__ inline double cfw_nan() { return __longlong_as_double(0x7ff8000000000000LL); }
template <typename U> __device__ inline U cfw_max(U a, U b) { return (a != a || a > b) ? a : b; }
template <typename U> __device__ inline U cfw_min(U a, U b) { return (a != a || a < b) ? a : b; }
"""

#: NVRTC options: no contraction of ``a * b + c`` into one FMA (eager runs two kernels).
OPTIONS = ("--fmad=false",)

_BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})", "div": "({} / {})",
           "maximum": "cfw_max({}, {})", "minimum": "cfw_min({}, {})"}
_UNARY = {"neg": "(-{})", "exp": "exp({})", "log": "log({})", "sqrt": "sqrt({})",
          "tanh": "tanh({})", "sin": "sin({})", "cos": "cos({})", "abs": "fabs({})",
          "relu": "cfw_max({}, (T)0)"}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

#: Fusable reductions: op -> (reduce expression, identity; "-inf" / "inf" are rendered).
REDUCTIONS = {"sum": ("a + b", "0"),
              "amax": ("cfw_max(a, b)", "-cfw_inf()"), "amin": ("cfw_min(a, b)", "cfw_inf()")}

#: the most ops and leaves one fused expression may have as written out (a value read twice
#: inside a chain is written twice, so text can grow exponentially with the chain; NVRTC's
#: compile time grows with it)
MAX_SIZE = 256


def _const(x) -> str:
    x = float(x)
    if math.isnan(x):
        return "((T)cfw_nan())"
    if math.isinf(x):
        return f"((T){'-' if x < 0 else ''}cfw_inf())"
    return f"((T){x!r})"


def render(tree, leaf=None) -> str:
    """The C expression of an expression tree (:mod:`corefw.compiler.fusion`): inputs are
    ``x0, x1 ...`` of type ``T`` (or ``leaf(k)``), constants are cast to ``T``."""
    if tree[0] == "in":
        return leaf(tree[1]) if leaf is not None else f"x{tree[1]}"
    if tree[0] == "const":
        return _const(tree[1])
    fmt = _UNARY.get(tree[0]) or _BINARY[tree[0]]
    return fmt.format(*[render(c, leaf) for c in tree[1:]])


def elementwise_spec(tree, n_inputs: int) -> tuple[str, str, str]:
    """``(in_params, out_params, operation)`` of the ``ElementwiseKernel`` for ``tree``."""
    return (", ".join(f"T x{i}" for i in range(n_inputs)), "T y", f"y = {render(tree)};")


def reduction_spec(op: str, tree, n_inputs: int, post=None, dtype=np.float32) -> dict:
    """The ``ReductionKernel`` arguments for reduction ``op`` (:data:`REDUCTIONS`) of the
    elementwise ``tree`` over ``n_inputs`` arrays, followed by ``post``: a tree over the reduced
    value ``("in", 0)`` (None: the value itself). Accumulates in the array's own type, as
    ``cupy.sum`` does for float32 and float64."""
    reduce_expr, identity = REDUCTIONS[op]
    dtype = np.dtype(dtype)
    if dtype not in _CTYPE:
        raise TypeError(f"cuda_fuse: reduction_spec: {op} of {dtype} is not fused "
                        f"(float32 and float64 only)")
    post_expr = "a" if post is None else render(post, leaf=lambda k: "a")
    return {"in_params": elementwise_spec(tree, n_inputs)[0], "out_params": "T y",
            "map_expr": render(tree), "reduce_expr": reduce_expr,
            "post_map_expr": f"y = (T)({post_expr})", "identity": identity,
            "reduce_type": _CTYPE[dtype]}


# -- kernels (CuPy needed from here on) --------------------------------------------------------
def _cupy():
    """CuPy (building a kernel object needs no GPU: CuPy compiles on the first call)."""
    try:
        import cupy
    except ImportError as exc:
        from corefw.errors import BackendUnavailableError

        from ._cupy import INSTALL_HINT

        raise BackendUnavailableError(f"cuda_fuse: cupy is not importable ({exc}); "
                                      f"{INSTALL_HINT}") from exc
    return cupy


def _emit(tree, inputs, dtype):
    cp = _cupy()
    params, out, body = elementwise_spec(tree, len(inputs))
    kernel = cp.ElementwiseKernel(params, out, body, "cfw_fused", preamble=PREAMBLE,
                                  options=OPTIONS)

    def run(*arrays):
        return kernel(*arrays)

    run.__name__ = f"cupy[{body}]"
    run.tree = tree  # read by fuse_reductions
    return run


def _reduce_kernel(spec: dict, axis, keepdims: bool, parts=None):
    cp = _cupy()
    kernel = cp.ReductionKernel(spec["in_params"], spec["out_params"], spec["map_expr"],
                                spec["reduce_expr"], spec["post_map_expr"], spec["identity"],
                                "cfw_fused_reduce", reduce_type=spec["reduce_type"],
                                preamble=PREAMBLE, options=OPTIONS)

    empty_fails = spec["identity"] != "0"  # amax / amin: eager refuses a zero-size reduction

    def run(*arrays):
        if empty_fails and any(a.size == 0 for a in arrays):
            # a program made dynamic may meet a zero batch the capture did not have
            shape = np.broadcast_shapes(*[a.shape for a in arrays])
            if any(shape[d] == 0 for d in (range(len(shape)) if axis is None else axis)):
                from corefw.errors import CorefwIndexError

                raise CorefwIndexError(f"cuda_fuse: {spec['reduce_expr']} over a zero-size dim "
                                       f"of shape {shape} (axis {axis}): the operation has no "
                                       f"identity")
        return kernel(*arrays, axis=axis, keepdims=keepdims)

    run.__name__ = f"cupy_reduce[{spec['map_expr']} -> {spec['reduce_expr']}]"
    return run


# -- the reduction pass ----------------------------------------------------------------------
def _elementwise(n: Node) -> bool:
    """A node fuse_chains would take: an elementwise op of float arrays of one dtype."""
    if n.kwargs or n.mutates or n.out.dtype not in _FLOATS or \
            ELEMENTWISE.get(n.op) != len(n.args):
        return False
    return all(isinstance(a, Value) and a.dtype == n.out.dtype and a.kind != "const"
               or type(a) in (int, float) for a in n.args)


def _tree_of(n: Node) -> tuple[tuple, list] | None:
    """(tree, inputs) computing ``n.out``: a fused node's, or a single elementwise node's."""
    if n.op == "fused" and hasattr(n.kernel, "tree"):
        return n.kernel.tree, list(n.args)
    if not _elementwise(n):
        return None
    inputs: list[Value] = []
    leaves = []
    for a in n.args:
        if isinstance(a, Value):
            if a not in inputs:
                inputs.append(a)
            leaves.append(("in", inputs.index(a)))
        else:
            leaves.append(("const", a))
    return (n.op, *leaves), inputs


def _axes(dim, ndim: int):
    """``dim`` as CuPy's ``axis`` (None or a sorted tuple), or False if it is not one."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else dim
    if not isinstance(dims, (tuple, list)) or not dims or not all(type(d) is int for d in dims):
        return False  # an empty tuple is left to the kernel (NumPy and PyTorch differ there)
    out = tuple(sorted({d % ndim if ndim else d for d in dims}))
    return out if all(0 <= d < max(ndim, 1) for d in out) else False


def _static(v) -> bool:
    return isinstance(v, Value) and v.shape is not None and \
        all(type(s) is int for s in v.shape)


def fuse_reductions(graph: Graph, make=_reduce_kernel) -> Graph:
    """A copy of ``graph`` whose reductions (:data:`REDUCTIONS`) of an elementwise chain,
    with any elementwise ops of the result and constants after them, are single
    ``fused_reduce`` nodes with kernel ``make(spec, axis, keepdims, (op, tree, post))``
    (:func:`reduction_spec`'s arguments, for tests that evaluate the trees on the host)."""
    nodes = list(graph.nodes)
    uses: dict[int, int] = {}
    for n in nodes:
        for v in n.values():
            uses[id(v)] = uses.get(id(v), 0) + 1
    for v in graph.outputs:
        uses[id(v)] = uses.get(id(v), 0) + 2
    producer = {id(n.out): i for i, n in enumerate(nodes)}
    drop: set[int] = set()
    replace: dict[int, Node] = {}
    for i, r in enumerate(nodes):
        if r.op not in REDUCTIONS or set(r.kwargs) - {"dim", "keepdim"} or len(r.args) != 1 \
                or not _static(r.args[0]) or not _static(r.out) or i in drop:
            continue
        v = r.args[0]
        if v.dtype not in _FLOATS or r.out.dtype != v.dtype or v.kind == "const":
            continue
        axis = _axes(r.kwargs.get("dim"), len(v.shape))
        if axis is False or (r.op in ("amax", "amin") and math.prod(v.shape) == 0):
            continue
        keepdim = bool(r.kwargs.get("keepdim", False))
        # the map: the chain producing v, if only this reduction reads it and nothing
        # between them writes memory (the chain moves down to the reduction)
        tree, inputs, pre = ("in", 0), [v], None
        j = producer.get(id(v))
        if j is not None and uses.get(id(v)) == 1 and j not in drop and \
                not any(n.mutates for n in nodes[j + 1:i]):
            got = _tree_of(nodes[j])
            if got is not None and all(_static(a) for a in got[1]) and \
                    tuple(np.broadcast_shapes(*[a.shape for a in got[1]])) == v.shape:
                (tree, inputs), pre = got, j
        # the post-map: elementwise ops (or a fused chain) of the result and constants
        post, last, posts = None, r.out, []
        while uses.get(id(last)) == 1:
            k = next(m for m in range(i + 1, len(nodes)) if last in nodes[m].values())
            q = nodes[k]
            got = _tree_of(q)
            if got is None or got[1] != [last] or q.out.shape != r.out.shape or k in drop:
                break
            post = _substitute(got[0], post or ("in", 0))
            last = q.out
            posts.append(k)
        if pre is None and not posts:
            continue  # nothing to fuse: cupy's own reduction is one pass already
        spec = reduction_spec(r.op, tree, len(inputs), post, v.dtype)
        lines = [nodes[m].line for m in ([pre] if pre is not None else []) + [i] + posts]
        kernel = make(spec, axis, keepdim, (r.op, tree, post))
        replace[i] = Node("fused_reduce", kernel, tuple(inputs), {}, last,
                          "; ".join(dict.fromkeys(x for x in lines if x)))
        drop.update(([pre] if pre is not None else []) + posts)
    out = [replace.get(i, n) for i, n in enumerate(nodes) if i not in drop]
    return Graph(graph.inputs, out, graph.outputs, graph.device, dict(graph.meta))


def _substitute(post, inner):
    """``post`` applied to ``inner`` (the reduced value's leaf replaced)."""
    if post is None:
        return inner
    if post[0] == "in":
        return inner
    if post[0] == "const":
        return post
    return (post[0], *[_substitute(c, inner) for c in post[1:]])


def well_formed(graph: Graph) -> bool:
    """Whether every value a node reads is an input, a constant or made by an earlier node
    (what every rewrite must keep; the tests check it on every captured program)."""
    made = {id(v) for v in graph.inputs}
    for n in graph.nodes:
        if any(id(v) not in made and v.kind != "const" for v in n.values()):
            return False
        made.add(id(n.out))
    return all(id(v) in made or v.kind == "const" for v in graph.outputs)


def fuse(graph: Graph, emit=None, make=None) -> Graph:
    """``graph`` with its elementwise chains as ``ElementwiseKernel`` nodes (``emit``) and its
    reductions of elementwise chains as ``ReductionKernel`` nodes (``make``); the tests pass
    host versions of both."""
    chained = fuse_chains(graph, emit or _emit, max_size=MAX_SIZE)
    return fuse_reductions(chained, make or _reduce_kernel)


def _ours() -> bool:
    """Whether device type ``cuda`` is this plugin's CuPy backend (not a test stand-in)."""
    from corefw.plugins import backends

    from .backend import CupyBackend

    return isinstance(backends().get("cuda"), CupyBackend)


def cuda_fuse(graph: Graph):
    """The ``cuda_fuse`` compiler: :func:`fuse`, :func:`corefw.compiler.replay`, and CUDA-graph
    replay where the graph allows it (:func:`corefw_cuda._cuda_graph.graphed`; the callable's
    ``cuda_graph`` and ``reason`` attributes say whether and why not)."""
    from ._cuda_graph import graphed

    device = getattr(graph.device, "type", None)
    if device != "cuda" or not _ours():  # CuPy kernels take CuPy arrays only: replay
        run = replay(graph)
        run.cuda_graph = False
        run.reason = f"the graph is on {device}, not cuda: replayed" if device != "cuda" else \
            "device type cuda is not served by corefw-cuda here (a test backend?): replayed"
        return run
    fused = fuse(graph)
    return graphed(fused, replay(fused))
