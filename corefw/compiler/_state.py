"""What a compiled function depends on besides its arguments: the modules, optimizers and
tensors it can reach (the callable itself, a bound method's object, closure cells, and the
globals its code names), found once when it is compiled, like TorchDynamo's guards on globals.

Parameters, buffers, optimizer state and their ``.grad`` are read as graph inputs on every
call (their values may change between calls; that needs no recompile). What the captured
program assumed about them (which tensors, their shapes and dtypes, ``requires_grad``, whether
``.grad`` is set, ``training`` flags, optimizer hyperparameters) is part of the guard.
"""

from __future__ import annotations

import types

from .._tensor import Tensor

__all__ = ["State", "find_roots", "is_hyperparameter"]


def _is_module(obj) -> bool:
    return hasattr(obj, "named_parameters") and hasattr(obj, "training") and \
        hasattr(obj, "_parameters")


def _is_optimizer(obj) -> bool:
    return hasattr(obj, "param_groups") and hasattr(obj, "state") and hasattr(obj, "step")


def _code_names(code, out: set) -> None:
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_names(c, out)


def find_roots(fn, args, kwargs) -> list:
    """Modules, optimizers and tensors ``fn`` may touch (one level deep)."""
    found: list = []
    seen: set[int] = set()

    def add(obj, depth: int = 0) -> None:
        if id(obj) in seen:
            return
        if isinstance(obj, Tensor) or _is_module(obj) or _is_optimizer(obj):
            seen.add(id(obj))
            found.append(obj)
        elif hasattr(obj, "optimizer") and _is_optimizer(obj.optimizer):  # an LR scheduler
            add(obj.optimizer)
        elif depth == 0 and isinstance(obj, (list, tuple, dict)):
            for x in (obj.values() if isinstance(obj, dict) else obj):
                add(x, 1)
        elif depth == 0 and hasattr(obj, "__dict__") and not isinstance(
                obj, (type, types.ModuleType, types.FunctionType)):
            seen.add(id(obj))
            for x in vars(obj).values():
                add(x, 1)

    for a in list(args) + list(kwargs.values()):
        if not isinstance(a, (Tensor, list, tuple)):  # tensor arguments are guarded apart
            add(a)
    target = fn
    if _is_module(fn):
        add(fn)
        target = type(fn).forward
    self = getattr(target, "__self__", None)
    if self is not None:
        add(self)
        target = getattr(target, "__func__", target)
    code = getattr(target, "__code__", None)
    if code is None:
        return found
    for cell in getattr(target, "__closure__", None) or ():
        try:
            add(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    names: set = set()
    _code_names(code, names)
    g = getattr(target, "__globals__", {})
    for name in sorted(names):
        if name in g:
            add(g[name])
    return found


_TENSOR_FACTS = "shape, dtype, requires_grad or .grad of a parameter, buffer or state tensor"
_OPT_NAMES = tuple(f"hyperparameters of optimizer {i}" for i in range(8))
_NUMBERS = (int, float, bool)


def is_hyperparameter(value) -> bool:
    """A number, or a tuple of numbers (Adam's ``betas``): a value a captured optimizer step
    reads as a constant, so a change to it needs a new capture."""
    if isinstance(value, _NUMBERS):
        return True
    return isinstance(value, tuple) and bool(value) and \
        all(isinstance(v, _NUMBERS) for v in value)


_FACTS: dict = {}


def _facts_function(n: int):
    """``facts(tensors)``: each tensor's ``(shape, dtype, requires_grad, .grad is None)``, as
    straight-line code (half the time of a loop; guards run on every compiled call)."""
    fn = _FACTS.get(n)
    if fn is None and (n == 0 or n > 1024):  # nothing to unpack / source too long: a loop
        ga = getattr
        return lambda ts: tuple([(t._data.shape, t._data.dtype, t._req,
                                  ga(t, "_grad", None) is None) for t in ts])
    if fn is None:
        names = ", ".join(f"t{i}" for i in range(n))
        body = "".join(f"(t{i}._data.shape, t{i}._data.dtype, t{i}._req, t{i}._grad is None), "
                       for i in range(n))
        src = f"def facts(ts):\n    {names}, = ts\n    return ({body})\n"
        env: dict = {}
        exec(compile(src, "<corefw.compile guard>", "exec"), env)  # noqa: S102 - built above
        fn = _FACTS[n] = env["facts"]
    return fn


class State:
    """The tensors behind ``roots`` and the facts about them a capture relies on."""

    def __init__(self, roots: list) -> None:
        self.roots = roots
        self.modules = []
        self.optimizers = [r for r in roots if _is_optimizer(r)]
        seen: set[int] = set()
        for r in roots:
            if _is_module(r):
                for m in r.modules():
                    if id(m) not in seen:
                        seen.add(id(m))
                        self.modules.append(m)
        self.tensors = self.collect()
        self._groups_seen: list = []
        self._facts_of = None
        self._hyper: list = []

    def collect(self) -> list[Tensor]:
        """Every tensor reachable now (params, buffers, optimizer state, plain tensors)."""
        out: list[Tensor] = []
        seen: set[int] = set()

        def add(t) -> None:
            if isinstance(t, Tensor) and id(t) not in seen:
                seen.add(id(t))
                out.append(t)

        for r in self.roots:
            if isinstance(r, Tensor):
                add(r)
        for m in self.modules:
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    add(t)
        for opt in self.optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    add(p)
                for v in group.values():  # a tensor hyperparameter (a tensor lr): an input
                    add(v)
            for st in opt.state.values():
                for t in st.values():
                    add(t)
        for t in out:
            if getattr(t, "_grad", None) is None:
                # never had a gradient: an unset slot makes every guard's getattr(t, "_grad",
                # None) raise and catch; None is what every reader sees either way
                t._grad = None
        return out

    def signature(self) -> tuple:
        """The guarded facts, as ``(name, value)`` pairs (compared to name a failing guard).
        Computed on every call of a compiled function: list comprehensions, no generators."""
        ts = self.tensors
        if self._facts_of is not ts:  # the tensor list was (re)collected
            self._facts, self._facts_of = _facts_function(len(ts)), ts
        try:
            facts = self._facts(ts)
        except AttributeError:  # a ``_grad`` slot was deleted: the general form
            ga = getattr
            facts = tuple([(t._data.shape, t._data.dtype, t._req, ga(t, "_grad", None) is None)
                           for t in ts])
        sig = [(_TENSOR_FACTS, facts)]
        if self.modules:
            sig.append(("train/eval mode", tuple([m.training for m in self.modules])))
        if self.optimizers:
            # the hyperparameters, recomputed only when a group's items changed
            now = [(tuple(g), tuple(g.values())) for opt in self.optimizers
                   for g in opt.param_groups]
            if now != self._groups_seen:
                self._groups_seen = now
                self._hyper = [(_OPT_NAMES[i] if i < len(_OPT_NAMES) else
                                f"hyperparameters of optimizer {i}",
                                tuple([tuple([(k, v) for k, v in g.items()
                                              if is_hyperparameter(v)])
                                       for g in opt.param_groups]))
                               for i, opt in enumerate(self.optimizers)]
            sig += self._hyper
        return tuple(sig)

    def identity(self) -> list:
        """``(mapping, key, object)`` triples: each module entry must still be the same
        tensor object (a replaced parameter means a new capture)."""
        out = []
        for m in self.modules:
            for store in (m._parameters, m._buffers):
                for k, t in store.items():
                    out.append((store, k, t))
        for opt in self.optimizers:
            for group in opt.param_groups:
                out.append((group, "params", tuple(group["params"])))
                out += [(group, k, v) for k, v in group.items() if isinstance(v, Tensor)]
        return out
