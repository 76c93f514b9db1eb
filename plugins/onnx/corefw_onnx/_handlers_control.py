"""The graph runner and ONNX's control flow (If, Loop, Scan) over corefw ops.

:func:`run_nodes` runs nodes in order over an environment of named values; a control-flow
handler runs its subgraph with the same runner over a copy of the enclosing environment, so a
subgraph reads outer-scope values by name, as ONNX specifies. The graph runs eagerly: a
condition is read with ``.item()`` and a loop is unrolled as it runs, so the ops of every
executed iteration are recorded by autograd (fine-tuning through a Loop or Scan works).
"""

from __future__ import annotations

from typing import Any

from onnx import numpy_helper

import corefw

from ._handler_utils import attrs as _attrs
from ._handler_utils import unsupported as _unsupported
from .errors import OnnxImportError, UnsupportedOnnxError

__all__ = ["ATTRS", "HANDLERS", "run_nodes"]


def run_nodes(nodes, env: dict[str, Any], opset: int, dev) -> None:
    """Run ``nodes`` in order, reading inputs from and writing outputs to ``env``; an error
    is re-raised with the same type, naming the node."""
    from ._handlers import HANDLERS  # the full table (it includes this module's handlers)

    for node in nodes:
        args = [env[i] for i in node.input]
        fn = HANDLERS[node.op_type]
        try:
            if node.op_type in HANDLERS_WITH_ENV:
                outs = fn(node, args, opset, dev, env)
            else:
                outs = fn(node, args, opset, dev)
        except (UnsupportedOnnxError, OnnxImportError):
            raise
        except Exception as exc:
            try:  # the same error type, naming the node
                named = type(exc)(f"node {node.name!r} ({node.op_type}): {exc}")
            except Exception:  # noqa: BLE001 - an exception type with another signature
                raise exc from None
            raise named from exc
        if not isinstance(outs, (tuple, list)):
            outs = (outs,)
        for out_name, val in zip(node.output, outs):
            env[out_name] = val


def _subgraph(graph, env: dict, bindings: dict, opset: int, dev) -> list:
    """Run ``graph`` in a copy of ``env`` with its inputs bound; its outputs in order."""
    inner = dict(env)
    for t in graph.initializer:
        inner[t.name] = corefw.tensor(numpy_helper.to_array(t).copy(), device=dev)
    inner.update(bindings)
    run_nodes(graph.node, inner, opset, dev)
    return [inner[o.name] for o in graph.output]


def _if(node, a, opset, dev, env):
    at = _attrs(node)
    branch = at["then_branch"] if bool(a[0].reshape(-1)[0].item()) else at["else_branch"]
    return tuple(_subgraph(branch, env, {}, opset, dev))


def _stack(items: list, axis: int = 0, reverse: bool = False):
    if not items:
        return corefw.zeros(0)
    items = items[::-1] if reverse else items
    return corefw.stack(items, axis % (items[0].ndim + 1))


def _loop(node, a, opset, dev, env):
    body = _attrs(node)["body"]
    trips = a[0] if a and a[0] is not None else None
    limit = int(trips.item()) if trips is not None else None
    cond = a[1] if len(a) > 1 else None
    going = True if cond is None else bool(cond.item())
    carried = list(a[2:])
    names = [i.name for i in body.input]
    scans: list[list] = []
    i = 0
    while going and (limit is None or i < limit):
        bind = {names[0]: corefw.tensor(i, dtype=corefw.int64, device=dev),
                names[1]: corefw.tensor(going, device=dev)}
        bind.update(zip(names[2:], carried))
        outs = _subgraph(body, env, bind, opset, dev)
        going = bool(outs[0].item())
        carried = outs[1:1 + len(carried)]
        extra = outs[1 + len(carried):]
        scans = scans or [[] for _ in extra]
        for lst, v in zip(scans, extra):
            lst.append(v)
        i += 1
    n_scan = len(body.output) - 1 - len(carried)
    scans = scans or [[] for _ in range(n_scan)]
    return tuple(carried) + tuple(_stack(s) for s in scans)


def _scan(node, a, opset, dev, env):
    at = _attrs(node)
    if opset < 9:
        _unsupported(node, "Scan-8 (batched, with sequence_lens)")
    body = at["body"]
    n_in = int(at["num_scan_inputs"])
    states, xs = list(a[:len(a) - n_in]), list(a[len(a) - n_in:])
    in_axes = list(at.get("scan_input_axes", [0] * n_in))
    in_dirs = list(at.get("scan_input_directions", [0] * n_in))
    n_out = len(body.output) - len(states)
    out_axes = list(at.get("scan_output_axes", [0] * n_out))
    out_dirs = list(at.get("scan_output_directions", [0] * n_out))
    in_axes = [ax % x.ndim for ax, x in zip(in_axes, xs)]
    steps = xs[0].shape[in_axes[0]] if xs else 0
    names = [i.name for i in body.input]
    scans: list[list] = [[] for _ in range(n_out)]
    for t in range(steps):
        bind = dict(zip(names, states))
        for k, (x, ax, d) in enumerate(zip(xs, in_axes, in_dirs)):
            pos = steps - 1 - t if d else t
            bind[names[len(states) + k]] = x[(slice(None),) * ax + (pos,)]
        outs = _subgraph(body, env, bind, opset, dev)
        states = outs[:len(states)]
        for lst, v in zip(scans, outs[len(states):]):
            lst.append(v)
    return tuple(states) + tuple(_stack(s, ax, bool(d)) for s, ax, d in zip(
        scans, out_axes, out_dirs))


HANDLERS = {"If": _if, "Loop": _loop, "Scan": _scan}
HANDLERS_WITH_ENV = set(HANDLERS)

ATTRS = {"If": {"then_branch", "else_branch"}, "Loop": {"body"},
         "Scan": {"body", "num_scan_inputs", "scan_input_axes", "scan_input_directions",
                  "scan_output_axes", "scan_output_directions"}}
