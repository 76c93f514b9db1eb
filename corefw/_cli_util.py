"""One-line errors for corefw's commands (``corefw`` and ``corefw demo``): a parser whose usage
errors are one line, and a guard that turns exceptions into one line and an exit status. Kept
apart from :mod:`corefw.cli` so that the demo, a lower layer, can use it too."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

__all__ = ["OneLineParser", "debug_enabled", "run_guarded"]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (what is wrong, and ``--help``),
    exit status 2, as argparse's own but without the multi-line usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def debug_enabled(flag: bool = False) -> bool:
    """``--debug`` was given, or the environment variable ``COREFW_DEBUG`` is set (not 0)."""
    return flag or os.environ.get("COREFW_DEBUG", "") not in ("", "0")


def run_guarded(prog: str, fn: Callable[[], int], debug: bool = False) -> int:
    """Run ``fn()`` and turn any exception into one line on stderr and a non-zero status:
    1 for errors corefw raises on purpose and for OS errors (they say what to fix), 1 with a
    request to report it for anything else, 130 for Ctrl-C. With ``debug`` the exception
    propagates with its traceback."""
    from .errors import CorefwError

    try:
        return int(fn() or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (CorefwError, OSError) as exc:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line, and how to see the traceback
        if debug:
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} (rerun with "
              f"--debug or COREFW_DEBUG=1 for the traceback, and report it)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc) if not isinstance(exc, OSError) or not exc.filename else (
        f"{exc.strerror or exc}: {exc.filename!r}")
    return " ".join(text.split()) or type(exc).__name__
