"""One run of the conformance kit on one backend: what to run, running it, the report.

:class:`Kit` is shared by the pytest plugin (one test per op and dtype, one per check) and by
:func:`run_conformance` (everything in-process, no pytest needed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping

from .cases import ALL_DTYPES, CASES, NotApplicable, cases_for
from .checks import CHECKS
from .expectations import load_expectations, lookup
from .report import CheckResult, Report
from .runner import CellResult, all_ops, make_context, run_cell

__all__ = ["Kit", "run_conformance"]


class Kit:
    """The kit bound to backend ``device_type``.

    ``skips``: path of a skips/xfails file (see :mod:`corefw.testing.expectations`) or an
    already parsed mapping. ``tolerances``: per-dtype overrides. ``fallback_policy``: the
    policy to run under (``"error"``, ``"warn"``, ``"cpu"``; None keeps the current one).
    ``ops``/``dtypes``: restrict the run (the verdict then reports the rest as not run).
    """

    def __init__(self, device_type: str, *, skips: str | os.PathLike | Mapping | None = None,
                 tolerances: Mapping | None = None, fallback_policy: str | None = None,
                 ops: Iterable[str] | None = None, dtypes: Iterable[str] | None = None) -> None:
        import corefw

        if fallback_policy is not None:
            corefw.set_fallback_policy(fallback_policy)
        expectations = skips if isinstance(skips, Mapping) else load_expectations(skips)
        self.ctx = make_context(device_type, tolerances=tolerances, expectations=expectations)
        cases_for("add")  # loads the built-in case table
        from corefw.ops import OPS, PRIMITIVES

        everything = all_ops()
        extra = sorted(set(CASES) - set(everything))
        self.ops = everything + extra
        self.core_ops = {op for op in self.ops if op in PRIMITIVES or (
            op in OPS and OPS[op].owner == "corefw") or (op not in OPS and _builtin_case(op))}
        if ops is not None:
            wanted = set(ops)
            unknown = wanted - set(self.ops)
            if unknown:
                raise ValueError(f"corefw.testing: unknown op(s) {sorted(unknown)}")
        self.selected_ops = [op for op in self.ops if ops is None or op in set(ops)]
        self.selected_dtypes = [d for d in ALL_DTYPES if dtypes is None or d in set(dtypes)]
        b = self.ctx.backend
        self.report = Report(
            device_type, {
                "name": getattr(b, "name", "?"), "class": f"{type(b).__module__}."
                f"{type(b).__qualname__}", "dtypes": [d for d in ALL_DTYPES if d in
                                                      self.ctx.dtypes],
                "capabilities": sorted(self.ctx.capabilities),
                "op_groups": None if self.ctx.op_groups is None else sorted(
                    self.ctx.op_groups), "distribution": _distribution(b)},
            self.ctx.tolerances, corefw.get_fallback_policy(), list(self.ops),
            set(self.core_ops), check_names=list(CHECKS))
        self.expectations = expectations
        from .cases import CASE_ERRORS

        self.report.notes += [f"conformance cases {name!r} failed to import: {err}"
                              for name, err in sorted(CASE_ERRORS.items())]
        for op in self.selected_ops:  # dtypes no case defines the op for
            covered = {d for c in cases_for(op) for d in c.dtypes()}
            for d in ALL_DTYPES:
                if covered and d not in covered:
                    self.report.add(CellResult(op, d, "n/a", reason=f"not defined for {d}"))

    # -- what to run ----------------------------------------------------------------------
    def cells(self) -> list[tuple[str, str]]:
        """``(op, dtype)`` pairs worth a test: declared dtypes a case covers; one per op
        without a case (it fails for a core op: the kit never passes an op silently)."""
        out = []
        for op in self.selected_ops:
            cases = cases_for(op)
            if not cases:
                out.append((op, "*"))
                continue
            covered = {d for c in cases for d in c.dtypes()}
            out += [(op, d) for d in self.selected_dtypes if d in covered and
                    d in self.ctx.dtypes]
        return out

    # -- running --------------------------------------------------------------------------
    def run_cell(self, op: str, dtype: str) -> CellResult:
        """Run (or skip, per the expectations) ``op`` in ``dtype`` and record the result."""
        if dtype == "*":
            cell = CellResult(op, "*", "untested", reason=f"the kit has no case for {op!r}")
            for d in ALL_DTYPES:
                if d in self.ctx.dtypes:
                    self.report.add(CellResult(op, d, "untested", reason=cell.reason))
            return cell
        exp = lookup(self.expectations, op, dtype)
        if exp is not None and exp.action == "skip":
            cell = CellResult(op, dtype, "skip", reason=f"skips file: {exp.reason}")
        else:
            cell = run_cell(self.ctx, op, dtype)
            if exp is not None and cell.status in ("pass", "fail"):
                cell.status = "xpass" if cell.status == "pass" else "xfail"
                cell.reason = exp.reason
        self.report.add(cell)
        return cell

    def run_check(self, name: str) -> CheckResult:
        """Run check ``name`` (see :mod:`corefw.testing.checks`) and record the result."""
        exp = lookup(self.expectations, name)
        if exp is not None and exp.action == "skip":
            res = CheckResult(name, "skip", f"skips file: {exp.reason}")
        else:
            try:
                with _rng_restored():
                    CHECKS[name](self.ctx)
            except NotApplicable as why:
                res = CheckResult(name, "n/a", str(why))
            except AssertionError as exc:
                res = CheckResult(name, "fail", str(exc))
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                res = CheckResult(name, "fail", f"{type(exc).__name__}: {exc}")
            else:
                res = CheckResult(name, "pass")
            if exp is not None and res.status in ("pass", "fail"):
                res = CheckResult(name, "xpass" if res.status == "pass" else "xfail",
                                  exp.reason if res.status == "pass" else res.reason)
        self.report.checks[name] = res
        return res

    def run_all(self) -> Report:
        """Every cell and every check; returns the report."""
        for op, dtype in self.cells():
            self.run_cell(op, dtype)
        for name in CHECKS:
            self.run_check(name)
        return self.report


@contextlib.contextmanager
def _rng_restored():
    """Checks reseed the streams; give the user's state back afterwards."""
    import corefw

    state = corefw.get_rng_state()
    try:
        yield
    finally:
        corefw.set_rng_state(state)


def _builtin_case(op: str) -> bool:
    return any(c.make.__module__.startswith("corefw.testing.") for c in CASES.get(op, ()))


def _distribution(backend) -> str | None:
    from importlib import metadata

    top = type(backend).__module__.split(".")[0]
    try:
        dists = metadata.packages_distributions().get(top)
    except Exception:  # noqa: BLE001 - informational only
        return None
    if not dists:
        return None
    try:
        return f"{dists[0]} {metadata.version(dists[0])}"
    except metadata.PackageNotFoundError:
        return dists[0]


def run_conformance(device_type: str, *, skips=None, tolerances: Mapping | None = None,
                    fallback_policy: str | None = None, ops: Iterable[str] | None = None,
                    dtypes: Iterable[str] | None = None, report: str | None = None) -> Report:
    """Run the whole kit on backend ``device_type`` in this process and return the report.

    ``report``: also write it as JSON there (and as Markdown beside it). The fallback policy
    in force before the call is restored afterwards.

    >>> from corefw.testing import run_conformance
    >>> rep = run_conformance("cpu", ops=["add"], dtypes=["float32"])
    >>> rep.label("add", "float32")
    'native'
    """
    import corefw

    before = corefw.get_fallback_policy()
    try:
        kit = Kit(device_type, skips=skips, tolerances=tolerances,
                  fallback_policy=fallback_policy, ops=ops, dtypes=dtypes)
        rep = kit.run_all()
    finally:
        corefw.set_fallback_policy(before)
    if report:
        rep.write(report)
    return rep
