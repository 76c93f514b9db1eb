"""``python -m corefw.compat [--device D] SCRIPT [ARGS...]`` (also ``corefw compat ...``).

Runs SCRIPT as ``python SCRIPT ARGS`` would, with ``import torch`` resolved to corefw. An
exception from the script prints Python's usual traceback, starting at the script's own frame
(the runner's frames are left out), and exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from .._cli_util import OneLineParser
from . import DEVICE_ENV, TorchCompatError, run_path

__all__ = ["main"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog, description="Run a PyTorch script with 'import torch' resolved to corefw "
        "(see docs/compat.md).")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help=f"default device for new tensors, e.g. cuda (also: {DEVICE_ENV})")
    parser.add_argument("script", help="the PyTorch script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    return parser


def _internal(filename: str) -> bool:
    """A frame of the runner itself or of runpy: not shown in the script's traceback."""
    if filename in ("<frozen runpy>", "<frozen contextlib>"):
        return True
    return os.path.dirname(os.path.abspath(filename)) == _HERE or (
        os.path.basename(filename) in ("runpy.py", "contextlib.py"))


def main(argv: Sequence[str] | None = None, prog: str = "python -m corefw.compat") -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the script; returns the exit status."""
    args = _parser(prog).parse_args(sys.argv[1:] if argv is None else list(argv))
    if not os.path.isfile(args.script):
        print(f"{prog}: error: no such script: {args.script!r}", file=sys.stderr)
        return 2
    try:
        run_path(args.script, args.args, device=args.device)
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the script's error, shown as Python shows it
        tb = exc.__traceback__
        while tb is not None and _internal(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        if exc.__cause__ is not None and isinstance(exc, TorchCompatError):
            exc.__suppress_context__ = True  # the translated error says it all
            exc.__cause__ = None
        traceback.print_exception(type(exc), exc, tb)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
