"""The backward engine: an iterative topological walk (no recursion limit), as in micrograd.

Order: reversed DFS post-order from the roots, so every node runs after all its consumers have
contributed their gradients. Leaf gradients are summed per leaf, hooks run once on the sum.
A leaf with post-accumulate-grad hooks gets its ``.grad`` as soon as the last node with an edge
to it has run (so DDP can all-reduce it while the rest of backward runs); others at the end.
"""

from __future__ import annotations

from .._tensor import LEAF_HOOKS, POST_HOOKS, Tensor, wrap
from ..errors import AutogradError
from .anomaly import check_grads
from .grad_mode import STATE
from .node import ANOMALY, Node, OutputRef, _freed_error
from .saved import run_unpacked


class MultiNode(Node):
    """Node of a custom Function with several outputs; its VJP receives a tuple of grads."""

    __slots__ = ("n_out",)


def _target(edge):
    """(node, output index) for an edge to a non-leaf, (tensor, None) for a leaf."""
    if type(edge) is OutputRef:
        return edge.node, edge.nr
    if isinstance(edge, Node):
        return edge, 0
    return edge, None


def _topo_order(roots):
    order, visited = [], set()
    seen, push, done = visited.add, None, order.append  # bound once: this loop runs per node
    for root in roots:
        if root in visited:
            continue
        seen(root)
        stack = [(root, iter(root.next))]
        push = stack.append
        while stack:
            node, it = stack[-1]
            for edge in it:
                if edge is None:
                    continue
                child = edge.node if type(edge) is OutputRef else edge
                if isinstance(child, Node) and child not in visited:
                    seen(child)
                    push((child, iter(child.next)))
                    break
            else:
                stack.pop()
                done(node)
    order.reverse()
    return order


def _needed(order, want_nodes, want_leaves):
    """Nodes from which some requested input is reachable (others are skipped)."""
    needed = set()
    for node in reversed(order):  # inputs before consumers
        if node in want_nodes:
            needed.add(node)
            continue
        for edge in node.next:
            if edge is None:
                continue
            target, nr = _target(edge)
            if (nr is None and target in want_leaves) or (nr is not None and target in needed):
                needed.add(node)
                break
    return needed


def _add(a, b):
    return b if a is None else (a if b is None else a + b)


def run_backward(roots, grads, *, retain_graph: bool, create_graph: bool, inputs=None,
                 accumulate: bool = True):
    """Propagate ``grads`` from ``roots`` (tensors). With ``inputs``, return their gradients
    instead of accumulating into leaves' ``.grad`` (``accumulate=False``)."""
    buffer: dict = {}
    leaf_grads: dict = {}
    root_nodes = []
    for t, g in zip(roots, grads):
        node = t._node
        if node is None:
            if t._req:
                leaf_grads[t] = _add(leaf_grads.get(t), g)
                continue
            raise AutogradError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "backward() needs an output computed from a tensor with requires_grad=True")
        target, nr = _target(node)
        _buffer_add(buffer, target, nr, g)
        root_nodes.append(target)

    order = _topo_order(root_nodes)
    want = None
    if inputs is not None:
        want_nodes = {t._node if type(t._node) is not OutputRef else t._node.node
                      for t in inputs if t._node is not None}
        want_leaves = {t for t in inputs if t._node is None}
        want = _needed(order, want_nodes, want_leaves)
        captured = {}
        nonleaf_inputs = {}
        for t in inputs:
            if t._node is not None:
                nonleaf_inputs.setdefault(_target(t._node), []).append(t)

    post = _post_counts(order) if POST_HOOKS[0] and accumulate and inputs is None else None
    prev_mode = STATE.enabled
    STATE.enabled = create_graph
    overrides = STATE.overrides  # this thread's (override.py)
    try:
        if want is None and post is None and not overrides and not ANOMALY[0]:
            _run_plain(order, buffer, leaf_grads, retain_graph)
            order = ()  # done: skip the general loop below
        for node in order:
            if want is not None and node not in want:
                continue
            g = buffer.pop(node, None)
            if g is None:
                if post:
                    _release(node, post, leaf_grads, create_graph)
                continue
            if node.freed:
                raise _freed_error(node)
            if node.hooks is not None or node.retain is not None:
                g = _run_tensor_hooks(node, g)
            if want is not None:
                for key, ts in nonleaf_inputs.items():
                    if key[0] is node:
                        gi = g[key[1]] if type(node) is MultiNode else g
                        for t in ts:
                            captured[t] = gi
            op = node.op
            rule = overrides.get(op.name) if overrides else None
            if rule is None:
                rule = op.vjp
                if rule is None:
                    raise _no_vjp(op)
            # saved values must be intact (also under an override); the check inline, the
            # message from _check_versions
            versions = node.versions
            i = 0
            for t in node.inputs:
                if isinstance(t, Tensor):
                    vc = t._vc
                    if vc is not None and vc[0] != (0 if versions is None else versions[i]):
                        _check_versions(node)
                i += 1
            if node.out_vc is not None and node.out_vc[0] != 0:
                _check_versions(node)
            meta = node.meta
            if meta is not None and "packed" in meta:  # recorded under saved_tensors_hooks
                grads_in = run_unpacked(node, rule, g, retain_graph)
            else:
                grads_in = rule(node, g)
            if ANOMALY[0]:
                check_grads(node, grads_in)
            if not retain_graph:
                node.inputs = None
                node.out = None
                node.freed = True
            for edge, gi in zip(node.next, grads_in):
                if edge is None or gi is None:
                    continue
                if type(edge) is Node:
                    if want is None or edge in want:
                        prev = buffer.get(edge)
                        buffer[edge] = gi if prev is None else prev + gi
                    continue
                if type(edge) is OutputRef:  # _target(edge), inline
                    target, nr = edge.node, edge.nr
                elif isinstance(edge, Node):
                    target, nr = edge, 0
                else:  # a leaf
                    prev = leaf_grads.get(edge)
                    leaf_grads[edge] = gi if prev is None else prev + gi
                    continue
                if want is None or target in want:
                    _buffer_add(buffer, target, nr, gi)
            if post:
                _release(node, post, leaf_grads, create_graph)
    finally:
        STATE.enabled = prev_mode

    if inputs is not None:
        for t in inputs:
            if t._node is None and t in leaf_grads:
                captured[t] = _run_leaf_hooks(t, leaf_grads[t])
        return [captured.get(t) for t in inputs]
    if accumulate:
        hooked, post_hooked = LEAF_HOOKS[0], POST_HOOKS[0]  # none ever: no per-leaf lookups
        for leaf, g in leaf_grads.items():
            _accumulate(leaf, _run_leaf_hooks(leaf, g) if hooked else g, create_graph)
            if post_hooked:
                for fn in tuple(getattr(leaf, "_post_hooks", None) or ()):
                    fn(leaf)
    return None


def _run_plain(order, buffer, leaf_grads, retain_graph):
    """The loop of :func:`run_backward` for the common case -- every node wanted, no
    post-accumulate-grad hooks, no ``override_vjp``, no anomaly mode -- without the checks
    for those: a short graph spends a good part of its backward on this loop's bookkeeping.
    Keep it in step with the general loop there."""
    pop, get, leaf_get = buffer.pop, buffer.get, leaf_grads.get
    for node in order:
        g = pop(node, None)
        if g is None:
            continue
        if node.freed:
            raise _freed_error(node)
        if node.hooks is not None or node.retain is not None:
            g = _run_tensor_hooks(node, g)
        rule = node.op.vjp
        if rule is None:
            raise _no_vjp(node.op)
        versions = node.versions  # saved values must be intact: _check_versions, inline
        i = 0
        for t in node.inputs:
            if isinstance(t, Tensor):
                vc = t._vc
                if vc is not None and vc[0] != (0 if versions is None else versions[i]):
                    _check_versions(node)
            i += 1
        if node.out_vc is not None and node.out_vc[0] != 0:
            _check_versions(node)
        meta = node.meta
        if meta is not None and "packed" in meta:  # recorded under saved_tensors_hooks
            grads_in = run_unpacked(node, rule, g, retain_graph)
        else:
            grads_in = rule(node, g)
        if not retain_graph:
            node.inputs = None
            node.out = None
            node.freed = True
        for edge, gi in zip(node.next, grads_in):
            if edge is None or gi is None:
                continue
            if type(edge) is Node:
                prev = get(edge)
                buffer[edge] = gi if prev is None else prev + gi
            elif type(edge) is OutputRef:
                _buffer_add(buffer, edge.node, edge.nr, gi)
            elif isinstance(edge, Node):
                _buffer_add(buffer, edge, 0, gi)
            else:  # a leaf
                prev = leaf_get(edge)
                leaf_grads[edge] = gi if prev is None else prev + gi


def _no_vjp(op) -> AutogradError:
    return AutogradError(f"op {op.name!r} has no VJP rule; register one with "
                         f"corefw.ops.defvjp({op.name!r}, rule)")


def _post_counts(order):
    """leaf -> number of edges into it, for leaves with post-accumulate-grad hooks."""
    counts: dict = {}
    for node in order:
        for edge in node.next:
            if edge is not None and not isinstance(edge, (Node, OutputRef)) and \
                    getattr(edge, "_post_hooks", None):
                counts[edge] = counts.get(edge, 0) + 1
    return counts


def _release(node, post, leaf_grads, create_graph):
    """``node`` has run: a hooked leaf no remaining node feeds gets its .grad and hooks now."""
    for edge in node.next:
        left = post.get(edge) if edge is not None and not isinstance(edge, (Node, OutputRef)) \
            else None
        if left is None:
            continue
        if left > 1:
            post[edge] = left - 1
            continue
        del post[edge]
        g = leaf_grads.pop(edge, None)
        if g is not None:
            _accumulate(edge, _run_leaf_hooks(edge, g), create_graph)
            for fn in tuple(edge._post_hooks):
                fn(edge)


def _buffer_add(buffer, node, nr, g):
    if type(node) is MultiNode:
        slot = buffer.get(node)
        if slot is None:
            slot = buffer[node] = [None] * node.n_out
        slot[nr] = _add(slot[nr], g)
    else:
        buffer[node] = _add(buffer.get(node), g)


def _run_tensor_hooks(node, g):
    if node.hooks is None and node.retain is None:
        return g
    multi = type(node) is MultiNode
    grads = list(g) if multi else [g]
    for nr, fns in (node.hooks or {}).items():
        for fn in fns:
            new = fn(grads[nr])
            if new is not None:
                grads[nr] = new
    for nr, ref in (node.retain or {}).items():
        t = ref()
        if t is not None and grads[nr] is not None:
            g_nr = grads[nr] if STATE.enabled else grads[nr].detach()
            t._grad = g_nr if getattr(t, "_grad", None) is None else t._grad + g_nr
    return grads if multi else grads[0]


def _run_leaf_hooks(leaf, g):
    for fn in (getattr(leaf, "_hooks", None) or ()):
        new = fn(g)
        if new is not None:
            g = new
    return g


def _accumulate(leaf, g, create_graph):
    if g._data.shape != leaf._data.shape:
        raise AutogradError(f"gradient of shape {g.shape} does not match the leaf's shape "
                            f"{leaf.shape}")
    if not create_graph and g._node is not None:
        g = g.detach()
    old = getattr(leaf, "_grad", None)
    if old is None:
        leaf._grad = g
    elif create_graph or old._node is not None or old._data.dtype != g._data.dtype:
        leaf._grad = old + g
    else:  # the common case: one kernel call, no graph
        leaf._grad = wrap(old._dev.table["add"](old._data, g._data), old._dev)


def _check_versions(node):
    versions = node.versions
    for i, t in enumerate(node.inputs):
        vc = getattr(t, "_vc", None)
        if vc is None:  # not a tensor, or a shape-only stand-in the VJP does not read
            continue
        expected = versions[i] if versions is not None else 0
        if vc[0] != expected:
            raise AutogradError(
                f"one of the tensors needed for gradient computation has been modified by an "
                f"in-place operation: input {i} of {node.name()} ({t.dtype.name} "
                f"{tuple(t.shape)}) is at version {vc[0]}; expected version {expected}. "
                f"Use an out-of-place op or .clone() the tensor before changing it.")
    if node.out_vc is not None and node.out_vc[0] != 0:
        raise AutogradError(
            f"the output of {node.name()} is needed for its gradient but was modified by an "
            f"in-place operation (version {node.out_vc[0]}; expected 0). Use an out-of-place "
            f"op or .clone() it first.")
