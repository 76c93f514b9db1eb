"""Who owns a device type: settled from package metadata and the user's choice, never from
the order in which plugins happen to load.

A distribution declares the device types it provides in the ``corefw.devices`` entry-point
group (``cpu = "corefw_cpu"``: the name is the device type, the value the plugin module that
registers it, as in its ``corefw.plugins`` entry point; a blocked plugin's claims lapse).
Once every entry-point plugin has been collected, and before anything is registered,
:func:`settle` decides for each device type that plugins ask to register:

1. ``COREFW_DEVICE_OWNER=cpu=corefw-cpu,mydev=my-plugin`` (a distribution or plugin name per
   device type) picks the owner outright;
2. otherwise the one distribution that declares the device type owns it; if several declare
   it, all of them are refused;
3. otherwise (declared by none) one distribution asking for it owns it; several are all
   refused.

A plugin that asks for a device type it does not own is refused as a whole (it registers
nothing), with a message naming every claimant and the setting that would choose it.
``override=True`` settles nothing here: it only lets a plugin registered at run time by the
user's own code (:func:`corefw.plugins.register_plugin`) replace a device type.

Op, layer and explainer names are settled the same way (:func:`settle_names`), without
declarations: a name that plugins of two or more distributions register (all plainly, or all
with ``override=True``) is refused for all of them, whole plugins, with a message naming every
claimant and the setting that chooses one: ``COREFW_OP_OWNER``, ``COREFW_LAYER_OWNER``,
``COREFW_EXPLAINER_OWNER`` (``NAME=DISTRIBUTION,...``, as ``COREFW_DEVICE_OWNER``). With a
choice, the chosen plugin registers the name and the others load without it (a note in
``corefw plugins`` says so). One distribution's ``override=True`` against others' plain
registrations is not a collision: the override wins, with a warning naming both owners.
Builtin plugins (``corefw.nn``) and the core are not claimants: their names are taken before
any plugin registers (a plain request for one is refused, an override replaces it and warns).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata

__all__ = ["DEVICE_GROUP", "NAME_OWNER_VARS", "OWNER_VAR", "declared_device_types",
           "owner_choices", "settle", "settle_names"]

#: The entry-point group in which a distribution declares the device types it provides.
DEVICE_GROUP = "corefw.devices"
#: The environment variable that picks a device type's owner.
OWNER_VAR = "COREFW_DEVICE_OWNER"
#: The environment variables that pick the owner of an op, layer or explainer name.
NAME_OWNER_VARS = {"ops": "COREFW_OP_OWNER", "layers": "COREFW_LAYER_OWNER",
                   "explainers": "COREFW_EXPLAINER_OWNER"}
_WHAT = {"ops": "op", "layers": "layer", "explainers": "explainer"}


def declared_device_types(records: Iterable | None = None) -> dict[str, list[str]]:
    """``{device type: [distributions declaring it]}`` from installed package metadata.

    With ``records`` (plugin records), a declaration counts only if its value names the
    module of one of them that is not blocked (``COREFW_PLUGINS`` /
    ``COREFW_DISABLE_PLUGINS``): disabling a plugin withdraws its claims.
    """
    live = None if records is None else {
        (r.distribution, r.module) for r in records if r.status != "blocked"}
    out: dict[str, list[str]] = {}
    for ep in metadata.entry_points(group=DEVICE_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.name if dist is not None else "?"
        if live is not None and (name, ep.value) not in live:
            continue
        if name not in out.setdefault(ep.name, []):
            out[ep.name].append(name)
    return {k: v for k, v in out.items() if v}


def owner_choices(var: str = OWNER_VAR) -> dict[str, str]:
    """``{device type (or name): chosen distribution or plugin}`` from ``COREFW_DEVICE_OWNER``
    (or the variable ``var``, e.g. ``COREFW_LAYER_OWNER``).

    Raises ValueError for an entry that is not ``NAME=OWNER``.
    """
    raw = os.environ.get(var, "").strip()
    out = {}
    example = "cpu=corefw-cpu" if var == OWNER_VAR else "NAME=my-distribution"
    for item in filter(None, (p.strip() for p in raw.split(","))):
        dev_type, sep, owner = (s.strip() for s in item.partition("="))
        if not sep or not dev_type or not owner:
            raise ValueError(f"{var}: expected entries like {example!r} separated "
                             f"by commas, got {item!r}")
        out[dev_type] = owner
    return out


def _claims(rec) -> set[str]:
    return {r.name for r in rec.requests if r.kind == "device_types"}


def settle(recs: list, declared: Mapping[str, list[str]], choices: Mapping[str, str],
           describe: Callable[[str], str]) -> dict[str, str]:
    """``{plugin name: why it is refused}`` for the plugins ``recs`` (collected, not yet
    applied) that ask for a device type they do not own. ``describe(plugin name)`` names a
    plugin with its distribution."""
    claimants: dict[str, list] = {}
    for rec in recs:
        for dev_type in _claims(rec):
            claimants.setdefault(dev_type, []).append(rec)
    refused: dict[str, str] = {}
    for dev_type, who in sorted(claimants.items()):
        winners, why = _winners(dev_type, who, declared.get(dev_type, []), choices)
        for rec in who:
            if rec not in winners and rec.name not in refused:
                refused[rec.name] = why(rec, [describe(r.name) for r in who])
    return refused


def _winners(dev_type: str, who: list, declarers: list[str], choices: Mapping[str, str]):
    """The claimants of ``dev_type`` that own it, and ``why(rec, names)`` for the others."""
    pick = f"set {OWNER_VAR}={dev_type}=<distribution> to choose one"
    chosen = choices.get(dev_type)
    if chosen is not None:
        winners = [r for r in who if chosen in (r.distribution, r.name)]
        if winners:
            return winners, lambda rec, names: (
                f"device type {dev_type!r} was given to {chosen!r} by {OWNER_VAR}")
    if len(declarers) == 1:
        owner = declarers[0]
        winners = [r for r in who if r.distribution == owner]
        return winners, lambda rec, names: (
            f"device type {dev_type!r} belongs to {owner}, which declares it in its "
            f"{DEVICE_GROUP!r} entry points; this plugin's distribution does not. To use this "
            f"plugin for {dev_type!r} instead, set {OWNER_VAR}={dev_type}="
            f"{rec.distribution or rec.name}")
    if len(declarers) > 1:
        return [], lambda rec, names: (
            f"device type {dev_type!r} is declared by several distributions "
            f"({', '.join(declarers)}) and registered by {', '.join(names)}; all were "
            f"refused; {pick}")
    dists = {r.distribution or r.name for r in who}
    if len(dists) == 1:
        return who, None
    return [], lambda rec, names: (
        f"device type {dev_type!r} is registered by several distributions "
        f"({', '.join(names)}), none of which declares it in {DEVICE_GROUP!r}; all were "
        f"refused; {pick}")


def settle_names(recs: list, kind: str, choices: Mapping[str, str],
                 describe: Callable[[str], str]) -> tuple[dict[str, str], dict[str, list]]:
    """Settle the ``kind`` names (``"ops"``, ``"layers"``, ``"explainers"``) that plugins of
    several distributions ask for.

    Returns ``(refused, dropped)``: ``refused`` maps a plugin name to why it is refused (a
    collision nobody chose an owner for); ``dropped`` maps a plugin name to ``[(request,
    note)]``, its requests that lost to the user's choice (the plugin loads without them).
    Builtin plugins are never claimants.
    """
    var, what = NAME_OWNER_VARS[kind], _WHAT[kind]
    claims: dict[str, list] = {}
    for rec in recs:
        if rec.builtin:
            continue
        for req in rec.requests:
            if req.kind == kind:
                claims.setdefault(req.name, []).append((rec, req))
    refused: dict[str, str] = {}
    dropped: dict[str, list] = {}
    for name, who in sorted(claims.items()):
        overriders = [(rec, req) for rec, req in who if req.override]
        contenders = overriders or who  # an override beats plain requests (and warns)
        if len({rec.distribution or rec.name for rec, _ in contenders}) < 2:
            continue
        chosen = choices.get(name)
        winners = [rec for rec, _ in who if chosen in (rec.distribution, rec.name)]
        if chosen is not None and winners:
            for rec, req in who:
                if rec not in winners:
                    dropped.setdefault(rec.name, []).append((req, (
                        f"its {what} {name!r} is not registered: {var} gives it to "
                        f"{chosen!r}")))
            continue
        names = ", ".join(describe(rec.name) for rec, _ in contenders)
        how = "with override=True " if overriders else ""
        for rec, _ in contenders:
            refused.setdefault(rec.name, (
                f"{what} {name!r} is registered {how}by plugins of several distributions "
                f"({names}); all were refused, so the outcome does not depend on the order "
                f"in which plugins load; set {var}={name}=<distribution> to choose one (or "
                f"COREFW_DISABLE_PLUGINS=<plugin> to skip one)"))
    return refused, dropped
