"""A test kit for compiler plugins: compile every case of the op table and compare with eager.

A compiler (``corefw.compile(fn, backend=...)``: a registered name or a callable
``compiler(graph) -> run``) must give eager's results. :func:`check_compiler` compiles each
applicable case of :data:`corefw.testing.CASES` as its own function, calls it three times
(the capturing call, then two replays, each after ``corefw.manual_seed`` so random ops draw
as eager does), and compares every result with eager's, forward and, for float dtypes of
cases with differentiable inputs, backward (``corefw.autograd.grad`` of each output's sum).
Shapes and dtypes must match; values bit for bit by default (the same kernels ran) or within
``rtol``/``atol`` (a fusing compiler; integers and bools stay exact)::

    from corefw.testing import check_compiler

    report = check_compiler("my_compiler", rtol=1e-6, atol=1e-7)
    assert report.replayed > 0.9 * report.checked

Model: Chainer's ``FunctionTestCase`` and autograd's ``check_grads``, for compilers. See
docs/compile.md, "Testing a compiler".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import corefw
from corefw.compiler import CompileWarning, Graph

from . import runner
from ._comparison import assert_close
from .cases import CASES, NotApplicable, OpCase, cases_for

__all__ = ["CompilerFailure", "CompilerReport", "check_compiler"]

#: How many failures the AssertionError of :func:`check_compiler` lists.
MAX_LISTED = 20
_SEED = 7


@dataclass(frozen=True)
class CompilerFailure:
    """One case whose compiled results differ from eager (or that raised).

    ``stage``: ``"forward"``, ``"backward"``, ``"compiled call"`` (the compiled function
    raised) or ``"eager call"`` (the case itself raised eagerly).
    """

    op: str
    case: str
    variant: str
    dtype: str
    backend: str
    stage: str
    message: str

    def __str__(self) -> str:
        name = self.op if self.case == self.op else f"{self.op} ({self.case})"
        return f"{name} [{self.variant}, {self.dtype}, {self.backend}] {self.stage}: " \
               f"{self.message}"


@dataclass
class CompilerReport:
    """What :func:`check_compiler` did.

    ``checked``: cases run; ``replayed``: those captured and replayed (not run eagerly by
    ``corefw.compile``, e.g. after a refused capture); ``backward``: those whose gradients
    were compared; ``graphs``: graphs handed to the compiler (forward and backward);
    ``failures``: every case that differs from eager.
    """

    backend: str
    device: str
    checked: int = 0
    replayed: int = 0
    backward: int = 0
    graphs: int = 0
    failures: list[CompilerFailure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No failures."""
        return not self.failures

    def summary(self) -> str:
        """One line: the counts."""
        return (f"check_compiler({self.backend!r}, device={self.device!r}): {self.checked} "
                f"cases checked, {self.replayed} replayed, {self.backward} with backward, "
                f"{self.graphs} graphs compiled, {len(self.failures)} failed")

    def __str__(self) -> str:
        lines = [self.summary()] + [f"  {f}" for f in self.failures[:MAX_LISTED]]
        if len(self.failures) > MAX_LISTED:
            lines.append(f"  ... and {len(self.failures) - MAX_LISTED} more")
        return "\n".join(lines)


def _outputs(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _mismatch(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    """None when ``got`` matches eager's ``want``, else why."""
    if not isinstance(want, corefw.Tensor):  # a Python value the function returned
        same = np.array_equal(got, want) if isinstance(want, np.ndarray) else got == want
        return None if isinstance(same, (bool, np.bool_)) and same else \
            f"got {got!r}, eager gave {want!r}"
    if not isinstance(got, corefw.Tensor):
        return f"got a {type(got).__name__}, eager gave a Tensor"
    g, w = got.detach().cpu().numpy(), want.detach().cpu().numpy()
    if g.dtype != w.dtype or g.shape != w.shape:
        return f"got {g.dtype} {g.shape}, eager gave {w.dtype} {w.shape}"
    if w.dtype.kind == "V":  # bfloat16 (ml_dtypes): float32 holds every value exactly
        g, w = g.astype(np.float32), w.astype(np.float32)
    floating = w.dtype.kind in "fc"
    if rtol == 0 and atol == 0 or not floating:
        same = (g == w) | (np.isnan(g) & np.isnan(w)) if floating else g == w
        if same.all():
            return None
        bad = np.argwhere(~same)
        at = tuple(int(i) for i in bad[0])
        return (f"{len(bad)} of {w.size} values differ (exact comparison); at {at}: got "
                f"{g[at]!r}, eager {w[at]!r}")
    try:
        assert_close(got.detach(), want.detach(), rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError as exc:
        return " ".join(str(exc).split())
    return None


def _grads(outs: list, leaves: list, retain_graph: bool) -> list:
    diff = [o for o in outs if isinstance(o, corefw.Tensor) and o.requires_grad]
    if not diff:
        return []
    # retain: the views made of the leaves (noncontig, strided) are shared by both graphs
    return list(corefw.autograd.grad([o.sum() for o in diff], leaves, allow_unused=True,
                                     retain_graph=retain_graph))


def _check_case(backend: str | Callable, name: str, ctx: runner.Context, case: OpCase,
                variant: str, dtype: str, rtol: float, atol: float, backward: bool,
                report: CompilerReport, on_graph: Callable[[Graph], None] | None) -> None:
    sample, _ = runner.make_sample(ctx, case, variant, dtype)  # may raise NotApplicable
    grad = case.grad if sample.grad is None else sample.grad
    grad = tuple(grad) if backward and "float" in dtype and variant != "large" else ()
    inputs, leaves, _ = runner._tensors(sample, ctx, variant, grad)

    def fn(*xs: Any) -> Any:
        return runner._call(case, xs, sample, ctx, dtype)

    def fail(stage: str, message: str) -> None:
        report.failures.append(CompilerFailure(case.op, case.name, variant, dtype, name,
                                               stage, message))

    report.checked += 1
    compiled = corefw.compile(fn, backend=backend)
    inner = compiled.compiler  # the resolved compiler: wrapped to count and show its graphs

    def counting(graph: Graph) -> Callable:
        report.graphs += 1
        if on_graph is not None:
            on_graph(graph)
        return inner(graph)

    compiled.compiler = counting
    try:
        corefw.manual_seed(_SEED)
        want = _outputs(fn(*inputs))
    except Exception as exc:  # noqa: BLE001 - reported, the other cases still run
        fail("eager call", f"{type(exc).__name__}: {exc}")
        return
    results = []
    for _ in range(3):  # capture, replay, replay
        try:
            corefw.manual_seed(_SEED)
            results.append(_outputs(compiled(*inputs)))
        except Exception as exc:  # noqa: BLE001
            fail("compiled call", f"call {len(results) + 1}: {type(exc).__name__}: {exc}")
            return
    for k, got in enumerate(results):
        if len(got) != len(want):
            fail("forward", f"call {k + 1} gave {len(got)} outputs, eager {len(want)}")
            return
        for i, (g, w) in enumerate(zip(got, want)):
            problem = _mismatch(g, w, rtol, atol)
            if problem:
                fail("forward", f"call {k + 1}, output {i}: {problem}")
                return
    replayed = bool(compiled.cache)
    report.replayed += replayed
    if not (grad and replayed and leaves):
        return
    order = list(leaves.values())
    try:
        got_g = _grads(results[-1], order, True)
    except Exception as exc:  # noqa: BLE001
        fail("backward", f"{type(exc).__name__}: {exc}")
        return
    try:
        want_g = _grads(want, order, False)
    except Exception as exc:  # noqa: BLE001
        fail("backward", f"eager: {type(exc).__name__}: {exc}")
        return
    if not want_g:
        return
    report.backward += 1
    for i, (g, w) in enumerate(zip(got_g, want_g)):
        if (g is None) != (w is None):
            fail("backward", f"input {i}: gradient {'missing' if g is None else 'unexpected'}")
            return
        problem = None if w is None else _mismatch(g, w, rtol, atol)
        if problem:
            fail("backward", f"gradient of input {i}: {problem}")
            return


def check_compiler(backend: str | Callable[[Graph], Callable], *, device: str = "cpu",
                   rtol: float = 0.0, atol: float = 0.0, dtypes: Iterable[str] | None = None,
                   ops: Iterable[str] | None = None, first_variant_only: bool = False,
                   first_dtype_only: bool = False, backward: bool = True,
                   on_graph: Callable[[Graph], None] | None = None,
                   raise_exception: bool = True) -> CompilerReport:
    """Compile every applicable op-table case with ``backend`` and compare with eager.

    Args:
        backend: what ``corefw.compile(fn, backend=...)`` takes: a registered compiler's
            name or a callable ``compiler(graph) -> run``.
        device: the device type the cases run on (its backend must be installed and
            available).
        rtol, atol: ``0`` (the default): results must be equal (NaNs in the same places),
            as when the compiler runs the same kernels; otherwise floats compare as
            :func:`corefw.testing.assert_close` does with these tolerances (a fusing compiler).
            Integers and bools always compare exactly.
        dtypes: only these dtypes (default: every dtype a case lists and the device has).
        ops: only the cases of these ops (default: the whole table).
        first_variant_only: only each case's first variant (usually ``basic``).
        first_dtype_only: only the first of each case's remaining dtypes.
        backward: compare gradients too (float dtypes, not the ``large`` variant).
        on_graph: called with every graph handed to the compiler (forward and backward
            captures), before the compiler sees it.
        raise_exception: raise on failures (as ``torch.autograd.gradcheck`` does); False:
            only return them in the report.

    Returns:
        A :class:`CompilerReport` (counts and failures).

    Raises:
        AssertionError: ``raise_exception`` and some case differs from eager; the message
            lists the failures by op, variant, dtype and backend.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"check_compiler: rtol and atol must be >= 0, got {rtol}, {atol}")
    ctx = runner.make_context(device)
    cases_for("add")  # loads the table, with the plugins' registered cases
    name = backend if isinstance(backend, str) else getattr(backend, "__name__", repr(backend))
    report = CompilerReport(name, device)
    wanted_dtypes = None if dtypes is None else set(dtypes)
    wanted_ops = None if ops is None else set(ops)
    with warnings.catch_warnings():
        # captures refused or split by graph breaks warn; the eager fallback is still checked
        warnings.simplefilter("ignore", CompileWarning)
        with np.errstate(all="ignore"):  # cases at poles and overflow, eager and compiled
            for op_name in sorted(CASES):
                if wanted_ops is not None and op_name not in wanted_ops:
                    continue
                for case in CASES[op_name]:
                    if case.needs - ctx.capabilities:
                        continue
                    sel = [d for d in case.dtypes() if d in ctx.dtypes and
                           (wanted_dtypes is None or d in wanted_dtypes)]
                    for dtype in sel[:1] if first_dtype_only else sel:
                        for variant in case.variants[:1] if first_variant_only \
                                else case.variants:
                            try:
                                _check_case(backend, name, ctx, case, variant, dtype, rtol,
                                            atol, backward, report, on_graph)
                            except NotApplicable:
                                continue
    if report.failures and raise_exception:
        raise AssertionError(str(report))
    return report
