"""The kit's report: the op x dtype matrix, the checks, and the conformance verdict.

A cell reads ``native``, ``decomposed``, ``fallback`` (how the backend ran the op, when every
case passed), ``failing``, ``missing`` (no kernel, no decomposition, no fallback),
``untested`` (the kit has no case for the op), ``skipped``, ``xfail``, ``xpass``, ``n/a`` (the
op is not defined for the dtype, or the backend does not declare the dtype) or ``not run``.

**Conformant** means: the backend declares float32, and every primitive and every composite
of corefw passes in float32 and in each dtype the backend declares (``native``,
``decomposed``, ``fallback`` or ``xpass``; ``n/a`` where the op is not defined for a dtype),
and every check passes (or cannot apply, such as mixed-device errors with one device type).
Ops registered by other plugins are reported but do not decide the verdict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .cases import ALL_DTYPES
from .runner import CellResult

__all__ = ["KIT_VERSION", "CheckResult", "Report"]

#: Version of the kit's report format and rules.
KIT_VERSION = "1"
_PASSING = ("native", "decomposed", "fallback", "xpass")
_SHORT = {"native": "nat", "decomposed": "dec", "fallback": "fbk", "failing": "FAIL",
          "missing": "MISS", "untested": "UNT", "skipped": "skip", "xfail": "xfl",
          "xpass": "XPS", "n/a": ".", "not run": "?"}
_DT = {"bool": "b", "uint8": "u8", "int8": "i8", "int16": "i16", "int32": "i32",
       "int64": "i64", "float16": "f16", "bfloat16": "bf16",
       "float32": "f32", "float64": "f64"}


@dataclass
class CheckResult:
    """The outcome of a check: ``pass``, ``fail``, ``skip``, ``xfail``, ``xpass`` or ``n/a``."""

    name: str
    status: str
    reason: str = ""


@dataclass
class Report:
    """Everything one run of the kit found about one backend."""

    device_type: str
    backend: dict
    tolerances: dict
    fallback_policy: str = "error"
    ops: list[str] = field(default_factory=list)
    core_ops: set[str] = field(default_factory=set)
    cells: dict[tuple[str, str], CellResult] = field(default_factory=dict)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    check_names: list[str] = field(default_factory=list)
    #: problems outside the matrix (a plugin's case module that failed to import ...)
    notes: list[str] = field(default_factory=list)

    # -- cells ----------------------------------------------------------------------------
    def add(self, cell: CellResult) -> None:
        self.cells[(cell.op, cell.dtype)] = cell

    def label(self, op: str, dtype: str) -> str:
        """The matrix entry for ``op`` in ``dtype``."""
        cell = self.cells.get((op, dtype))
        if cell is None:
            declared = dtype in self.backend.get("dtypes", ())
            return "not run" if declared else "n/a"
        if cell.status == "pass":
            return cell.impl or "native"
        if cell.status == "fail":
            return "missing" if cell.impl == "missing" else "failing"
        return {"skip": "skipped"}.get(cell.status, cell.status)

    def verdict(self) -> tuple[bool, list[str]]:
        """``(conformant, reasons it is not)``."""
        reasons = []
        declared = list(self.backend.get("dtypes", ()))
        if "float32" not in declared:
            reasons.append("the backend does not declare float32")
        wanted = [d for d in ALL_DTYPES if d in set(declared) | {"float32"}]
        for op in self.ops:
            if op not in self.core_ops:
                continue
            bad = [(d, self.label(op, d)) for d in wanted
                   if self.label(op, d) not in _PASSING + ("n/a",)]
            if bad:
                reasons.append(f"{op}: " + ", ".join(f"{d} {lab}" for d, lab in bad))
        for name in self.check_names:
            res = self.checks.get(name)
            if res is None:
                reasons.append(f"check {name}: not run")
            elif res.status not in ("pass", "xpass", "n/a"):
                reasons.append(f"check {name}: {res.status}")
        return not reasons, reasons

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self.ops:
            for d in ALL_DTYPES:
                lab = self.label(op, d)
                out[lab] = out.get(lab, 0) + 1
        return out

    # -- output ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The report as JSON-able data (what ``--corefw-report=PATH.json`` writes)."""
        import corefw
        from corefw.plugins import PLUGIN_API_VERSION

        ok, reasons = self.verdict()
        ops = {}
        for op in self.ops:
            cells = {}
            for d in ALL_DTYPES:
                cell = self.cells.get((op, d))
                entry = {"status": self.label(op, d)}
                if cell is not None and (cell.failures or cell.reason):
                    entry["detail"] = cell.failures or [cell.reason]
                if cell is not None and cell.variants:
                    entry["variants"] = list(cell.variants)
                cells[d] = entry
            impl = next((c.impl for (o, _), c in self.cells.items() if o == op and c.impl),
                        None)
            ops[op] = {"core": op in self.core_ops, "impl": impl, "cells": cells}
        return {
            "kit_version": KIT_VERSION, "corefw_version": corefw.__version__,
            "plugin_api": PLUGIN_API_VERSION, "device_type": self.device_type,
            "backend": self.backend, "fallback_policy": self.fallback_policy,
            "tolerances": {d: {k: list(v) for k, v in t.items()}
                           for d, t in self.tolerances.items()},
            "dtypes": list(ALL_DTYPES), "ops": ops,
            "checks": {n: {"status": self.checks[n].status, "detail": self.checks[n].reason}
                       for n in self.check_names if n in self.checks},
            "notes": list(self.notes),
            "summary": {"conformant": ok, "reasons": reasons, "counts": self.counts()},
        }

    def to_markdown(self) -> str:
        """The matrix as a Markdown table, with the verdict and the checks."""
        ok, reasons = self.verdict()
        b = self.backend
        lines = [f"# corefw conformance: `{self.device_type}` ({b.get('name', '?')})", "",
                 f"**{'Conformant' if ok else 'Not conformant'}** (kit {KIT_VERSION}; "
                 f"declared dtypes: {', '.join(b.get('dtypes', ()))}; capabilities: "
                 f"{', '.join(b.get('capabilities', ())) or 'none'}; fallback policy "
                 f"{self.fallback_policy})", ""]
        lines += [f"- {r}" for r in reasons[:50]]
        lines += ["", "| op | " + " | ".join(ALL_DTYPES) + " |",
                  "|---|" + "---|" * len(ALL_DTYPES)]
        for op in self.ops:
            star = "" if op in self.core_ops else " (plugin)"
            lines.append(f"| `{op}`{star} | " + " | ".join(
                self.label(op, d) for d in ALL_DTYPES) + " |")
        lines += ["", "| check | status | detail |", "|---|---|---|"]
        for n in self.check_names:
            res = self.checks.get(n, CheckResult(n, "not run"))
            lines.append(f"| {n} | {res.status} | {res.reason.replace('|', '/')[:200]} |")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """The matrix for a terminal (short labels; a legend follows)."""
        ok, reasons = self.verdict()
        width = max([len(op) for op in self.ops] + [10]) + 2
        head = "op".ljust(width) + "".join(_DT[d].rjust(6) for d in ALL_DTYPES)
        lines = [f"corefw conformance matrix: device type {self.device_type!r} "
                 f"({self.backend.get('name', '?')})", head, "-" * len(head)]
        for op in self.ops:
            name = op if op in self.core_ops else op + "*"
            lines.append(name.ljust(width) + "".join(
                _SHORT[self.label(op, d)].rjust(6) for d in ALL_DTYPES))
        lines.append("legend: " + ", ".join(f"{v}={k}" for k, v in _SHORT.items())
                     + "; * = op from a plugin (not in the verdict)")
        for n in self.check_names:
            res = self.checks.get(n, CheckResult(n, "not run"))
            lines.append(f"check {n:<14} {res.status}" + (f" ({res.reason})" if res.reason
                                                          else ""))
        lines += [f"note: {n}" for n in self.notes]
        for (op, d), cell in sorted(self.cells.items()):
            if cell.status == "xpass":
                lines.append(f"XPASS {op} {d}: passes although listed as xfail "
                             f"({cell.reason}); remove the line")
        lines.append(("CONFORMANT" if ok else "NOT CONFORMANT") + (
            "" if ok else f": {len(reasons)} problem(s), first: {reasons[0]}"))
        return "\n".join(lines)

    def write(self, path: str | os.PathLike) -> tuple[str, str]:
        """Write the JSON report to ``path`` and the Markdown one beside it (``.md``)."""
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1, sort_keys=False)
            f.write("\n")
        md = os.path.splitext(path)[0] + ".md"
        with open(md, "w", encoding="utf-8") as f:
            f.write(self.to_markdown())
        return path, md
