"""The skips/xfails file: known gaps of a backend, one line each, with the reason.

Format (``#`` starts a comment; fields are separated by whitespace, the reason is the rest of
the line and is required)::

    # op or check   dtype or *   skip|xfail   reason
    matmul          float16      xfail        accumulates in float16; see issue 12
    seeding         *            skip         this device has no random number generator

A ``skip`` line does not run the test; an ``xfail`` line runs it and reports XFAIL when it
fails and XPASS when it passes (then the line can go). Either way the cell does not count as
passing, so a backend with such lines in a declared dtype is not conformant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Expectation", "load_expectations", "lookup", "parse_expectations"]

_ACTIONS = ("skip", "xfail")


@dataclass(frozen=True)
class Expectation:
    """One line of the file."""

    name: str
    dtype: str
    action: str
    reason: str
    line: int = 0


def parse_expectations(text: str, source: str = "<string>") -> dict[tuple[str, str],
                                                                     Expectation]:
    """Parse the file's text into ``{(name, dtype or "*"): Expectation}``.

    Raises ValueError naming the file and line for a malformed line (unknown action, missing
    reason, a repeated entry).
    """
    out: dict[tuple[str, str], Expectation] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 3)
        if len(parts) < 4 or not parts[3].strip():
            raise ValueError(f"{source}:{n}: expected 'NAME DTYPE skip|xfail REASON', got "
                             f"{raw.strip()!r} (every line needs a reason)")
        name, dtype, action, reason = parts
        if action not in _ACTIONS:
            raise ValueError(f"{source}:{n}: action must be 'skip' or 'xfail', got {action!r}")
        if (name, dtype) in out:
            raise ValueError(f"{source}:{n}: {name} {dtype} is listed twice (first on line "
                             f"{out[(name, dtype)].line})")
        out[(name, dtype)] = Expectation(name, dtype, action, reason.strip(), n)
    return out


def load_expectations(path: str | os.PathLike | None) -> dict[tuple[str, str], Expectation]:
    """Read a skips/xfails file (None or "" gives no expectations)."""
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return parse_expectations(f.read(), str(path))


def lookup(expectations, name: str, dtype: str = "*") -> Expectation | None:
    """The expectation for ``name`` in ``dtype``, else for ``name`` in every dtype."""
    return expectations.get((name, dtype)) or expectations.get((name, "*"))
