"""One generated function per capture that checks its guards and runs it, like TorchDynamo's
guard functions: straight-line Python with the guarded values as constants.

The general path of a compiled call (:mod:`._compiled`) builds the guard key of the call (a
tuple describing every argument and every fact of :mod:`._state`), looks it up, checks the
plan's identities and runs :meth:`.Plan.run`; on a small training step that bookkeeping was a
quarter of the call. The function built here for the most recently hit capture compares each
fact to its captured value in place and, when all hold, feeds the graph and writes its results
back with no loops, no key and no lookup. The first fact that differs (or an attribute or item
that is gone) returns :data:`MISS` before anything is written, and the general path decides.

It is built only for captures it covers exactly: positional tensor, scalar or object
arguments, a static (not dynamic-batch) capture without graph breaks. Everything else keeps the
general path, which stays the reference: each check here is the key's own comparison or a
stricter one where that is cheaper (``is`` for dtypes and for an optimizer group's values that
are not hyperparameters), so a fast path can miss more often than the key would, never less.
"""

from __future__ import annotations

from .._graph.grad_mode import STATE
from .._tensor import Tensor, wrap
from ._common import LOCAL, unflatten

__all__ = ["MISS", "build"]

#: Returned by a fast path whose guards do not hold (nothing was run or written).
MISS = object()

_MAX_ITEMS = 256  # more guarded objects than this: the general path (source size)


class _Source:
    """Lines of the generated function and the constants it names."""

    def __init__(self) -> None:
        self.env: dict = {"STATE": STATE, "LOCAL": LOCAL, "MISS": MISS, "Tensor": Tensor,
                          "wrap": wrap, "unflatten": unflatten}
        self.lines: list[str] = []

    def const(self, value, prefix: str = "K") -> str:
        name = f"{prefix}{len(self.env)}"
        self.env[name] = value
        return name

    def miss_if(self, condition: str) -> None:
        self.lines.append(f"        if {condition}: return MISS")


def _argument_guards(src: _Source, akey: tuple, n_args: int) -> list[str] | None:
    """Checks of the positional arguments against the key's entries; the variable naming each
    tensor argument, in order. None where the key has entries this file does not cover."""
    tensor_vars: list[str] = []
    entries = [e for e in akey if e[0] != "aliasing of tensor arguments"]
    aliasing = [e[1] for e in akey if e[0] == "aliasing of tensor arguments"]
    if len(entries) != n_args:  # a list/tuple argument (expanded) or keyword arguments
        return None
    for i, entry in enumerate(entries):
        if entry[0] != f"argument {i}":
            return None
        a = f"a{i}"
        if len(entry) == 5:
            _, shape, dtype, dev_id, req = entry
            src.miss_if(f"not isinstance({a}, Tensor)")
            src.lines.append(f"        d = {a}._data")
            src.miss_if(f"d.shape != {src.const(shape, 'S')} or d.dtype is not "
                        f"{src.const(dtype, 'DT')} or id({a}._dev) != {dev_id} or "
                        f"{a}._req is not {req!r}")
            tensor_vars.append(a)
        elif len(entry) == 3:
            _, cls, value = entry
            src.miss_if(f"{a}.__class__ is not {src.const(cls, 'C')} or "
                        f"{a} != {src.const(value, 'V')}")
        else:
            src.miss_if(f"id({a}) != {entry[1]}")
    if aliasing:  # which tensor arguments are the same object, as in the key
        first = aliasing[0]
        for i in range(len(tensor_vars)):
            for j in range(i + 1, len(tensor_vars)):
                same = first[i] == first[j]
                src.miss_if(f"({tensor_vars[i]} is {tensor_vars[j]}) is not {same!r}")
    return tensor_vars


def _state_guards(src: _Source, state, skey: tuple, identity: list) -> bool:
    """Checks of the state facts (``skey``, see ``State.signature``) and the plan's
    identities. False where there are too many to spell out."""
    facts = skey[0][1]
    if len(facts) + len(identity) > _MAX_ITEMS:
        return False
    src.miss_if(f"{src.const(state, 'ST')}.tensors is not {src.const(state.tensors, 'TS')}")
    for t, (shape, dtype, req, no_grad) in zip(state.tensors, facts):
        tv = src.const(t, "T")
        src.lines.append(f"        d = {tv}._data")
        src.miss_if(f"d.shape != {src.const(shape, 'S')} or d.dtype is not "
                    f"{src.const(dtype, 'DT')} or {tv}._req is not {req!r} or {tv}._grad is "
                    f"{'not ' if no_grad else ''}None")
    rest = list(skey[1:])
    if state.modules:
        flags = rest.pop(0)[1]
        src.miss_if(" or ".join(f"{src.const(m, 'M')}.training is not {flag!r}"
                                for m, flag in zip(state.modules, flags)))
    for opt, (_, groups) in zip(state.optimizers, rest):
        pg = src.const(opt, "O")
        src.lines.append(f"        pgs = {pg}.param_groups")
        src.miss_if(f"len(pgs) != {len(opt.param_groups)}")
        for gi, (group, hyper) in enumerate(zip(opt.param_groups, groups)):
            named = {k for k, _ in hyper}
            src.lines.append(f"        g = pgs[{gi}]")
            # hyperparameters by value; anything else (params list, None) by identity
            src.miss_if(" or ".join([f"len(g) != {len(group)}"] +
                                    [f"g[{k!r}] != {src.const(v, 'V')}" for k, v in hyper] +
                                    [f"g[{k!r}] is not {src.const(v, 'V')}"
                                     for k, v in group.items() if k not in named]))
    checks = []
    for store, k, obj in identity:
        sv = src.const(store, "D")
        if isinstance(obj, tuple):
            src.lines.append(f"        p = {sv}[{k!r}]")
            src.miss_if(" or ".join([f"len(p) != {len(obj)}"] +
                                    [f"p[{i}] is not {src.const(t, 'P')}"
                                     for i, t in enumerate(obj)]))
        else:
            checks.append(f"{sv}[{k!r}] is not {src.const(obj, 'P')}")
    if checks:
        src.miss_if(" or ".join(checks))
    return True


def _run_lines(src: _Source, plan, tensor_vars: list[str], fn) -> None:
    """Feed the forward graph, write back, bump versions, return the outputs (``Plan.run``)."""
    names = [tensor_vars[j] for j in plan.arg_pos] + \
        [src.const(t, "T") for t in plan.state_tensors]
    feeds = [f"{names[i]}._data" if kind == "data" else f"{names[i]}._grad._data"
             for kind, i in plan.sources]
    lines = src.lines
    lines.append(f"    res = {src.const(plan.fwd, 'FWD')}([{', '.join(feeds)}])")
    for k, what, pos in plan.writes:
        t = names[k]
        if what == "data":
            lines.append(f"    {t}._data = res[{pos}]")
        elif pos is None:
            lines.append(f"    {t}._grad = None")
        else:
            lines.append(f"    {t}._grad = wrap(res[{pos}], {t}._dev)")
    for k, d in plan.bumps:
        t = names[k]
        lines.append(f"    vc = {t}._vc")
        lines.append(f"    if vc is None: {t}._vc = [{d!r}]")
        lines.append(f"    else: vc[0] += {d!r}")
    leaves = [f"wrap(res[{x}], {src.const(dev, 'DEV')})" if kind == "v" else names[x]
              if kind == "t" else f"res[{x}]" if kind == "s" else src.const(x, "X")
              for kind, x, dev in plan.outs]
    lines.append(f"    leaves = [{', '.join(leaves)}]")
    if plan.req_pos:  # the joint backward, as Plan.run attaches it
        def attach_joint(res, leaves, args, tensors) -> None:
            from ._joint import attach

            attach(plan, res, leaves, fn, args, {}, tensors)
        lines.append("    if STATE.enabled:")
        lines.append(f"        {src.const(attach_joint, 'ATTACH')}(res, leaves, args, "
                     f"[{', '.join(names)}])")
    if plan.tree is None:
        lines.append("    return leaves[0]")
    else:
        lines.append(f"    return unflatten({src.const(plan.tree, 'TREE')}, leaves)")


def build(plan, key: tuple, state, n_args: int, fn):
    """The fast path of ``plan``, hit with guard ``key`` by a call with ``n_args`` positional
    arguments (no keywords); None where :mod:`this module <._fastpath>` does not cover it."""
    if plan.guarded or plan.restore_rng or any(k not in ("data", "grad") for k, _ in
                                                plan.sources):
        return None
    akey, enabled, skey = key
    src = _Source()
    src.lines.append("    try:")
    src.miss_if(f"kwargs or len(args) != {n_args} or STATE.enabled is not {enabled!r}")
    src.miss_if("STATE.overrides or STATE.provenance or getattr(LOCAL, 'tracing', False)")
    if n_args:
        src.lines.append(f"        {', '.join(f'a{i}' for i in range(n_args))}, = args")
    tensor_vars = _argument_guards(src, akey, n_args)
    if tensor_vars is None or not skey or not _state_guards(src, state, skey, plan.identity):
        return None
    src.lines.append("    except (AttributeError, KeyError, IndexError, TypeError, ValueError):")
    src.lines.append("        return MISS")
    _run_lines(src, plan, tensor_vars, fn)
    text = "def fast(args, kwargs):\n" + "\n".join(src.lines) + "\n"
    exec(compile(text, "<corefw.compile fast path>", "exec"), src.env)  # noqa: S102
    fast = src.env["fast"]
    fast.source = text
    return fast
