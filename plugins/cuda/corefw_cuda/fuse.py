"""``cuda_fuse``: a corefw.compile compiler for the cuda device. Chains of elementwise kernels
(:func:`corefw.compiler.fusion.fuse_chains`) become one CuPy ``ElementwiseKernel`` each (one
launch, no temporaries), the rest replays. CUDA-graph replay is not done yet. Compile-checked
without a GPU; verified on a GPU only when one is lent (docs/cuda.md).
"""

from __future__ import annotations

from corefw.compiler import Graph, replay
from corefw.compiler.fusion import fuse_chains

__all__ = ["cuda_fuse", "fuse", "render"]

_BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})", "div": "({} / {})",
           "maximum": "max({}, {})", "minimum": "min({}, {})"}
_UNARY = {"neg": "(-{})", "exp": "exp({})", "log": "log({})", "sqrt": "sqrt({})",
          "tanh": "tanh({})", "sin": "sin({})", "cos": "cos({})", "abs": "abs({})",
          "relu": "max({}, (T)0)"}


def render(tree) -> str:
    """The C expression of an expression tree (inputs ``x0, x1 ...`` of type ``T``)."""
    if tree[0] == "in":
        return f"x{tree[1]}"
    if tree[0] == "const":
        return f"((T){float(tree[1])!r})"
    fmt = _UNARY.get(tree[0]) or _BINARY[tree[0]]
    return fmt.format(*[render(c) for c in tree[1:]])


def _emit(tree, inputs, dtype):
    from ._cupy import probe

    cupy = probe()[0]
    body = f"y = {render(tree)};"
    params = ", ".join(f"T x{i}" for i in range(len(inputs)))
    kernel = cupy.ElementwiseKernel(params, "T y", body, "corefw_fused")

    def run(*arrays):
        return kernel(*arrays)

    run.__name__ = f"cupy[{body}]"
    return run


def fuse(graph: Graph) -> Graph:
    """``graph`` with its elementwise chains as CuPy ElementwiseKernel nodes."""
    return fuse_chains(graph, _emit)


def cuda_fuse(graph: Graph):
    """The ``cuda_fuse`` compiler: :func:`fuse`, then :func:`corefw.compiler.replay`."""
    return replay(fuse(graph))
