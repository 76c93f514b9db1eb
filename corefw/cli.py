"""The ``corefw`` command (also ``python -m corefw``).

``corefw plugins [--json]`` lists every plugin with its distribution, version, status and what it
registers; ``corefw version`` prints the versions; ``corefw demo ...`` runs the training demo
(:func:`corefw.demo.main`); ``corefw run --nproc N script.py`` starts N ranks
(:mod:`corefw.distributed.run`); ``corefw compat script.py`` runs a PyTorch script with
``torch`` resolved to corefw (:mod:`corefw.compat`). The module imports nothing heavy, so
``corefw plugins`` costs one ``import corefw`` plus loading the plugins.

Every subcommand reports a bad input as one line on stderr, ``corefw <command>: error: <what>;
<fix>``, and exits non-zero, without a traceback; ``--debug`` (or ``COREFW_DEBUG=1``) shows the
traceback instead, for bug reports.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Sequence

from ._cli_util import OneLineParser, debug_enabled, run_guarded

__all__ = ["OneLineParser", "debug_enabled", "main", "run_guarded"]


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="corefw", description="corefw: a define-by-run deep-learning framework with "
        "pluggable backends.")
    parser.add_argument("-V", "--version", action="store_true",
                        help="print corefw's version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of errors (also: COREFW_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = sub.add_parser("plugins", help="list installed plugins and their status",
                             description="List every plugin (builtin and installed): "
                             "distribution, version, status and what it registers.")
    plugins.add_argument("--json", action="store_true", help="print the list as JSON")
    sub.add_parser("version", help="print corefw's version and plugin-API version",
                   description="Print the versions of corefw, its plugin API and Python.")
    sub.add_parser("new-plugin", help="write a ready plugin package (run 'corefw new-plugin "
                   "--help')", add_help=False)
    sub.add_parser("run", help="start N ranks of a script with mpiexec (run 'corefw run "
                   "--help')", add_help=False)
    sub.add_parser("compat", help="run a PyTorch script with 'import torch' resolved to corefw "
                   "(run 'corefw compat --help')", add_help=False)
    sub.add_parser("demo", help="train a small model (run 'corefw demo --help' for options)",
                   add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``corefw`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit
    status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = argv[:1] == ["--debug"]
    if debug:
        argv = argv[1:]
    if argv[:1] == ["demo"]:  # the demo parses its own options (and guards itself)
        return _demo(argv[1:] + (["--debug"] if debug else []))
    debug = debug_enabled(debug)
    if argv[:1] == ["run"]:  # the distributed launcher parses its own options
        from .distributed.run import main as run

        return run_guarded("corefw run", lambda: run(argv[1:]), debug)
    if argv[:1] == ["compat"]:  # so does the PyTorch-script runner (the script's own errors
        from .compat.__main__ import main as compat  # print as Python prints them)

        return compat(argv[1:], prog="corefw compat")
    if argv[:1] == ["new-plugin"]:  # so does the plugin-package generator
        from .new_plugin import main as new_plugin

        return run_guarded("corefw new-plugin", lambda: new_plugin(argv[1:]), debug)
    parser = _parser()
    args = parser.parse_args(argv)
    debug = debug_enabled(args.debug or debug)
    if args.version or args.command == "version":
        return run_guarded("corefw version", _version, debug)
    if args.command == "plugins":
        return run_guarded("corefw plugins", lambda: _plugins(as_json=args.json), debug)
    parser.print_help()
    return 0


def _version() -> int:
    from . import __version__
    from .plugins.hookspecs import PLUGIN_API_VERSION

    print(f"corefw {__version__} (plugin API {PLUGIN_API_VERSION}, Python "
          f"{sys.version.split()[0]})")
    return 0


def _plugins(as_json: bool) -> int:
    from .errors import PluginError
    from .plugins import PluginWarning, plugin_records

    try:
        with warnings.catch_warnings():  # the listing shows every failure and refusal
            warnings.simplefilter("ignore", PluginWarning)
            records = plugin_records()
    except PluginError as exc:  # COREFW_STRICT_PLUGINS=1
        print(f"corefw plugins: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps([rec.as_dict() for rec in records], indent=2))
        return 0
    print(_table(records))
    return 0


def _table(records) -> str:
    from . import __version__
    from .plugins.hookspecs import PLUGIN_API_VERSION

    rows = [(rec.name, f"{rec.distribution or '?'} {rec.version or ''}".strip()
             + (" (builtin)" if rec.builtin else ""), rec.detail) for rec in records]
    wide = [max(len(r[i]) for r in rows + [("PLUGIN", "DISTRIBUTION", "")]) for i in (0, 1)]
    lines = [f"corefw {__version__}, plugin API {PLUGIN_API_VERSION}: {len(records)} plugin(s)",
             "", f"{'PLUGIN':<{wide[0]}}  {'DISTRIBUTION':<{wide[1]}}  STATUS"]
    for rec, (name, dist, detail) in zip(records, rows):
        lines.append(f"{name:<{wide[0]}}  {dist:<{wide[1]}}  {detail}")
        reg = rec.registered
        parts = [f"{label}: {_names(reg[key])}" for key, label in
                 (("device_types", "device types"), ("ops", "ops"), ("layers", "layers"),
                  ("explainers", "explainers"), ("process_groups", "process groups"),
                  ("compilers", "compilers")) if reg[key]]
        if reg["kernels"]:
            parts.insert(1, f"kernels: {len(reg['kernels'])}")
        if parts:
            lines.append(f"    registers {'; '.join(parts)}")
        lines.extend(f"    note: {note}" for note in rec.notes)
    return "\n".join(lines)


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" (+{len(names) - most} more; --json lists all)" if len(names) > most
                    else "")


def _demo(argv: list[str]) -> int:
    try:
        demo = importlib.import_module("corefw.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "corefw.demo":
            raise
        print("corefw demo: the training demo (corefw/demo.py) is not in this installation of "
              "corefw yet; update corefw", file=sys.stderr)
        return 1
    return int(demo.main(argv) or 0)
