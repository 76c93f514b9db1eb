"""``python -m corefw``: the same command as ``corefw`` (see :mod:`corefw.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
