"""CUDA-graph replay for ``cuda_fuse``: capture the replayed program once, launch it after.

:func:`capture_safety` decides, from the graph alone (no CuPy, no GPU), whether a program may
be captured: every input and output an array of known shape, no node that reads values on the
host (``guard`` and ``host.*`` nodes, ``.item()``), draws random numbers (the cuda random
stream is reseeded from the host on every draw, so a captured draw would repeat), copies
between devices, or makes a shape from data (``nonzero``, boolean indexing).

:func:`graphed` wraps the replayed program. Its first call runs it plainly (which compiles the
NVRTC kernels and creates the cuBLAS handle outside the capture). The second copies its inputs
into static buffers, runs the program on them once on a non-blocking stream and captures it
there (CuPy's ``Stream.begin_capture`` / ``end_capture``, relaxed mode), with every
allocation made during the capture from a private CuPy
``MemoryPool``, kept for the graph's lifetime (so memory the graph writes is never handed to
anyone else), then launches it; later calls copy their inputs into the static buffers, launch
the graph on the current stream and return copies of the static outputs (a returned array is
never overwritten by the next call). Inputs the program writes in place (an optimizer step)
are copied back into the caller's arrays after the launch. A capture error, a call whose
arrays differ from the capture's (shape, dtype, device, layout), a call of a program that writes
an input whose inputs share memory, or a call while another thread is inside leaves the
program to plain replay; ``run.cuda_graph`` and ``run.reason`` say which.
"""

from __future__ import annotations

import threading

from corefw.compiler import Graph
from corefw.compiler._ir import RANDOM_OPS

__all__ = ["UNSAFE_OPS", "capture_safety", "graphed", "written_inputs"]

#: Random primitives: corefw.ops.primitives.RANDOM (``randperm`` is not in the compiler's
#: RANDOM_OPS of corefw 0.1).
_RANDOM = RANDOM_OPS | {"uniform", "normal", "randint", "randperm"}
#: Ops that cannot be captured: host reads, host-seeded random draws, transfers, data shapes.
UNSAFE_OPS = frozenset({"guard", "to_device", "nonzero", "index", "masked_select",
                        "repeat_interleave", "unique", "argwhere", "item"}) | _RANDOM

#: Ops whose result is a new array (never a view of an operand); everything else is assumed
#: to alias its operands.
_FRESH = frozenset({"fused", "fused_reduce", "add", "sub", "mul", "div", "maximum", "minimum",
                    "neg", "exp", "log", "sqrt", "tanh", "sin", "cos", "abs", "relu", "sum",
                    "amax", "amin", "mean", "matmul", "linear", "softmax", "log_softmax",
                    "cross_entropy", "nll_loss", "where", "clone"})


def _array(v) -> bool:
    return v.shape is not None and all(type(s) is int for s in v.shape)


def capture_safety(graph: Graph) -> tuple[bool, str]:
    """``(True, "")`` when ``graph`` may be captured into a CUDA graph, else ``(False, why)``."""
    for v in graph.inputs:
        if not _array(v):
            return False, f"input {v} is not an array of fixed shape (a dynamic size or a " \
                          f"Python value)"
    for v in graph.outputs:
        if not _array(v):
            return False, f"output {v} is not an array of fixed shape"
    for n in graph.nodes:
        where = f" ({n.line})" if n.line else ""
        if n.op in UNSAFE_OPS or n.op.startswith("host."):
            kind = ("draws random numbers from the host-seeded stream" if n.op in _RANDOM
                    else "reads values on the host or makes a shape from data")
            return False, f"{n.op} at {n.out}{where} {kind}"
        if n.op != "getitem" and n.kernel is None:
            return False, f"{n.op} at {n.out}{where} has no kernel"
        if n.out.shape is not None and not _array(n.out):
            return False, f"{n.op} at {n.out}{where} has a dynamic shape"
    return True, ""


def _aliases(graph: Graph, seeds) -> set[int]:
    """ids of the Values whose memory the seeds may share (through non-fresh nodes)."""
    marked = {id(v) for v in seeds}
    for n in reversed(graph.nodes):
        if id(n.out) in marked and n.op not in _FRESH:
            marked.update(id(v) for v in n.values())
    return marked


def written_inputs(graph: Graph) -> list[int]:
    """Positions of the inputs an in-place node of ``graph`` may write (through views)."""
    marked = _aliases(graph, [v for n in graph.nodes if n.mutates for v in n.values()])
    return [i for i, v in enumerate(graph.inputs) if id(v) in marked]


def _plan(graph: Graph):
    """(written input positions, {output position: input position} for returned inputs),
    or a reason string when outputs may alias inputs the program writes."""
    written = written_inputs(graph)
    index = {id(v): i for i, v in enumerate(graph.inputs)}
    returned = {k: index[id(v)] for k, v in enumerate(graph.outputs) if id(v) in index}
    shared = _aliases(graph, [v for k, v in enumerate(graph.outputs) if k not in returned])
    for i in written:
        if id(graph.inputs[i]) in shared:
            return f"an output may be a view of input {graph.inputs[i]}, which the program " \
                   f"writes in place"
    return written, returned


def graphed(graph: Graph, run):
    """``run`` (the replay of ``graph``) with CUDA-graph replay where :func:`capture_safety`
    allows it; the returned callable has ``cuda_graph`` (True once a graph is captured) and
    ``reason`` (why not, else "")."""
    ok, why = capture_safety(graph)
    plan = _plan(graph) if ok else why
    if isinstance(plan, str):
        run.cuda_graph, run.reason = False, plan
        return run
    written, returned = plan
    state: dict = {"calls": 0}
    lock = threading.Lock()

    def fall_back(reason: str) -> None:
        state["failed"] = True
        call.cuda_graph, call.reason = False, reason

    def call(inputs: list) -> list:
        if state.get("failed") or not lock.acquire(False):
            return run(inputs)
        try:
            state["calls"] += 1
            if state["calls"] == 1:
                return run(inputs)  # warm-up: NVRTC compiles, cuBLAS handles, outside capture
            cp, device = _matching(inputs, len(graph.inputs), state)
            if cp is None or written and _shared(inputs):
                return run(inputs)
            with cp.cuda.Device(device):
                if "graph" not in state:
                    try:
                        _capture(cp, run, inputs, state)
                    except Exception as exc:  # noqa: BLE001 - any capture error: replay
                        fall_back(f"capture failed: {type(exc).__name__}: {exc}"[:300])
                        return run(inputs)
                    call.cuda_graph = True
                return _launch(cp, inputs, state, written, returned)
        finally:
            lock.release()

    call.cuda_graph, call.reason = False, "not captured yet (the second call captures)"
    call.source = getattr(run, "source", "")
    call.plain = run
    return call


def _matching(inputs, count: int, state):
    """(cupy, device id) when ``inputs`` are C-contiguous CuPy arrays on one device and, once a
    graph is captured, of its shapes and dtypes on its device; else (None, None). (A capture
    made dynamic reuses one compiled program for other batch sizes: those replay.)"""
    from ._cupy import probe

    cp = probe()[0]
    if cp is None or len(inputs) != count:
        return None, None
    device = None
    static = state.get("static")
    for k, x in enumerate(inputs):
        if not isinstance(x, cp.ndarray) or not x.flags.c_contiguous or static is not None \
                and (x.shape != static[k].shape or x.dtype != static[k].dtype):
            return None, None
        if device is None:
            device = x.device.id
        elif x.device.id != device:
            return None, None
    if device is None or state.get("device", device) != device:
        return None, None
    return cp, device


def _shared(inputs) -> bool:
    """Whether two inputs share an allocation (a program writing one must then see the write
    in the other, which separate static buffers would not show)."""
    mems = [id(x.data.mem) for x in inputs]
    return len(set(mems)) != len(mems)


def _capture(cp, run, inputs, state) -> None:
    """Capture ``run`` on static copies of ``inputs`` into ``state``.

    The copies hold this call's values, and ``run`` first runs once on them on the capture
    stream (as PyTorch's recipe warms up on its side stream: cuBLAS sets up its workspace for
    that stream outside the capture; real values, because garbage indices would fault)."""
    current = cp.cuda.get_current_stream()
    static = [cp.empty(x.shape, x.dtype) for x in inputs]
    for buf, x in zip(static, inputs):
        cp.copyto(buf, x)
    side = cp.cuda.Stream(non_blocking=True)
    side.wait_event(current.record())  # the copies are made before the side stream reads them
    pool = cp.cuda.MemoryPool()  # the graph's own memory, never handed to anyone else
    with side:
        run(static)  # warm-up on the capture stream; its results are dropped
        with cp.cuda.using_allocator(pool.malloc):
            side.begin_capture()
            try:
                outs = run(static)
            except BaseException:
                try:
                    side.end_capture()
                except Exception:  # noqa: BLE001, S110 - the capture is invalid anyway
                    pass
                raise
            graph = side.end_capture()
    current.wait_event(side.record())  # the warm-up is done before the launch rewrites them
    state.update(graph=graph, static=static, outs=outs, pool=pool, stream=side,
                 device=inputs[0].device.id, event=cp.cuda.Event(disable_timing=True),
                 last=None)


def _launch(cp, inputs, state, written, returned) -> list:
    stream = cp.cuda.get_current_stream()
    if state["last"] is not None and state["last"] != stream:
        stream.wait_event(state["event"])  # the previous call's launch read the buffers
    static = state["static"]
    for buf, x in zip(static, inputs):
        cp.copyto(buf, x)
    state["graph"].launch(stream)
    for i in written:
        cp.copyto(inputs[i], static[i])
    out = [inputs[returned[k]] if k in returned else o.copy()
           for k, o in enumerate(state["outs"])]
    state["event"].record(stream)
    state["last"] = stream
    return out
