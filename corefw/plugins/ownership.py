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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata

__all__ = ["DEVICE_GROUP", "OWNER_VAR", "declared_device_types", "owner_choices", "settle"]

#: The entry-point group in which a distribution declares the device types it provides.
DEVICE_GROUP = "corefw.devices"
#: The environment variable that picks a device type's owner.
OWNER_VAR = "COREFW_DEVICE_OWNER"


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


def owner_choices() -> dict[str, str]:
    """``{device type: chosen distribution or plugin}`` from ``COREFW_DEVICE_OWNER``.

    Raises ValueError for an entry that is not ``TYPE=NAME``.
    """
    raw = os.environ.get(OWNER_VAR, "").strip()
    out = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        dev_type, sep, owner = (s.strip() for s in item.partition("="))
        if not sep or not dev_type or not owner:
            raise ValueError(f"{OWNER_VAR}: expected entries like 'cpu=corefw-cpu' separated "
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
