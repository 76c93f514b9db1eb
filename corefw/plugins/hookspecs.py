"""The hooks a corefw plugin may implement. This file is the plugin API's reference.

A plugin is a module exposed in the ``corefw.plugins`` entry-point group. It declares the
plugin-API versions it supports and implements any of the hooks below with ``@hookimpl``::

    from corefw.plugins import hookimpl

    COREFW_PLUGIN_API = ">=1,<2"      # required: the API versions it was written for

    @hookimpl
    def register_backends(register):
        from .backend import MyBackend   # import the real code inside the hook

        register(MyBackend())

Every ``register_*`` hook receives one argument, a ``register`` callback (simonw/llm's
pattern), and returns nothing. What a plugin registers is applied only once all its hooks
have run without raising, so a plugin that fails registers nothing. Passing ``override=True``
replaces an entry of the same name on purpose (and wins whatever the loading order); otherwise
a second registration of a name is refused with a warning that names both plugins.

Hooks run in this order, for every plugin in turn: ``register_ops``, ``register_backends``,
``register_kernels``, ``register_layers``, ``register_explainers``,
``register_process_groups``, ``register_compilers``. Plugin modules must be
cheap to import and to register: import heavy libraries (cupy, scipy ...) inside the objects
they register, on first use. docs/hooks.md documents each hook with an example; a test checks
that every hook here has a docstring and a section there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pluggy

__all__ = ["HOOK_ORDER", "PLUGIN_API_VERSION", "hookimpl", "hookspec"]

#: The plugin API's version. The major number changes only with an incompatible change to
#: these hooks or their ``register`` callbacks; see docs/plugin-api-policy.md.
#: 1.1: register_process_groups, register_compilers; 1.2: Backend.default_compiler
PLUGIN_API_VERSION = "1.2"

hookspec = pluggy.HookspecMarker("corefw")
hookimpl = pluggy.HookimplMarker("corefw")


class RegisterBackend(Protocol):
    """``register(backend, *, override=False)``."""

    def __call__(self, backend: Any, *, override: bool = False) -> None: ...


class RegisterKernels(Protocol):
    """``register(device_type, kernels, *, override=False)``."""

    def __call__(self, device_type: str, kernels: dict[str, Callable[..., Any]], *,
                 override: bool = False) -> None: ...


class RegisterOp(Protocol):
    """``register(name, *, rule=None, vjp=None, saves=..., decomposition=None, ...,
    override=False)``: the keywords of :func:`corefw.ops.declare` (except ``owner``, which is
    the plugin), checked when the hook calls it."""

    def __call__(self, name: str, *, override: bool = False, **declaration: Any) -> None: ...


class RegisterLayer(Protocol):
    """``register(cls, name=None, *, override=False)``."""

    def __call__(self, cls: type, name: str | None = None, *,
                 override: bool = False) -> None: ...


class RegisterCompiler(Protocol):
    """``register(name, compiler, *, override=False)``."""

    def __call__(self, name: str, compiler: Callable[..., Any], *,
                 override: bool = False) -> None: ...


class RegisterExplainer(Protocol):
    """``register(name, cls, *, override=False)``."""

    def __call__(self, name: str, cls: Callable[..., Any], *, override: bool = False) -> None: ...


class RegisterProcessGroup(Protocol):
    """``register(name, backend, *, override=False)``."""

    def __call__(self, name: str, backend: Any, *, override: bool = False) -> None: ...


@hookspec
def register_ops(register: RegisterOp) -> None:
    """Register new ops: ``register(name, *, rule=None, vjp=None, saves=..., decomposition=None,
    view=False, inplace=False, differentiable=True, doc="", override=False)``.

    The keywords are those of :func:`corefw.ops.declare`: ``rule`` gives output shapes and
    dtypes (the ``meta`` device and error messages use it; without one the decomposition
    serves), ``saves`` what the VJP reads. ``vjp(ctx, grad)`` returns one
    gradient (or None) per operand, written with corefw ops so that autograd works on every
    device (``ctx.inputs``, ``ctx.output``, ``ctx.attrs``). ``decomposition(*operands,
    **attrs)`` writes the op with existing ops, so every backend runs it; a backend may add a
    faster kernel through :func:`register_kernels`. Call the op with
    ``corefw.plugins.call_op(name, *operands, **attrs)``. An op name registered twice is
    refused unless ``override=True``.
    """


@hookspec
def register_backends(register: RegisterBackend) -> None:
    """Register device backends: ``register(backend, *, override=False)``.

    ``backend`` implements :class:`corefw.backend.Backend` (``device_type``, ``name``,
    ``kernels``, transfers, RNG ...), for example a :class:`corefw.backend.ArrayModuleBackend`.
    Its ``device_type`` (an identifier such as ``"mydev"``) names the devices ``"mydev:N"``.
    Registering must not touch hardware or import heavy libraries: do that in
    ``backend.is_available()`` or on first use. A backend lacking members of the protocol is
    refused with the list. A device type belongs to the distribution that declares it in the
    ``corefw.devices`` entry points (or that ``COREFW_DEVICE_OWNER`` names); a plugin that
    registers one it does not own is refused, whatever ``override`` says (``override=True``
    only lets a plugin registered at run time replace one).
    """


@hookspec
def register_kernels(register: RegisterKernels) -> None:
    """Add kernels to a device type: ``register(device_type, {op_name: kernel}, *,
    override=False)``.

    Use it for a faster kernel of a composite op on another plugin's backend, or for a kernel
    of an op added by ``register_ops``. A kernel takes native arrays (and the op's attributes
    as keywords) and returns a new native array. A kernel for an op the backend or another
    plugin already provides is refused unless ``override=True``; an override of another
    plugin's kernel warns naming both (an error under ``COREFW_STRICT_PLUGINS``).
    """


@hookspec
def register_layers(register: RegisterLayer) -> None:
    """Register layer classes: ``register(cls, name=None, *, override=False)``.

    ``cls`` is a :class:`corefw.nn.Module` subclass; ``name`` defaults to ``cls.__name__``.
    Layers appear in :func:`corefw.layers` (a catalogue for config-driven code) and in
    ``corefw plugins``; importing the class from its module works as usual. A layer name
    registered twice is refused unless ``override=True``.
    """


@hookspec
def register_explainers(register: RegisterExplainer) -> None:
    """Register explainers: ``register(name, cls, *, override=False)``.

    ``cls(model)`` builds an explainer whose ``attribute(inputs, target=None, **options)``
    returns attributions shaped like ``inputs`` (a feature explainer). An explainer of another
    kind says so with class attributes ``kind`` (``"concept"``, ``"data"`` or ``"text"``) and
    ``result_type`` (what ``attribute`` returns), as corefw-xai's TCAV, TracInCP and LLM
    attributions do; a class without ``kind`` is a feature explainer. Explainers appear in
    :func:`corefw.explainers` and in ``corefw plugins``. An explainer name registered twice is
    refused unless ``override=True``.
    """


@hookspec
def register_process_groups(register: RegisterProcessGroup) -> None:
    """Register process-group backends for :mod:`corefw.distributed`: ``register(name,
    backend, *, override=False)``.

    ``backend`` implements :class:`corefw.distributed.ProcessGroupBackend`: ``is_available()``,
    ``unavailable_reason()`` and ``create(rank, world_size, timeout, init_method)`` returning a
    process group whose collectives work on tensors. ``init_process_group(name)`` picks it.
    Registering must not import the communication library (mpi4py, cupy): do that in
    ``create``. A name registered twice is refused unless ``override=True``.
    """


@hookspec
def register_compilers(register: RegisterCompiler) -> None:
    """Register compilers for :func:`corefw.compile`: ``register(name, compiler, *,
    override=False)``.

    ``compiler(graph)`` receives a captured :class:`corefw.compiler.Graph` (kernel-call nodes
    with shapes and dtypes, see docs/compile.md) and returns a callable ``run(inputs) ->
    outputs`` over native arrays, computing ``graph.outputs`` from ``graph.inputs``. Users pick
    it with ``corefw.compile(fn, backend=name)``; ``corefw.compiler.list_backends()`` lists
    them. The core registers ``replay``. A name registered twice is refused unless
    ``override=True``.
    """


#: The order in which the hooks run (ops before the backends whose kernels may serve them).
HOOK_ORDER: tuple[str, ...] = ("register_ops", "register_backends", "register_kernels",
                               "register_layers", "register_explainers",
                               "register_process_groups",
                               "register_compilers")
