"""corefw's plugin system: pluggy hooks found through the ``corefw.plugins`` entry points.

See :mod:`corefw.plugins.hookspecs` for the hooks and docs/plugins.md for a guide.
"""

from __future__ import annotations

from .hookspecs import PLUGIN_API_VERSION, hookimpl, hookspec
from .manager import PluginRecord, load, plugin_records, register_plugin

__all__ = ["PLUGIN_API_VERSION", "PluginRecord", "hookimpl", "hookspec", "load",
           "plugin_records", "register_plugin"]
