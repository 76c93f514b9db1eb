"""An inert pytest entry point that loads the kit only when the command line asks for it.

pytest reads a ``--pyargs`` package's ``conftest.py`` only after it has parsed the command
line, too late for ``--corefw-backend``; so ``python -m pytest --pyargs
corefw.testing.conformance --corefw-backend=NAME`` needs the kit's options registered first.
This module (the ``pytest11`` entry point ``corefw-conformance``) does nothing in any other
run: it defines no options, fixtures or hooks beyond this check, so unrelated pytest runs never
see the kit. ``-p corefw.testing.plugin`` does the same by hand (for example under
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``).
"""

from __future__ import annotations


def wants_kit(args) -> bool:
    """Whether a pytest command line names the conformance kit."""
    return any(str(a).startswith("--corefw-") or "corefw.testing.conformance" in str(a)
               for a in args)


def pytest_load_initial_conftests(early_config, parser, args) -> None:
    if wants_kit(args) and not early_config.pluginmanager.has_plugin("corefw.testing.plugin"):
        early_config.pluginmanager.import_plugin("corefw.testing.plugin")
