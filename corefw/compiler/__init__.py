"""``corefw.compile``: capture a function's kernel calls once, replay them fast.

    step = corefw.compile(step)          # or @corefw.compile, or model.compile()

The first call runs the function eagerly while recording every kernel call into a
:class:`Graph` (and, when its result needs a gradient, the backward too: one joint plan);
the chosen compiler turns the graph into a callable; later calls whose guards match run that
callable. See docs/compile.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..plugins.catalogue import COMPILERS
from ._common import LOCAL, CompileWarning
from ._compiled import CompiledFunction
from ._default import default_compiler_for
from ._explain import ExplainOutput, explain
from ._ir import Graph, Node, Value
from ._replay import replay
from ._trace import GraphBreakError

__all__ = ["CompileWarning", "CompiledFunction", "ExplainOutput", "Graph", "GraphBreakError",
           "Node", "OptimizedModule", "Value", "compile", "default_compiler_for", "explain",
           "is_compiling", "list_backends", "register_compiler", "replay"]

#: How many captures (guard combinations) one compiled function keeps before running eagerly
#: (PyTorch's ``torch._dynamo.config.cache_size_limit``).
CACHE_SIZE_LIMIT = 8


def is_compiling() -> bool:
    """Whether this thread is capturing a compiled function (PyTorch's
    ``torch.compiler.is_compiling``). Value checks that would read a tensor into Python (class
    index ranges in losses and embeddings) are skipped while capturing, as they are device-side
    in PyTorch's compiled code; the kernels still refuse indices past the end."""
    return getattr(LOCAL, "tracing", False)


def register_compiler(name: str, compiler: Callable[[Graph], Callable[[list], list]], *,
                      override: bool = False) -> None:
    """Register ``compiler`` under ``name`` directly (plugins use the
    ``register_compilers`` hook instead)."""
    from ..errors import PluginError

    if name in COMPILERS and not override:
        raise PluginError(f"compiler {name!r} is already registered; pass override=True to "
                          f"replace it")
    COMPILERS[name] = compiler


def list_backends() -> list[str]:
    """Names of the registered compilers (``torch._dynamo.list_backends``)."""
    from ..plugins import load

    load()
    return sorted(COMPILERS)


def _compiler(backend) -> tuple[Callable, str]:
    if callable(backend):
        return backend, getattr(backend, "__name__", "custom")
    from ..plugins import load

    load()
    fn = COMPILERS.get(backend)
    if fn is None:
        from ..errors import PluginError

        raise PluginError(f"corefw.compile: unknown backend {backend!r}; registered: "
                          f"{', '.join(sorted(COMPILERS)) or 'none'} (a plugin adds one with "
                          f"the register_compilers hook)")
    return fn, backend


def compile(model: Any = None, *, fullgraph: bool = False, dynamic: bool | None = None,
            backend: str | Callable = "default", mode: str | None = None,
            options: dict | None = None, disable: bool = False) -> Any:
    """Compile a function or a module (PyTorch's ``torch.compile`` signature).

    Args:
        model: the function or :class:`~corefw.nn.Module`; omitted, returns a decorator.
        fullgraph: raise :class:`GraphBreakError` at the first graph break (a read of a
            tensor's values into Python) instead of splitting the capture there into guarded
            segments (docs/compile.md, "Graph breaks").
        dynamic: ``None``/``True``: a second batch size whose capture differs only in the
            batch size makes one dynamic capture; ``False``: every shape is its own capture.
        backend: a registered compiler's name (``corefw.compiler.list_backends()``) or a
            callable ``compiler(graph) -> run(inputs) -> outputs``. ``"default"``: the
            compiler the graph's device backend names in its ``default_compiler`` attribute
            (``cpu_fuse`` on cpu), else ``"replay"`` (:func:`default_compiler_for`).
        mode: ``None``, ``"default"``, ``"reduce-overhead"``, ``"max-autotune"``: accepted;
            replay already removes the per-op overhead.
        options: ``{"cache_size_limit": n}``.
        disable: return ``model`` unchanged.
    """
    if model is None:
        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                           mode=mode, options=options, disable=disable)
        return decorate
    if disable:
        return model
    if mode not in (None, "default", "reduce-overhead", "max-autotune",
                    "max-autotune-no-cudagraphs"):
        raise ValueError(f"corefw.compile: unknown mode {mode!r}; expected None, 'default', "
                         f"'reduce-overhead' or 'max-autotune'")
    fn, name = _compiler(backend)
    limit = int((options or {}).get("cache_size_limit", CACHE_SIZE_LIMIT))
    compiled = CompiledFunction(model, fn, name, fullgraph, dynamic, limit)
    if hasattr(model, "named_parameters") and hasattr(model, "training"):
        return OptimizedModule(model, compiled)
    return compiled


class OptimizedModule:
    """What ``corefw.compile(module)`` returns: calls go through the compiled function,
    everything else (parameters, ``train()``, ``state_dict()`` ...) to ``_orig_mod``."""

    def __init__(self, mod, compiled: CompiledFunction) -> None:
        object.__setattr__(self, "_orig_mod", mod)
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"OptimizedModule({self._orig_mod!r})"
