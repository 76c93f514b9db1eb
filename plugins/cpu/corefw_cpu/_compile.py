"""Graph rewrites of the ``cpu_fuse`` compiler: patterns whose kernels cost more in Python calls
and NumPy's per-call overhead than in arithmetic on small batches.

* **Cross-entropy forward + backward.** A ``cross_entropy`` node (no class weights, no label
  smoothing, ``mean`` or ``sum``) and the nodes of its VJP's decomposition (corefw/ops/nn_loss.py
  ``_ce_vjp``: softmax, one-hot, coefficient, about fifteen kernels) become one
  :func:`cross_entropy_fwd_bwd` call that shares the softmax between loss and gradient. Same
  operations on the same values, so the results are bit-identical to the unfused graph.
* **SGD over a parameter group.** Consecutive ``sgd_step_`` nodes with equal hyperparameters
  (in place, results unread) become one :func:`sgd_foreach_` call (PyTorch's ``foreach``).

A pattern that does not match exactly is left alone: the rewrites only ever remove Python
calls, never change what is computed.
"""

from __future__ import annotations

import numpy as np

from corefw.compiler import Graph, Node, Value
from corefw.compiler._ir import subgraph

from ._layers import _MAX, _SUM, _class_weights, _loss_reduce
from ._train import _sgd_step_

__all__ = ["cross_entropy_fwd_bwd", "optimize", "sgd_foreach_"]

_ALL = np.logical_and.reduce
_EXACT_COUNT = {"f": 1 << 24, "d": 1 << 53, "e": 1 << 11}  # counts a float holds exactly


_ROWS: dict = {}


def _rows(m: int) -> np.ndarray:
    """``arange(m)``, kept per batch size (read-only: only ever an index)."""
    r = _ROWS.get(m)
    if r is None:
        if len(_ROWS) > 64:
            _ROWS.clear()
        r = _ROWS[m] = np.arange(m)
        r.flags.writeable = False
    return r


def cross_entropy_fwd_bwd(x, t, g, ignore_index: int, reduction: str):
    """``(loss, grad)``: the ``cross_entropy`` kernel's loss for ``(M, C)`` logits ``x`` and
    ``(M,)`` targets ``t`` (no class weights, no label smoothing, ``reduction`` ``"mean"`` or
    ``"sum"``) and its gradient times the upstream 0-d gradient ``g``, with the arithmetic of
    the kernel and of ``_ce_vjp`` (bit for bit) but one softmax for both."""
    z = x - _MAX(x, axis=1, keepdims=True)
    e = np.exp(z)
    s = _SUM(e, axis=1, keepdims=True)
    z -= np.log(s)  # log_softmax(x)
    rows = _rows(t.shape[0])
    keep = np.not_equal(t, ignore_index)
    if t.shape[0] and _ALL(keep) and t.shape[0] < _EXACT_COUNT.get(x.dtype.char, 0):
        # no sample ignored: every weight is 1 (x * 1 == x) and their sum is exactly M, so
        # the general path below reduces to this, bit for bit, in a third of the calls
        n = x.dtype.type(t.shape[0])
        total = np.negative(_SUM(z[rows, t]))  # == sum(-z): rounding is sign-symmetric
        loss = np.divide(total, n, out=...) if reduction == "mean" else \
            np.asarray(total, dtype=x.dtype)
        c = np.multiply(1.0, np.divide(g, n, out=...) if reduction == "mean" else g, out=...)
        e /= s  # softmax(x)
        e[rows, t] -= 1
        e *= c
        return loss, e
    safe, w, _ = _class_weights(t, None, ignore_index, x.dtype)
    loss = _loss_reduce(-z[rows, safe] * w, w, reduction)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # every sample ignored: NaN
            c = np.divide(g, _SUM(w), out=...)
            coef = np.multiply(np.multiply(1.0, c, out=...), w)  # (1 - smoothing) * c * w
    else:
        coef = np.multiply(np.multiply(1.0, g, out=...), w)
    e /= s  # softmax(x)
    e[rows, safe] -= 1
    e *= coef[:, None]
    return loss, e


def sgd_foreach_(params: list, grads: list, bufs: list, **attrs) -> None:
    """``sgd_step_`` on each ``(param, grad, momentum_buffer)`` in turn (one call for a
    parameter group)."""
    for p, g, b in zip(params, grads, bufs):
        _sgd_step_(p, g, b, **attrs)


class _Rewriter:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes = list(graph.nodes)
        self.producer = {id(n.out): n for n in self.nodes}
        self.users: dict[int, list] = {}
        for n in self.nodes:
            for v in n.values():
                self.users.setdefault(id(v), []).append(n)
        self.outputs = {id(v) for v in graph.outputs}
        top = max([v.id for v in graph.inputs] + [n.out.id for n in self.nodes], default=0)
        self.next_id = top + 1

    def new_value(self) -> Value:
        self.next_id += 1
        return Value(self.next_id - 1)

    def made(self, v, op: str, nargs: int | None = None):
        """The node producing ``v`` if it is an ``op`` node (of ``nargs`` arguments)."""
        n = self.producer.get(id(v)) if isinstance(v, Value) else None
        if n is None or n.op != op or nargs is not None and len(n.args) != nargs:
            return None
        return n

    def only_user(self, v, op: str):
        users = self.users.get(id(v), [])
        if len(users) != 1 or id(v) in self.outputs or users[0].op != op:
            return None
        return users[0]


def _is_num(a, value) -> bool:
    return type(a) in (int, float) and a == value


def _match_ce(rw: _Rewriter, ce: Node):
    """``(grad node, g)`` when ``ce``'s VJP decomposition follows it in ``rw``'s graph."""
    if len(ce.args) != 3:
        return None
    x, t, weight = ce.args
    kw = ce.kwargs
    if not isinstance(x, Value) or not isinstance(t, Value) or weight is not None or \
            kw.get("label_smoothing") != 0.0 or kw.get("reduction") not in ("mean", "sum") or \
            x.shape is None or len(x.shape) != 2:
        return None
    ii = kw.get("ignore_index")
    sm = next((n for n in rw.users.get(id(x), []) if n.op == "softmax" and
               n.args == (x,) and n.kwargs.get("dim") in (1, -1)), None)
    if sm is None:
        return None
    users = rw.users.get(id(sm.out), [])
    sub = next((n for n in users if n.op == "sub" and n.args[0] is sm.out and
                _is_num(n.args[1], 1)), None)
    if sub is None or len(users) != 2 or id(sm.out) in rw.outputs:
        return None
    wh = rw.only_user(sub.out, "where")
    if wh is None or wh.args[1:] != (sub.out, sm.out):
        return None
    grad = rw.only_user(wh.out, "mul")
    if grad is None or grad.args[1] is not wh.out:
        return None
    # the one-hot mask: arange(C) == reshape(where(ne(t, ii), t, 0), (M, 1))
    eq = rw.made(wh.args[0], "eq", 2)
    ar = eq and rw.made(eq.args[0], "arange", 3)
    rs = eq and rw.made(eq.args[1], "reshape", 1)
    safe = rs and rw.made(rs.args[0], "where", 3)
    keep = safe and rw.made(safe.args[0], "ne", 2)
    if not (ar and rs and safe and keep) or ar.args != (0, x.shape[1], 1) or \
            safe.args[1:] != (t, 0) or keep.args != (t, ii):
        return None
    # the coefficient: reshape(mul(mul(1.0, c), w), (M, 1)), w = cast(keep), c = g [/ sum(w)]
    rc = rw.made(grad.args[0], "reshape", 1)
    q = rc and rw.made(rc.args[0], "mul", 2)
    p = q and rw.made(q.args[0], "mul", 2)
    w = q and rw.made(q.args[1], "cast", 1)
    if not (p and w and _is_num(p.args[0], 1)) or w.args[0] is not keep.out or \
            tuple(rc.kwargs.get("shape", ()))[1:] != (1,):
        return None
    g = p.args[1]
    if kw["reduction"] == "mean":
        d = rw.made(g, "div", 2)
        total = d and rw.made(d.args[1], "sum", 1)
        if not total or total.args[0] is not w.out or total.kwargs.get("dim") is not None:
            return None
        g = d.args[0]
    if not isinstance(g, Value) or g.shape != ():
        return None
    return grad, g


def _fuse_cross_entropy(rw: _Rewriter) -> bool:
    changed = False
    for ce in [n for n in rw.nodes if n.op == "cross_entropy"]:
        found = _match_ce(rw, ce)
        if found is None:
            continue
        grad, g = found
        i, j = rw.nodes.index(ce), rw.nodes.index(grad)
        between = rw.nodes[i + 1:j]
        if any(n.mutates for n in between) or any(
                u in between for u in rw.users.get(id(ce.out), [])) or \
                rw.producer.get(id(g)) in rw.nodes[j:]:
            continue  # something in between writes, or reads the loss before the gradient
        pair = rw.new_value()
        fused = Node("cross_entropy_fwd_bwd", cross_entropy_fwd_bwd, (ce.args[0], ce.args[1], g),
                     {"ignore_index": ce.kwargs["ignore_index"],
                      "reduction": ce.kwargs["reduction"]}, pair, ce.line)
        rw.nodes[j:j + 1] = [fused, Node("getitem", None, (pair, 0), {}, ce.out, ce.line),
                             Node("getitem", None, (pair, 1), {}, grad.out, grad.line)]
        rw.nodes.remove(ce)
        changed = True
    return changed


_SGD_ATTRS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize",
              "is_first_step")


def _fuse_sgd(rw: _Rewriter) -> bool:
    out: list[Node] = []
    run: list[Node] = []

    def flush():
        if len(run) > 1:
            params, grads, bufs = (tuple(n.args[k] for n in run) for k in range(3))
            out.append(Node("sgd_foreach_", sgd_foreach_, (list(params), list(grads),
                                                          list(bufs)),
                            dict(run[0].kwargs), rw.new_value(), run[0].line, mutates=True))
        else:
            out.extend(run)
        run.clear()

    for n in rw.nodes:
        ok = (n.op == "sgd_step_" and n.mutates and len(n.args) == 3 and
              all(isinstance(a, Value) for a in n.args) and set(n.kwargs) == set(_SGD_ATTRS)
              and not rw.users.get(id(n.out)) and id(n.out) not in rw.outputs)
        if ok and run and n.kwargs != run[0].kwargs:
            flush()
        if ok:
            run.append(n)
        else:
            flush()
            out.append(n)
    flush()
    changed = len(out) != len(rw.nodes)
    rw.nodes = out
    return changed


def optimize(graph: Graph) -> Graph:
    """``graph`` with the patterns above rewritten (the same graph when none matches)."""
    rw = _Rewriter(graph)
    changed = _fuse_cross_entropy(rw)
    changed = _fuse_sgd(rw) or changed
    if not changed:
        return graph
    # drop the nodes nobody reads any more; the inputs stay as the plan passes them
    nodes = subgraph(rw.nodes, graph.outputs, graph.device).nodes
    return Graph(graph.inputs, nodes, graph.outputs, graph.device, dict(graph.meta))
