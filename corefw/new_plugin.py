"""``corefw new-plugin NAME --kind backend|layers|explainer [--output DIR]``: a ready package.

The package (distribution ``corefw-NAME``, import name ``corefw_NAME``) has a pyproject with
the ``corefw.plugins`` entry point (and, for a backend, its ``corefw.devices`` declaration),
the plugin module with its hookimpls, a README, tests and a CI workflow
(``.github/workflows/test.yml``); a backend's tests also run corefw's conformance kit on the
new device type. It installs and
passes its own tests as generated (corefw's test suite checks this for every kind). The
templates are in ``corefw/templates/``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["KINDS", "main", "render"]

KINDS = ("backend", "layers", "explainer")
TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corefw new-plugin",
        description="Write a ready corefw plugin package: pyproject with the entry point, "
                    "hookimpls, README and tests (a backend's tests run the conformance kit).")
    p.add_argument("name", metavar="NAME",
                   help="plugin name, a lowercase identifier such as 'mydev' (for a backend, "
                        "its device type); the package is corefw-NAME, imported as corefw_NAME")
    p.add_argument("--kind", choices=KINDS, required=True, help="what the plugin provides")
    p.add_argument("--output", metavar="DIR", default=None,
                   help="directory to create (default: ./corefw-NAME); must not exist or be "
                        "empty")
    return p


def _variables(name: str) -> dict[str, str]:
    from corefw import __version__
    from corefw.plugins import PLUGIN_API_VERSION

    major, minor = (int(p) for p in __version__.split(".")[:2])
    api = int(PLUGIN_API_VERSION.split(".")[0])
    return {"name": name, "module": f"corefw_{name}", "dist": f"corefw-{name.replace('_', '-')}",
            "title": "".join(p.capitalize() for p in name.split("_")),
            "api": f">={api},<{api + 1}", "corefw": f">={major}.{minor},<{major}.{minor + 1}"}


def _fill(text: str, variables: dict[str, str]) -> str:
    for key, value in variables.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def render(name: str, kind: str, output: str | os.PathLike) -> list[Path]:
    """Write the ``kind`` template for plugin ``name`` into ``output``; returns the files.

    Raises ValueError for a bad name or kind and FileExistsError for a non-empty ``output``.
    """
    if kind not in KINDS:
        raise ValueError(f"new-plugin: --kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for prefix in ("corefw-", "corefw_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = name.replace("-", "_")
    if not _NAME.match(name) or name in ("cpu", "cuda"):
        raise ValueError(f"new-plugin: {name!r} is not a usable plugin name: use a lowercase "
                         f"identifier such as 'mydev' (not cpu or cuda, which corefw's own "
                         f"plugins serve)")
    source = TEMPLATES / kind
    if not source.is_dir():
        raise FileNotFoundError(f"new-plugin: the {kind} template is missing from {source}; "
                                f"reinstall corefw")
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"new-plugin: {out} exists and is not empty; choose another "
                              f"--output")
    variables = _variables(name)
    written = []
    sources = [(source, p) for p in source.rglob("*.tmpl")]
    sources += [(TEMPLATES / "common", p) for p in (TEMPLATES / "common").rglob("*.tmpl")]
    for base, src in sorted(sources, key=lambda bs: str(bs[1])):
        rel = _fill(str(src.relative_to(base))[:-len(".tmpl")], variables)
        if rel.startswith("dot-"):  # hidden directories are not package data: dot-github
            rel = "." + rel[len("dot-"):]
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(_fill(src.read_text(encoding="utf-8"), variables), encoding="utf-8")
        written.append(dst)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``corefw new-plugin``; returns the exit status."""
    args = _parser().parse_args(argv)
    name = args.name
    output = args.output or f"corefw-{name.replace('_', '-').removeprefix('corefw-')}"
    try:
        files = render(name, args.kind, output)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"wrote a corefw {args.kind} plugin in {output}:")
    for path in files:
        print(f"  {path.relative_to(output)}")
    print(f"next: cd {output} && python -m pip install -e \".[test]\" && python -m pytest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
