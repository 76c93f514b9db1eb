"""Turn one traced eager run into a :class:`~._compiled.Plan` (see that module)."""

from __future__ import annotations

from .._graph.grad_mode import STATE
from .._tensor import Tensor
from ._common import build_graph, flatten, log_graph, trace_scope, unflatten
from ._ir import KEPT, RANDOM_OPS
from ._lift import Lifted
from ._plan import Plan


def capture(cf, arg_tensors: list, args, kwargs):
    """Trace ``cf.fn(*args, **kwargs)``; returns (plan or None, the eager result, reason)."""
    plan, out, reason = _capture(cf, arg_tensors, args, kwargs)
    return plan, plain_floats(out), reason


def plain_floats(out):
    """``out`` with lifted scalars (see _lift) as the plain floats eager returns."""
    leaves, tree = flatten(out)
    if not any(isinstance(x, Lifted) for x in leaves):
        return out
    leaves = [float.__float__(x) if isinstance(x, Lifted) else x for x in leaves]
    return leaves[0] if tree is None else unflatten(tree, leaves)


def _capture(cf, arg_tensors: list, args, kwargs):
    state = cf.state
    tracked: list[Tensor] = []
    index: dict[int, int] = {}
    for t in arg_tensors + state.tensors:
        if id(t) not in index:
            index[id(t)] = len(tracked)
            tracked.append(t)
    before = [(t._data, getattr(t, "_grad", None), t._version) for t in tracked]
    with trace_scope(cf.fullgraph) as tr:
        sources = {}
        for i, t in enumerate(tracked):
            sources[id(tr.input(t._data))] = ("data", i)
            g = getattr(t, "_grad", None)
            if g is not None:
                sources[id(tr.input(g._data))] = ("grad", i)
        out = cf.fn(*args, **kwargs)
    if tr.refused:
        cf.breaks = list(tr.breaks)
        return None, out, tr.refused
    hooked = [type(m).__name__ for m in state.modules
              if m._forward_hooks or m._forward_pre_hooks]
    if hooked:  # Python that must run every call (often storing tensors): not replayable
        return None, out, (f"module hooks on {', '.join(hooked)} run Python on every call; "
                           f"remove them or call the module uncompiled")
    cf.breaks = list(tr.breaks)
    if tr.breaks:
        reason = _unguardable(tr.nodes)
        if reason:
            return None, out, reason
        plan_guarded = True
        restore_rng = _draws_before_guard(tr.nodes)
    else:
        plan_guarded = restore_rng = False
    if [id(t) for t in state.collect()] != [id(t) for t in state.tensors]:
        state.tensors = state.collect()  # optimizer state was created: capture next call
        return None, out, "unsteady"
    plan = Plan()
    plan.guarded = plan_guarded
    plan.restore_rng = restore_rng
    plan.arg_pos = [j for j, t in enumerate(arg_tensors)
                    if all(u is not t for u in arg_tensors[:j])]  # first occurrences
    plan.state_tensors = tracked[len(plan.arg_pos):]
    for n in tr.nodes:
        if n.mutates:
            for v in n.values():
                if v.kind == "const":
                    return None, out, (f"{n.op} at {n.line} writes in place into a tensor the "
                                       f"compiler does not track (create it outside the "
                                       f"function or make it a buffer)")
    outputs = []  # Values the forward graph returns
    pos: dict[int, int] = {}

    def out_pos(v) -> int:
        if id(v) not in pos:
            pos[id(v)] = len(outputs)
            outputs.append(v)
        return pos[id(v)]

    for k, (t, (data, grad, version)) in enumerate(zip(tracked, before)):
        if t._data is not data:
            v = tr.values.get(id(t._data))
            if v is None:
                return None, out, "a tensor's storage was replaced by data not made by an op"
            plan.writes.append((k, "data", out_pos(v)))
        g = getattr(t, "_grad", None)
        if g is not grad or g is not None and g._data is not grad._data:
            if g is None:
                plan.writes.append((k, "grad", None))
            else:
                v = tr.values.get(id(g._data))
                if v is None:
                    return None, out, "a .grad was set to data not made by an op"
                plan.writes.append((k, "grad", out_pos(v)))
        if t._version != version:
            plan.bumps.append((k, t._version - version))
    leaves, plan.tree = flatten(out)
    req_outs = []
    for leaf in leaves:
        if isinstance(leaf, Tensor) and id(leaf) not in index:
            v = tr.values.get(id(leaf._data))
            if v is None:
                return None, out, "the function returns a tensor not made by an op"
            node = getattr(leaf._node, "node", leaf._node)
            if leaf._req and node is not None and not node.freed and STATE.enabled:
                req_outs.append(leaf)
                plan.req_pos.append(len(plan.outs))
            plan.outs.append(("v", out_pos(v), leaf._dev))
        elif isinstance(leaf, Lifted) and tr.values.get(id(leaf)) is leaf._value:
            plan.outs.append(("s", out_pos(leaf._value), None))  # a lifted scalar
        else:
            plan.outs.append(("t", index[id(leaf)], None) if isinstance(leaf, Tensor)
                             else ("c", leaf, None))
    n_fwd = len(tr.nodes)
    if req_outs:
        if any(w[1] == "grad" for w in plan.writes):
            plan.req_pos = []  # backward ran inside: results are returned detached
        else:
            reason = _trace_backward(plan, tr, req_outs, tracked, index, sources, arg_tensors)
            if reason:
                return None, out, reason
    dev = leaves[0]._dev if leaves and isinstance(leaves[0], Tensor) else None
    if plan.req_pos:
        bwd = build_graph(tr.nodes[n_fwd:], [v for v in plan.grad_vals if v is not None], dev)
        where = {id(v): i for i, v in enumerate(bwd.outputs)}
        plan.bwd_outs = [None if v is None else where[id(v)] for v in plan.grad_vals]
        gout = {id(v): k for k, v in enumerate(plan.gouts)}
        for v in bwd.inputs:
            k = gout.get(id(v))
            plan.bwd_sources.append(("out", out_pos(v)) if k is None else ("gout", k))
    fwd = build_graph(tr.nodes[:n_fwd], outputs, dev)
    for v in fwd.inputs:
        src = sources.get(id(v))
        if src is None:
            return None, out, f"internal: input {v} has no source"
        plan.sources.append(src)
    plan.fwd = cf.compiler(fwd)
    plan.graphs = [fwd]
    log_graph(fwd, f"{cf.__name__}: forward graph ({len(fwd.nodes)} ops)")
    if plan.req_pos:
        plan.bwd = cf.compiler(bwd)
        plan.graphs.append(bwd)
        log_graph(bwd, f"{cf.__name__}: backward graph ({len(bwd.nodes)} ops)")
    plan.identity = state.identity()
    return plan, out, None


def _unguardable(nodes) -> str | None:
    """Why a trace with graph breaks cannot be replayed with guards, or None.

    A replay checks each break's value where the capture read it (a ``guard`` node) and, when
    one differs, runs the function again. That is only sound if nothing before the last guard
    changed state: an in-place update there would happen twice. (Random draws there are
    undone: the plan restores the random state on a miss, see Plan.run.)
    """
    last = max(i for i, n in enumerate(nodes) if n.op in KEPT)
    for n in nodes[:last]:
        if n.mutates:
            g = next(m for m in nodes[nodes.index(n):] if m.op in KEPT)
            why = getattr(g.kernel, "reason", "?")
            return (f"graph break at {g.line} ({why}) comes after an in-place update ({n.op} "
                    f"at {n.line}); move the read of the tensor's value out of the compiled "
                    f"function, or before the update")
    return None


def _draws_before_guard(nodes) -> bool:
    last = max(i for i, n in enumerate(nodes) if n.op in KEPT)
    return any(n.op in RANDOM_OPS for n in nodes[:last])


def _trace_backward(plan, tr, req_outs, tracked, index, sources, arg_tensors):
    """Trace ``autograd.grad`` of ``req_outs`` into the same tracer: the joint plan."""
    from .. import autograd
    from .._creation import ones_like

    stop = {id(t._node): t for t in arg_tensors if t._node is not None}
    targets = _leaves_of(req_outs, stop)
    for t in targets:
        if id(t) not in index:  # a leaf reached only through the graph: track it too
            v = tr.values.get(id(t._data))
            if v is None:
                return "a leaf tensor's data was not seen by the capture"
            index[id(t)] = len(tracked)
            tracked.append(t)
            plan.state_tensors.append(t)
            v.kind, v.const = "input", None
            sources[id(v)] = ("data", index[id(t)])
    gouts = [ones_like(o) for o in req_outs]
    hooks = [(t, getattr(t, "_hooks", None)) for t in targets]
    with trace_scope(False) as tr2:
        tr2.values, tr2.keep, tr2.nodes = tr.values, tr.keep, tr.nodes  # one joint trace
        plan.gouts = [tr2.input(g._data) for g in gouts]
        for t, h in hooks:  # leaf hooks run when the engine accumulates, not in the plan
            if h is not None:
                t._hooks = None
        try:
            grads = autograd.grad(req_outs, targets, grad_outputs=gouts, retain_graph=True,
                                  allow_unused=True)
        finally:
            for t, h in hooks:
                if h is not None:
                    t._hooks = h
    if tr2.breaks:
        return "the backward reads tensor values in Python (a hook?)"
    plan.grad_vals = [None if g is None else tr.values.get(id(g._data)) for g in grads]
    if any(g is not None and v is None for g, v in zip(grads, plan.grad_vals)):
        return "a gradient was not made by an op"
    # where each target sits among a call's tensors (arguments, then state): a later call's
    # backward goes to that call's argument tensors, not to the capturing call's
    plan.target_pos = [index[id(t)] for t in targets]
    return None


def _leaves_of(outs, stop: dict) -> list:
    """Tensors requiring grad that the graphs of ``outs`` end at: leaves, and inputs whose
    node was made before the capture (``stop``: id of that node -> the input tensor)."""
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    todo = []
    for t in outs:
        if t._node is None or id(t._node) in stop:
            found[id(t)] = t
        else:
            todo.append(t._node)
    while todo:
        node = todo.pop()
        node = getattr(node, "node", node)  # an output reference of a multi-output node
        if id(node) in seen:
            continue
        seen.add(id(node))
        for e in node.next:
            if e is None:
                continue
            if isinstance(e, Tensor):
                found[id(e)] = e
            elif id(e) in stop:
                found[id(stop[id(e)])] = stop[id(e)]
            else:
                todo.append(e)
    return list(found.values())


