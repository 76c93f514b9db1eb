"""``cpu_fuse``: a corefw.compile compiler that fuses chains of elementwise kernels into one
numexpr expression (one pass over memory, no temporaries, numexpr's threads), then replays.

Chains come from :func:`corefw.compiler.fusion.fuse_chains`. A chain is fused only when its
result has at least :data:`MIN_ELEMENTS` elements (below that, numexpr's fixed cost per call
exceeds what fusion saves) and only if numexpr beats NumPy on this machine: the first use
times one chain both ways (:func:`numexpr_wins`, a few ms). On the project's 2-core box
numexpr 2.14 (no VML) was 3-10x *slower* than NumPy at every size (docs/performance.md), so
there ``cpu_fuse`` replays exactly as ``replay`` does. Fused results agree with NumPy to float
rounding: within ``rtol = atol = 5e-6`` in float32 and ``1e-13`` in float64, forward and
backward (measured over the op table with fusion forced on, ``fuse(graph, min_elements=0)``:
at most 1.0e-6 relative and 1.1e-6 absolute in float32, where a gradient cancels to near 0;
2.8e-15 and 1.8e-15 in float64; plugins/cpu/tests/test_numexpr_fusion.py).
"""

from __future__ import annotations

import numpy as np

from corefw.compiler import Graph, replay
from corefw.compiler.fusion import fuse_chains

__all__ = ["MAX_SIZE", "MIN_ELEMENTS", "cpu_fuse", "fuse", "numexpr_wins"]

#: Smallest result (elements) worth a numexpr call.
MIN_ELEMENTS = 1 << 15
#: Most ops and leaves in one numexpr expression: numexpr takes at most 64 operands and 255
#: registers (past them it raises "too many inputs" or "bytes must be in range(0, 256)").
MAX_SIZE = 64

# maximum, minimum and relu propagate NaN as NumPy's do (numexpr's own maximum computes in
# double). They repeat their operands: numexpr evaluates a repeated subexpression once, but
# the text would double per nesting level, so a long operand is computed first (_LONG)
_BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})", "div": "({} / {})",
           "maximum": "where(({0} < {1}) | ({1} != {1}), {1}, {0})",
           "minimum": "where(({0} > {1}) | ({1} != {1}), {1}, {0})"}
_UNARY = {"neg": "(-{})", "exp": "exp({})", "log": "log({})", "sqrt": "sqrt({})",
          "tanh": "tanh({})", "sin": "sin({})", "cos": "cos({})", "abs": "abs({})",
          "relu": "where({0} < 0, k_zero, {0})"}
_REPEATS = {"maximum", "minimum", "relu"}
_LONG = 200


def _emit(tree, inputs, dtype):
    """A numexpr kernel for ``tree`` (scalars become 0-d arrays of ``dtype``, so float32
    stays float32; one operand per distinct value). A long operand of an op that repeats its
    operands is a stage of its own, evaluated first."""
    import numexpr

    consts: dict[str, np.ndarray] = {"k_zero": np.zeros((), dtype)}
    names: dict[bytes, str] = {}
    staged: dict[str, str] = {}  # expression -> the name of its stage

    def operand(t) -> str:
        text = render(t)
        if len(text) <= _LONG:
            return text
        return staged.setdefault(text, f"s{len(staged)}")

    def render(t) -> str:
        if t[0] == "in":
            return f"x{t[1]}"
        if t[0] == "const":
            value = np.asarray(t[1], dtype=dtype)
            key = names.get(value.tobytes())
            if key is None:
                key = names[value.tobytes()] = f"k{len(consts)}"
                consts[key] = value
            return key
        fmt = _UNARY.get(t[0]) or _BINARY[t[0]]
        return fmt.format(*[(operand if t[0] in _REPEATS else render)(c) for c in t[1:]])

    expr = render(tree)
    keys = [f"x{i}" for i in range(len(inputs))] + list(consts)
    values = list(consts.values())
    evaluate = numexpr.evaluate
    stages = [(name, text) for text, name in staged.items()]  # in the order they were made

    def kernel(*arrays):
        local = dict(zip(keys, (*arrays, *values)))
        for name, text in stages:
            local[name] = evaluate(text, local_dict=local)
        return evaluate(expr, local_dict=local)

    kernel.__name__ = f"numexpr[{''.join(f'{k} = {t}; ' for k, t in stages)}{expr}]"
    return kernel


def fuse(graph: Graph, min_elements: int = MIN_ELEMENTS) -> Graph:
    """``graph`` with its elementwise chains as numexpr nodes."""
    return fuse_chains(graph, _emit, min_elements=min_elements, max_size=MAX_SIZE)


_WINS: list = []


def numexpr_wins() -> bool:
    """Whether numexpr evaluates a 3-op float32 chain of 2**18 elements at least 1.2x faster
    than NumPy here (measured once per process)."""
    if not _WINS:
        import time

        try:
            import numexpr
        except ImportError:
            _WINS.append(False)
            return False
        from .threads import get_num_threads

        numexpr.set_num_threads(get_num_threads())  # the policy of corefw.set_num_threads
        a = np.random.default_rng(0).random(1 << 18, dtype=np.float32)
        k = np.float32(0.5)

        def best(fn) -> float:
            out = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                fn()
                out = min(out, time.perf_counter() - t)
            return out

        t_np = best(lambda: np.exp((a + k) * a))
        t_ne = best(lambda: numexpr.evaluate("exp((a + k) * a)", local_dict={"a": a, "k": k}))
        _WINS.append(t_ne * 1.2 < t_np)
    return _WINS[0]


#: Whether ``cpu_fuse`` ends in the code generator (:mod:`corefw_cpu._codegen`); False: in
#: :func:`corefw.compiler.replay` of the kernels (docs/compile.md says which is faster).
CODEGEN = True


def cpu_fuse(graph: Graph):
    """The ``cpu_fuse`` compiler: the pattern rewrites of :mod:`corefw_cpu._compile` (fused
    cross-entropy forward and backward, one SGD update per parameter group), :func:`fuse`
    (where numexpr wins here), then one generated NumPy function
    (:func:`corefw_cpu._codegen.codegen`; :func:`corefw.compiler.replay` with
    ``CODEGEN = False``)."""
    from ._compile import optimize

    graph = optimize(graph)
    graph = fuse(graph) if numexpr_wins() else graph
    if CODEGEN:
        from ._codegen import codegen

        return codegen(graph)
    return replay(graph)
