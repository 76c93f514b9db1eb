"""Finding, checking, isolating and registering plugins.

Entry points of the ``corefw.plugins`` group are listed from package metadata (cheap) and
imported on first need (the first tensor, ``corefw plugins``). Builtin plugins go through the
same path. A plugin that fails to import or register is recorded as failed and reported once;
``COREFW_STRICT_PLUGINS=1`` makes that fatal. ``COREFW_PLUGINS=a,b`` loads only those entry
points, ``COREFW_DISABLE_PLUGINS=c`` blocks some.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from ..errors import PluginError
from . import hookspecs

__all__ = ["EXPLAINERS", "LAYERS", "PluginRecord", "load", "plugin_records", "register_plugin"]

GROUP = "corefw.plugins"
#: Builtin plugins, registered exactly like entry points (pytest's default_plugins).
BUILTIN = ("corefw.nn._plugin",)

LAYERS: dict[str, type] = {}
EXPLAINERS: dict[str, type] = {}
_OWNERS: dict[tuple[str, str], str] = {}


@dataclass
class PluginRecord:
    """What ``corefw plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "pending"  # loaded | failed | blocked | refused | pending
    error: str | None = None
    api: str | None = None
    registered: dict[str, list[str]] = field(default_factory=lambda: {
        "device_types": [], "kernels": [], "ops": [], "layers": [], "explainers": []})

    def as_dict(self) -> dict:
        return {"name": self.name, "module": self.module, "distribution": self.distribution,
                "version": self.version, "status": self.status, "error": self.error,
                "plugin_api": self.api, "registers": {k: list(v) for k, v in
                                                      self.registered.items()}}


_records: dict[str, PluginRecord] = {}
_pm = pluggy.PluginManager("corefw")
_pm.add_hookspecs(hookspecs)
_lock = threading.RLock()
_state = {"loaded": False, "loading": False}


def plugin_records() -> list[PluginRecord]:
    """Every known plugin with its status (loads plugins if needed)."""
    load()
    return list(_records.values())


def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _strict() -> bool:
    return os.environ.get("COREFW_STRICT_PLUGINS", "") not in ("", "0", "false", "False")


def load() -> None:
    """Import and register every plugin once (thread-safe, re-entrant)."""
    if _state["loaded"] or _state["loading"]:
        return
    with _lock:
        if _state["loaded"] or _state["loading"]:
            return
        _state["loading"] = True
        try:
            only, blocked = _env_list("COREFW_PLUGINS"), _env_list("COREFW_DISABLE_PLUGINS")
            candidates = [(m, m, None) for m in BUILTIN]
            for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
                candidates.append((ep.name, ep.value, ep))
            modules = []
            for name, value, ep in candidates:
                rec = PluginRecord(name=name, module=value)
                if ep is not None and ep.dist is not None:
                    rec.distribution, rec.version = ep.dist.name, ep.dist.version
                else:
                    rec.distribution = "corefw (builtin)"
                _records[name] = rec
                builtin = ep is None
                if not builtin and ((only is not None and name not in only) or
                                    (blocked and name in blocked)):
                    rec.status = "blocked"
                    continue
                module = _import(rec)
                if module is not None:
                    modules.append((rec, module))
            for hook in ("register_ops", "register_backends", "register_kernels",
                         "register_layers", "register_explainers"):
                for rec, module in modules:
                    if rec.status == "pending":
                        _call_hook(rec, module, hook)
            for rec, _ in modules:
                if rec.status == "pending":
                    rec.status = "loaded"
        finally:
            _state["loading"] = False
            _state["loaded"] = True


def register_plugin(module, name: str | None = None) -> PluginRecord:
    """Register a plugin module at run time (tests, notebooks); same checks as entry points."""
    load()
    name = name or module.__name__
    rec = PluginRecord(name=name, module=module.__name__, distribution="(registered at run "
                       "time)")
    _records[name] = rec
    if not _check_api(rec, module) or not _pluggy_register(rec, module):
        return rec
    for hook in ("register_ops", "register_backends", "register_kernels", "register_layers",
                 "register_explainers"):
        if rec.status == "pending":
            _call_hook(rec, module, hook)
    if rec.status == "pending":
        rec.status = "loaded"
    return rec


def _import(rec: PluginRecord):
    try:
        module = importlib.import_module(rec.module.split(":")[0])
    except Exception as exc:  # noqa: BLE001 - isolation is the point
        _fail(rec, f"import failed: {type(exc).__name__}: {exc}", exc)
        return None
    if not _check_api(rec, module) or not _pluggy_register(rec, module):
        return None
    return module


def _pluggy_register(rec: PluginRecord, module) -> bool:
    try:
        if _pm.get_plugin(rec.name) is not None:
            _pm.unregister(name=rec.name)
        _pm.register(module, name=rec.name)
    except Exception as exc:  # noqa: BLE001 - pluggy's PluginValidationError and friends
        _fail(rec, f"invalid hooks: {exc}", exc)
        return False
    return True


def _check_api(rec: PluginRecord, module) -> bool:
    spec = getattr(module, "COREFW_PLUGIN_API", None)
    rec.api = spec
    if spec is None:
        rec.status = "refused"
        rec.error = (f"declares no COREFW_PLUGIN_API; corefw's plugin API is "
                     f"{hookspecs.PLUGIN_API_VERSION} (add COREFW_PLUGIN_API = '>=1,<2')")
        _report(rec)
        return False
    try:
        ok = version_matches(hookspecs.PLUGIN_API_VERSION, spec)
    except ValueError as exc:
        ok, why = False, str(exc)
    else:
        why = ""
    if not ok:
        rec.status = "refused"
        rec.error = (f"supports plugin API {spec!r} but this corefw provides plugin API "
                     f"{hookspecs.PLUGIN_API_VERSION}{': ' + why if why else ''}; upgrade the "
                     f"plugin or corefw")
        _report(rec)
    return ok


def version_matches(version: str, spec: str) -> bool:
    """Whether ``version`` ("1.0") satisfies ``spec`` (">=1,<2", "==1.*", "1")."""
    have = _vtuple(version)
    for clause in spec.split(","):
        clause = clause.strip()
        m = re.fullmatch(r"(>=|<=|==|!=|>|<|~=)?\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?", clause)
        if not m:
            raise ValueError(f"cannot parse version clause {clause!r}")
        op, ver, star = m.group(1) or "==", _vtuple(m.group(2)), m.group(3)
        if star or (op == "==" and not m.group(1)):
            cmp = have[:len(ver)]
        else:
            cmp = have
            ver = ver + (0,) * (len(have) - len(ver))
        ok = {">=": cmp >= ver, "<=": cmp <= ver, ">": cmp > ver, "<": cmp < ver,
              "==": cmp == ver, "!=": cmp != ver, "~=": cmp >= ver}[op]
        if not ok:
            return False
    return True


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def _call_hook(rec: PluginRecord, module, hook: str) -> None:
    fn = getattr(module, hook, None)
    if fn is None:
        return
    try:
        fn(register=_registrar(rec, hook))
    except Exception as exc:  # noqa: BLE001
        _fail(rec, f"{hook} failed: {type(exc).__name__}: {exc}", exc)


def _registrar(rec: PluginRecord, hook: str):
    from .. import dispatch
    from ..ops.registry import register_op

    def refused(kind, name, exc_or_owner):
        warnings.warn(f"corefw plugin {rec.name!r}: {kind} {name!r} refused: {exc_or_owner}",
                      stacklevel=3)

    def register_backends(backend, override: bool = False):
        try:
            dispatch.register_backend(backend, owner=rec.name, override=override)
        except PluginError as exc:
            refused("device type", backend.device_type, exc)
            return
        rec.registered["device_types"].append(backend.device_type)

    def register_kernels(device_type, kernels, override: bool = False):
        try:
            dispatch.register_kernels(device_type, kernels, owner=rec.name, override=override)
        except PluginError as exc:
            refused("kernels for", device_type, exc)
            return
        rec.registered["kernels"].extend(f"{device_type}:{k}" for k in kernels)

    def register_ops(name, override: bool = False, **kwargs):
        try:
            op = register_op(name, owner=rec.name, override=override, **kwargs)
        except PluginError as exc:
            refused("op", name, exc)
            return None
        rec.registered["ops"].append(name)
        return op

    def catalogue(kind, table, name, obj, override):
        prev = _OWNERS.get((kind, name))
        if name in table and not override:
            refused(kind[:-1], name, f"already registered by {prev!r} (pass override=True to "
                                     f"replace it)")
            return
        table[name] = obj
        _OWNERS[(kind, name)] = rec.name
        rec.registered[kind].append(name)

    def register_layers(cls, name: str | None = None, override: bool = False):
        catalogue("layers", LAYERS, name or cls.__name__, cls, override)

    def register_explainers(name, cls, override: bool = False):
        catalogue("explainers", EXPLAINERS, name, cls, override)

    return {"register_backends": register_backends, "register_kernels": register_kernels,
            "register_ops": register_ops, "register_layers": register_layers,
            "register_explainers": register_explainers}[hook]


def _fail(rec: PluginRecord, message: str, exc: BaseException) -> None:
    rec.status = "failed"
    rec.error = message
    if _strict():
        raise PluginError(f"plugin {rec.name!r} ({rec.module}): {message} "
                          f"[COREFW_STRICT_PLUGINS is set]") from exc
    _report(rec)


def _report(rec: PluginRecord) -> None:
    if _strict() and rec.status in ("failed", "refused"):
        raise PluginError(f"plugin {rec.name!r}: {rec.error} [COREFW_STRICT_PLUGINS is set]")
    warnings.warn(f"corefw plugin {rec.name!r} ({rec.module}) {rec.status}: {rec.error}; "
                  f"`corefw plugins` shows details", RuntimeWarning, stacklevel=4)
