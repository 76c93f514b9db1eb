"""Finding, checking, isolating and registering plugins.

Entry points of the ``corefw.plugins`` group are listed from package metadata (cheap) and
imported on first need (the first tensor, ``corefw plugins``, :func:`corefw.layers`), never by
``import corefw``. Builtin plugins (:data:`BUILTIN`) go through the same path. For each plugin:

1. import its module (``entry_point.load()``);
2. check its ``COREFW_PLUGIN_API`` against :data:`~corefw.plugins.hookspecs.PLUGIN_API_VERSION`;
3. register it with pluggy, which validates its hook names and signatures;
4. run its hooks with ``register`` callbacks that collect what it registers;
5. once every plugin is collected, register it all (:func:`corefw.plugins.catalogue.apply`).

A plugin that raises in steps 1, 3 or 4, or is refused in step 2, is recorded (``corefw
plugins`` shows why), reported once with a :class:`~corefw.plugins.catalogue.PluginWarning`
and skipped; corefw keeps working. ``COREFW_STRICT_PLUGINS=1`` turns that into a
:class:`~corefw.errors.PluginError`. ``COREFW_PLUGINS=a,b`` loads only the entry points named
``a`` and ``b``; ``COREFW_DISABLE_PLUGINS=c`` blocks ``c``. Neither applies to builtins.

Device types are owned, not first-come: :mod:`corefw.plugins.ownership` settles each one from
the distributions' ``corefw.devices`` declarations and ``COREFW_DEVICE_OWNER`` before anything
is registered, and op, layer and explainer names that two distributions register are refused
for both unless ``COREFW_OP_OWNER`` / ``COREFW_LAYER_OWNER`` / ``COREFW_EXPLAINER_OWNER``
chooses one, so the outcome never depends on the order in which plugins load. A plugin that
takes longer than ``COREFW_PLUGIN_WATCHDOG_S`` seconds (default 5) to load is named on stderr
with the setting that skips it; Ctrl-C while loading leaves nothing half-done, and the next
tensor loads the plugins again.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..errors import PluginError
from . import catalogue, hookspecs, ownership
from .catalogue import EXPLAINERS, KINDS, LAYERS, PluginWarning

__all__ = ["BUILTIN", "EXPLAINERS", "GROUP", "LAYERS", "PluginRecord", "load", "plugin_records",
           "register_plugin", "version_matches"]

#: The entry-point group plugins are listed in.
GROUP = "corefw.plugins"
#: Builtin plugins, name -> module, registered exactly like entry points (pytest's
#: default_plugins, llm's DEFAULT_PLUGINS).
BUILTIN: dict[str, str] = {"corefw.nn": "corefw.nn._plugin",
                           "corefw.compiler": "corefw.compiler._plugin"}
#: Libraries a plugin should not import while loading (noted in ``corefw plugins``).
HEAVY = frozenset({"cupy", "jax", "matplotlib", "numba", "pandas", "scipy", "sklearn",
                   "tensorflow", "torch", "triton"})
#: Statuses a plugin may have once loading is done.
STATUSES = ("loaded", "unavailable", "failed", "refused", "blocked")


@dataclass
class PluginRecord:
    """What ``corefw plugins`` shows about one plugin.

    ``status`` is ``loaded``; ``unavailable`` (loaded, but a backend it serves cannot run
    here: ``reason`` says why); ``failed`` (raised at import or registration: ``error``);
    ``refused`` (unsupported plugin-API version, its entry-point name is taken, a device type
    it does not own, an op, layer or explainer name another distribution also registers, or a
    backend lacking protocol members: ``error``);
    or ``blocked`` (by ``COREFW_PLUGINS`` / ``COREFW_DISABLE_PLUGINS``: ``reason``).
    """

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "pending"
    error: str | None = None
    reason: str | None = None
    api: str | None = None
    builtin: bool = False
    load_ms: float = 0.0
    registered: dict[str, list[str]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS.values()})
    notes: list[str] = field(default_factory=list)
    requests: list = field(default_factory=list, repr=False)

    @property
    def detail(self) -> str:
        """The status with its error or reason, e.g. ``"unavailable: no GPU"``."""
        why = self.error or self.reason
        return f"{self.status}: {why}" if why else self.status

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the format of ``corefw plugins --json``)."""
        reg = self.registered
        return {"name": self.name, "module": self.module, "distribution": self.distribution,
                "version": self.version, "builtin": self.builtin, "status": self.status,
                "error": self.error, "reason": self.reason, "plugin_api": self.api,
                "load_ms": round(self.load_ms, 2),
                "registers": {"device_types": list(reg["device_types"]),
                              "kernels": len(reg["kernels"]),
                              "kernel_names": list(reg["kernels"]), "ops": list(reg["ops"]),
                              "layers": list(reg["layers"]),
                              "explainers": list(reg["explainers"]),
                              "process_groups": list(reg["process_groups"]),
                              "compilers": list(reg["compilers"])},
                "notes": list(self.notes)}


_records: dict[str, PluginRecord] = {}
_pm = pluggy.PluginManager("corefw")
_pm.add_hookspecs(hookspecs)
_lock = threading.RLock()
_state: dict[str, Any] = {"loaded": False, "loading": False, "fatal": None}


def load() -> None:
    """Import and register every plugin, once (thread-safe; a nested call returns at once).

    Interrupted (Ctrl-C), it forgets the attempt, so the next call loads again. After a
    strict-mode failure (``COREFW_STRICT_PLUGINS``) every later call raises that failure
    again, so the error a user sees names the plugin, not a missing backend.
    """
    if not _state["loaded"]:
        with _lock:  # other threads wait here until loading is done
            if not (_state["loaded"] or _state["loading"]):
                _load_once()
    if _state["fatal"] is not None:
        raise PluginError(f"{_state['fatal']} (plugins were not loaded because of it; fix or "
                          f"disable that plugin and restart)")


def _load_once() -> None:
    _state["loading"] = True
    try:
        _load_all()
    except PluginError as exc:  # strict mode: fatal, and remembered
        _state["fatal"], _state["loaded"] = str(exc), True
        raise
    except BaseException:  # KeyboardInterrupt...: forget the attempt so a retry works
        _forget_attempt()
        raise
    else:
        _state["loaded"] = True
    finally:
        _state["loading"] = False


def _forget_attempt() -> None:
    """Undo an interrupted load: no records, no pluggy registrations (what was already
    registered belongs to the same plugin names, which may register it again)."""
    for plugin in list(_pm.get_plugins()):
        _pm.unregister(plugin)
    _records.clear()


def plugin_records() -> list[PluginRecord]:
    """Every known plugin with its current status (loads plugins first if needed)."""
    load()
    for rec in _records.values():
        _refresh(rec)
    return list(_records.values())


def register_plugin(plugin: Any, name: str | None = None) -> PluginRecord:
    """Register a plugin object (a module, class or instance with ``@hookimpl`` hooks and
    ``COREFW_PLUGIN_API``) at run time, with the same checks as an entry point.

    Used by tests, notebooks and docs. Returns its record; a failure is reported like an
    entry point's (and is fatal under ``COREFW_STRICT_PLUGINS=1``).
    """
    load()
    name = name or getattr(plugin, "__name__", None)
    if not isinstance(name, str):
        raise TypeError("register_plugin: pass name= for a plugin object without __name__")
    with _lock:
        if name in _records:
            raise PluginError(f"register_plugin: a plugin named {name!r} is already registered "
                              f"({_records[name].detail}); choose another name")
        rec = PluginRecord(name=name, module=getattr(plugin, "__name__", type(plugin).__name__),
                           distribution="(registered at run time)")
        _records[name] = rec
        if _prepare(rec, lambda: plugin):
            catalogue.apply([rec], _records, _fail)
            if rec.status == "pending":
                rec.status = "loaded"
        _refresh(rec)
    return rec


# -- loading ----------------------------------------------------------------------------------
def _load_all() -> None:
    only, blocked = _env_list("COREFW_PLUGINS"), _env_list("COREFW_DISABLE_PLUGINS")
    todo = []
    for name, module in BUILTIN.items():
        rec = PluginRecord(name=name, module=module, distribution="corefw",
                           version=_corefw_version(), builtin=True)
        _records[name] = rec
        todo.append((rec, lambda m=module: importlib.import_module(m)))
    found = set()
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        rec = PluginRecord(name=ep.name, module=ep.value,
                           distribution=dist.name if dist is not None else None,
                           version=dist.version if dist is not None else None)
        found.add(ep.name)
        if ep.name in _records:
            first = catalogue.describe(ep.name, _records)
            rec.name = f"{ep.name} [{rec.distribution}]"
            _records[rec.name] = rec
            _refuse(rec, f"its entry-point name {ep.name!r} is already used by plugin {first}; "
                         f"one of the two distributions must rename its entry point")
            continue
        _records[ep.name] = rec
        if only is not None and ep.name not in only:
            rec.status, rec.reason = "blocked", "not listed in COREFW_PLUGINS"
        elif blocked and ep.name in blocked:
            rec.status, rec.reason = "blocked", "listed in COREFW_DISABLE_PLUGINS"
        else:
            todo.append((rec, ep.load))
    for var, names in (("COREFW_PLUGINS", only), ("COREFW_DISABLE_PLUGINS", blocked)):
        unknown = sorted((names or set()) - found)
        if unknown:
            warnings.warn(f"corefw: {var} names {', '.join(map(repr, unknown))}, but no "
                          f"installed plugin has that entry-point name (installed: "
                          f"{', '.join(sorted(found)) or 'none'})", PluginWarning, stacklevel=4)
    ready = [rec for rec, importer in todo if _prepare(rec, importer)]
    ready = _settle_device_types(ready)
    ready = _settle_names(ready)
    catalogue.apply(ready, _records, _fail)
    for rec in ready:
        if rec.status == "pending":
            rec.status = "loaded"


def _settle_device_types(ready: list[PluginRecord]) -> list[PluginRecord]:
    """Refuse the plugins that ask for a device type they do not own (module ownership)."""
    try:
        choices = ownership.owner_choices()
    except ValueError as exc:
        warnings.warn(f"corefw: {exc}; the setting is ignored", PluginWarning, stacklevel=5)
        choices = {}
    claimed = {r.name for rec in ready for r in rec.requests if r.kind == "device_types"}
    for dev_type in sorted(set(choices) - claimed):
        warnings.warn(f"corefw: {ownership.OWNER_VAR} gives device type {dev_type!r} to "
                      f"{choices[dev_type]!r}, but no loaded plugin registers that device "
                      f"type", PluginWarning, stacklevel=5)
    declared = ownership.declared_device_types(_records.values())
    refused = ownership.settle(ready, declared, choices,
                               lambda name: catalogue.describe(name, _records))
    for rec in ready:
        if rec.name in refused:
            rec.requests = []
            _unregister(rec.name)
            _refuse(rec, refused[rec.name])
    return [rec for rec in ready if rec.name not in refused]


def _settle_names(ready: list[PluginRecord]) -> list[PluginRecord]:
    """Refuse the plugins whose op, layer or explainer names collide with another
    distribution's (unless the user chose an owner): :func:`ownership.settle_names`."""
    for kind, var in ownership.NAME_OWNER_VARS.items():
        try:
            choices = ownership.owner_choices(var)
        except ValueError as exc:
            warnings.warn(f"corefw: {exc}; the setting is ignored", PluginWarning, stacklevel=5)
            choices = {}
        asked = {r.name for rec in ready for r in rec.requests if r.kind == kind}
        for name in sorted(set(choices) - asked):
            warnings.warn(f"corefw: {var} gives {kind[:-1]} {name!r} to {choices[name]!r}, "
                          f"but no loaded plugin registers that name", PluginWarning,
                          stacklevel=5)
        refused, dropped = ownership.settle_names(
            ready, kind, choices, lambda name: catalogue.describe(name, _records))
        for rec in ready:
            for req, note in dropped.get(rec.name, ()):
                rec.requests.remove(req)
                rec.notes.append(note)
            if rec.name in refused:
                rec.requests = []
                _unregister(rec.name)
                _refuse(rec, refused[rec.name])
        ready = [rec for rec in ready if rec.name not in refused]
    return ready


def _unregister(name: str) -> None:
    plugin = _pm.get_plugin(name)
    if plugin is not None:
        _pm.unregister(plugin)


def _watchdog(rec: PluginRecord) -> threading.Timer | None:
    """A timer that names ``rec`` on stderr if loading it takes too long (it is not killed)."""
    try:
        delay = float(os.environ.get("COREFW_PLUGIN_WATCHDOG_S", "5"))
    except ValueError:
        delay = 5.0
    if delay <= 0:
        return None
    skip = ("COREFW_DISABLE_PLUGINS" if not rec.builtin else "a fix of corefw")

    def bark() -> None:
        print(f"corefw: still loading plugin {rec.name!r} (module {rec.module!r}, "
              f"distribution {rec.distribution or 'unknown'}) after {delay:g} s; if it hangs, "
              f"interrupt with Ctrl-C and run with {skip}={rec.name} to skip it",
              file=sys.stderr, flush=True)

    timer = threading.Timer(delay, bark)
    timer.daemon = True
    timer.start()
    return timer


def _prepare(rec: PluginRecord, importer) -> bool:
    """Steps 1-4 for one plugin; False (and the record says why) if it cannot be used."""
    before = set(sys.modules)
    start = time.perf_counter()
    timer = _watchdog(rec)
    try:
        try:
            plugin = importer()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - isolation is the point
            _fail(rec, f"import failed: {type(exc).__name__}: {exc}", exc)
            return False
        return _check_api(rec, plugin) and _pluggy_register(rec, plugin) and \
            _collect(rec, plugin)
    finally:
        if timer is not None:
            timer.cancel()
        rec.load_ms = (time.perf_counter() - start) * 1e3
        heavy = sorted({m.partition(".")[0] for m in set(sys.modules) - before} & HEAVY)
        if heavy:
            rec.notes.append(f"imported {', '.join(heavy)} while loading; import heavy "
                             f"libraries on first use instead (docs/plugins.md)")


def _check_api(rec: PluginRecord, plugin: Any) -> bool:
    spec = getattr(plugin, "COREFW_PLUGIN_API", None)
    have = hookspecs.PLUGIN_API_VERSION
    if spec is None:
        _refuse(rec, f"it declares no COREFW_PLUGIN_API; this corefw provides plugin API "
                     f"{have} (add COREFW_PLUGIN_API = '>=1,<2' to the plugin module)")
        return False
    rec.api = str(spec)
    try:
        ok = version_matches(have, rec.api)
    except ValueError as exc:
        _refuse(rec, f"its COREFW_PLUGIN_API {rec.api!r} cannot be parsed ({exc}); this "
                     f"corefw provides plugin API {have}")
        return False
    if not ok:
        _refuse(rec, f"it was built for plugin API {rec.api!r}, but this corefw "
                     f"{_corefw_version()} provides plugin API {have}; install a release of "
                     f"the plugin that supports plugin API {have.split('.')[0]}.x, or a "
                     f"corefw that provides {rec.api!r}")
    return ok


def _pluggy_register(rec: PluginRecord, plugin: Any) -> bool:
    try:
        _pm.register(plugin, name=rec.name)
    except Exception as exc:  # noqa: BLE001 - pluggy's PluginValidationError and ValueError
        _fail(rec, f"invalid hooks: {exc}", exc)
        return False
    unknown = sorted(hc.name for hc in (_pm.get_hookcallers(plugin) or ()) if hc.spec is None)
    if unknown:
        _pm.unregister(plugin)
        _fail(rec, f"implements unknown hook(s) {', '.join(unknown)}; corefw's hooks are "
                   f"{', '.join(hookspecs.HOOK_ORDER)}", None)
        return False
    return True


def _collect(rec: PluginRecord, plugin: Any) -> bool:
    """Run the plugin's hooks through pluggy, this plugin's implementations only."""
    others = [p for p in _pm.get_plugins() if p is not plugin]
    for hook in hookspecs.HOOK_ORDER:
        caller = _pm.subset_hook_caller(hook, remove_plugins=others)
        if not caller.get_hookimpls():
            continue
        try:
            caller(register=catalogue.collector(rec, hook))
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            rec.requests = []
            _pm.unregister(plugin)
            if isinstance(exc, catalogue.Refusal):
                _refuse(rec, f"{hook}: {exc}")
            else:
                _fail(rec, f"{hook} failed: {type(exc).__name__}: {exc}", exc)
            return False
    return True


def _refresh(rec: PluginRecord) -> None:
    """Set ``unavailable`` (with the reason) for a loaded plugin whose backend cannot run."""
    if rec.status not in ("loaded", "unavailable"):
        return
    from .. import dispatch

    reasons = []
    for dev_type in rec.registered["device_types"]:
        backend = dispatch.BACKENDS.get(dev_type)
        if backend is None or catalogue.OWNERS.get(("device_types", dev_type)) != rec.name:
            continue
        try:
            why = None if backend.is_available() else (backend.unavailable_reason() or
                                                       "no reason given")
        except Exception as exc:  # noqa: BLE001 - a broken check must not break the listing
            why = f"is_available() raised {type(exc).__name__}: {exc}"
        if why is not None:
            reasons.append(why if len(rec.registered["device_types"]) == 1 else
                           f"{dev_type}: {why}")
    rec.status = "unavailable" if reasons else "loaded"
    rec.reason = "; ".join(reasons) or None


# -- reporting --------------------------------------------------------------------------------
_strict = catalogue.strict


def _fail(rec: PluginRecord, message: str, exc: BaseException | None) -> None:
    rec.status, rec.error = "failed", message
    _report(rec, exc)


def _refuse(rec: PluginRecord, message: str) -> None:
    rec.status, rec.error = "refused", message
    _report(rec, None)


def _report(rec: PluginRecord, exc: BaseException | None) -> None:
    who = f"plugin {catalogue.describe(rec.name, _records)} from module {rec.module!r}"
    if _strict():
        raise PluginError(f"corefw: {who} {rec.status}: {rec.error} "
                          f"[fatal because COREFW_STRICT_PLUGINS is set]") from exc
    warnings.warn(f"corefw: {who} {rec.status}: {rec.error}. corefw works without it; "
                  f"`corefw plugins` lists every plugin's status (COREFW_STRICT_PLUGINS=1 makes "
                  f"this an error)", PluginWarning, stacklevel=2)


# -- helpers ----------------------------------------------------------------------------------
def _env_list(name: str) -> set[str] | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _corefw_version() -> str:
    from .._version import __version__

    return __version__


def version_matches(version: str, spec: str) -> bool:
    """Whether ``version`` (``"1.0"``) satisfies ``spec``, a PEP 440 specifier set
    (``">=1,<2"``, ``"==1.*"``, ``"~=1.0"``) or a bare ``"1"`` meaning ``"==1.*"``.

    Raises ValueError (packaging's ``InvalidSpecifier``) if ``spec`` cannot be parsed.
    """
    text = str(spec).strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)*", text):  # a bare version: that release series
        text = f"=={text}.*"
    if any(not clause.strip() for clause in text.split(",")):
        raise InvalidSpecifier(f"empty clause in {spec!r}")
    return SpecifierSet(text).contains(Version(version), prereleases=True)


from .. import dispatch as _dispatch  # noqa: E402 - the kernel tables load plugins through us

_dispatch.set_plugin_loader(load)
