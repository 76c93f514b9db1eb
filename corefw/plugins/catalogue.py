"""What plugins register, and who owns each name.

A plugin's ``register`` callbacks only *collect* requests (:class:`Request`), after checking
their arguments. Once every hook of the plugin has run without raising, :func:`apply` carries
the requests out, kind by kind (ops, device types, kernels, layers, explainers), plain
registrations before overriding ones, so an explicit ``override=True`` wins whatever the
loading order, and a plugin that fails half-way registers nothing.

A name that is taken is refused with a :class:`PluginWarning` naming both plugins, unless the
request overrides it. Layers and explainers live in the catalogues :data:`LAYERS` and
:data:`EXPLAINERS`; ops, backends and kernels go to :mod:`corefw.ops.registry` and
:mod:`corefw.dispatch`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PluginError

__all__ = ["COMPILERS", "EXPLAINERS", "KINDS", "LAYERS", "OWNERS", "PROCESS_GROUPS",
           "PluginWarning", "Refusal", "Request", "apply", "collector", "describe"]

#: Layer classes by name (builtin ``corefw.nn`` layers and plugins' layers).
LAYERS: dict[str, type] = {}
#: Explainer factories by name.
EXPLAINERS: dict[str, Callable[..., Any]] = {}
#: Process-group backends by name (corefw.distributed.init_process_group(backend=name)).
PROCESS_GROUPS: dict[str, Any] = {}
#: Compilers for corefw.compile by name (the core's ``replay`` and plugins').
COMPILERS: dict[str, Callable[..., Any]] = {}
#: ``(kind, name) -> plugin name`` for every name a plugin registered.
OWNERS: dict[tuple[str, str], str] = {}

#: hook -> the kind of name it registers, in the order kinds are applied.
KINDS: dict[str, str] = {"register_ops": "ops", "register_backends": "device_types",
                         "register_kernels": "kernels", "register_layers": "layers",
                         "register_explainers": "explainers",
                         "register_process_groups": "process_groups",
                         "register_compilers": "compilers"}
_SINGULAR = {"ops": "op", "device_types": "device type", "kernels": "kernel",
             "layers": "layer", "explainers": "explainer",
             "process_groups": "process-group backend", "compilers": "compiler"}


_TABLES = {"layers": LAYERS, "explainers": EXPLAINERS, "process_groups": PROCESS_GROUPS,
           "compilers": COMPILERS}


class PluginWarning(RuntimeWarning):
    """A plugin was refused, failed (outside strict mode) or a registration was refused."""


class Refusal(TypeError):
    """A ``register`` callback refuses what it was given: the plugin is shown as refused."""


@dataclass
class Request:
    """One name a plugin asked to register."""

    kind: str
    name: str
    obj: Any
    override: bool
    options: dict


def collector(rec, hook: str) -> Callable[..., None]:
    """The ``register`` callback handed to ``hook`` of the plugin ``rec``."""
    kind = KINDS[hook]

    def add(name: str, obj: Any, override: bool, **options: Any) -> None:
        if not isinstance(override, bool):
            raise TypeError(f"{hook}: override must be True or False, got {override!r}")
        rec.requests.append(Request(kind, name, obj, override, options))

    def register_ops(name: str, *, override: bool = False, **declaration: Any) -> None:
        """:func:`corefw.ops.declare`'s keywords, checked now, applied with the plugin."""
        import inspect

        from .._registry import declare

        _check_name(hook, "op name", name)
        try:
            inspect.signature(declare).bind(name, **declaration)
        except TypeError as exc:
            raise TypeError(f"{hook}: op {name!r}: {exc} (the keywords are those of "
                            f"corefw.ops.declare)") from None
        for what in ("rule", "vjp", "decomposition"):
            fn = declaration.get(what)
            if fn is not None and not callable(fn):
                raise TypeError(f"{hook}: {what} of op {name!r} must be callable, got {fn!r}")
        if "owner" in declaration:
            raise TypeError(f"{hook}: op {name!r}: the owner is the plugin; do not pass owner")
        add(name, None, override, **declaration)

    def register_backends(backend: Any, *, override: bool = False) -> None:
        dev_type = getattr(backend, "device_type", None)
        if not isinstance(dev_type, str) or not dev_type.isidentifier():
            raise TypeError(f"{hook}: {backend!r} needs a device_type that is an identifier "
                            f"such as 'mydev' (see corefw.backend.Backend), got {dev_type!r}")
        from ..backend.protocol import missing_members

        missing = missing_members(backend)
        if missing:
            raise Refusal(f"backend {backend!r} for device type {dev_type!r} lacks "
                          f"{', '.join(missing)} of the corefw.backend.Backend protocol "
                          f"(docs/plugins.md lists each member; subclassing "
                          f"corefw.backend.ArrayModuleBackend provides them all)")
        add(dev_type, backend, override)

    def register_kernels(device_type: str, kernels: Mapping[str, Callable], *,
                         override: bool = False) -> None:
        _check_name(hook, "device type", device_type)
        if not isinstance(kernels, Mapping):
            raise TypeError(f"{hook}: kernels must be a mapping op name -> kernel, got "
                            f"{type(kernels).__name__}")
        for op_name, fn in kernels.items():
            _check_name(hook, "op name", op_name)
            if not callable(fn):
                raise TypeError(f"{hook}: kernel for {device_type}:{op_name} is not callable")
            add(f"{device_type}:{op_name}", fn, override, device_type=device_type, op=op_name)

    def register_layers(cls: type, name: str | None = None, *, override: bool = False) -> None:
        if not isinstance(cls, type):
            raise TypeError(f"{hook}: expected a layer class (a corefw.nn.Module subclass), "
                            f"got {cls!r}")
        name = cls.__name__ if name is None else name
        _check_name(hook, "layer name", name)
        add(name, cls, override)

    def named_callable(what: str, must: str) -> Callable[..., None]:
        def register(name: str, obj: Callable[..., Any], *, override: bool = False) -> None:
            _check_name(hook, f"{what} name", name)
            if not callable(obj):
                raise TypeError(f"{hook}: {what} {name!r} must be {must}, got {obj!r}")
            add(name, obj, override)
        return register

    register_explainers = named_callable("explainer", "a class or factory")
    register_compilers = named_callable("compiler", "callable (graph -> run)")

    def register_process_groups(name: str, backend: Any, *, override: bool = False) -> None:
        _check_name(hook, "process-group backend name", name)
        if not callable(getattr(backend, "create", None)):
            raise TypeError(f"{hook}: process-group backend {name!r} needs a create(rank, "
                            f"world_size, timeout, init_method) method (see "
                            f"corefw.distributed.ProcessGroupBackend), got {backend!r}")
        add(name, backend, override)

    return {"register_ops": register_ops, "register_backends": register_backends,
            "register_kernels": register_kernels, "register_layers": register_layers,
            "register_explainers": register_explainers,
            "register_process_groups": register_process_groups,
            "register_compilers": register_compilers}[hook]


def _check_name(hook: str, what: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{hook}: {what} must be a non-empty str, got {name!r}")


def describe(name: str | None, records: Mapping[str, Any]) -> str:
    """``'cpu' (corefw-cpu 0.1.0)`` for a plugin name; the bare name if it is no plugin."""
    if name is None:
        return "another registration"
    rec = records.get(name)
    if rec is None or not rec.distribution:
        return repr(name)
    if rec.distribution.startswith("("):  # "(registered at run time)"
        return f"{name!r} {rec.distribution}"
    return f"{name!r} ({rec.distribution}{' ' + rec.version if rec.version else ''})"


def apply(recs: list, records: Mapping[str, Any], fail: Callable[..., None]) -> None:
    """Carry out the requests of ``recs`` (plugins whose hooks all succeeded).

    ``records`` maps every plugin name to its record (to name owners); ``fail(rec, message,
    exc)`` marks a plugin failed.
    """
    for kind in KINDS.values():
        for overriding in (False, True):
            for rec in recs:
                if rec.status != "pending":
                    continue
                batch = [r for r in rec.requests if r.kind == kind and r.override is overriding]
                try:
                    for req in batch:
                        _apply_one(rec, req, records)
                except Exception as exc:  # noqa: BLE001 - isolate the plugin
                    fail(rec, f"registering {_SINGULAR[kind]} {req.name!r} failed: "
                              f"{type(exc).__name__}: {exc}", exc)
    for rec in recs:
        rec.requests = []


def _taken(req: Request, rec_name: str) -> tuple[bool, str | None]:
    """Whether ``req.name`` is already registered, and by which plugin (None if unknown)."""
    from .. import dispatch
    from ..ops.registry import OPS

    owner = OWNERS.get((req.kind, req.name))
    if owner is not None and owner == rec_name:
        return False, None  # its own earlier registration (a load retried after Ctrl-C)
    if req.kind == "ops":
        op = OPS.get(req.name)
        return op is not None, owner or (op.owner if op is not None else None)
    if req.kind == "device_types":
        return req.name in dispatch.BACKENDS, owner
    if req.kind == "kernels":
        if owner is not None:
            return True, owner
        dev_type = req.options["device_type"]
        backend = dispatch.BACKENDS.get(dev_type)
        if backend is not None and req.options["op"] in backend.kernels:
            return True, OWNERS.get(("device_types", dev_type))
        return False, None
    table = _TABLES[req.kind]
    return req.name in table, owner


def strict() -> bool:
    """Whether ``COREFW_STRICT_PLUGINS`` makes plugin failures and refusals errors."""
    return os.environ.get("COREFW_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes",
                                                                           "on")


def _warn_override(rec, req: Request, prev: str, records: Mapping[str, Any]) -> None:
    """PyTorch's "Overriding a previously registered kernel", naming both owners, for every
    kind of name but device types (settled by ownership); fatal in strict mode (the caller
    marks the plugin failed, which raises there)."""
    msg = (f"corefw: overriding a previously registered {_SINGULAR[req.kind]}: {req.name!r} "
           f"of {describe(prev, records)} is replaced by plugin {describe(rec.name, records)} "
           f"(override=True)")
    if strict():
        raise PluginError(f"{msg} [refused because COREFW_STRICT_PLUGINS is set]")
    warnings.warn(msg, PluginWarning, stacklevel=3)


def _apply_one(rec, req: Request, records: Mapping[str, Any]) -> None:
    from .. import dispatch
    from .._registry import declare

    what = f"{_SINGULAR[req.kind]} {req.name!r}"
    taken, prev = _taken(req, rec.name)
    if taken and req.override and req.kind != "device_types" and prev != rec.name:
        _warn_override(rec, req, prev, records)
    if taken and not req.override:
        by = describe(prev, records)
        rec.notes.append(f"refused: its {what}, already registered by {by}")
        warnings.warn(f"corefw: {what} is already registered by {by}; plugin "
                      f"{describe(rec.name, records)} was refused (its {what} is ignored; "
                      f"register it with override=True to replace it on purpose)",
                      PluginWarning, stacklevel=2)
        return
    if req.kind == "ops":
        declare(req.name, owner=rec.name, override=True, **req.options)
    elif req.kind == "device_types":
        dispatch.register_backend(req.obj, owner=rec.name, override=True)
    elif req.kind == "kernels":
        dispatch.register_kernels(req.options["device_type"], {req.options["op"]: req.obj},
                                  owner=rec.name, override=True)
    else:
        _TABLES[req.kind][req.name] = req.obj
    if taken:
        rec.notes.append(f"overrides {what} of {describe(prev, records)}")
        if prev in records and prev != rec.name:
            records[prev].notes.append(f"its {what} is overridden by "
                                       f"{describe(rec.name, records)}")
    OWNERS[(req.kind, req.name)] = rec.name
    if req.name not in rec.registered[req.kind]:
        rec.registered[req.kind].append(req.name)
