"""Running op cases on a backend: forward against the float64 reference, backward against
float64 central differences of the reference, with per-dtype tolerances.

:func:`make_context` describes the backend under test; :func:`run_cell` runs every case of one
op in one dtype and returns a :class:`CellResult`. The pytest plugin and
:func:`corefw.testing.run_conformance` are thin layers over these two functions.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import corefw

from .cases import ALL_DTYPES, Env, NotApplicable, OpCase, Sample, cases_for

__all__ = ["ALL_DTYPES", "DEFAULT_TOLERANCES", "CellResult", "Context", "all_ops", "compare",
           "group_of", "implementation", "make_context", "make_sample", "numeric_vjp",
           "run_cell", "run_variant", "start_variant"]

#: ``{dtype: {"forward": (rtol, atol), "backward": (rtol, atol)}}``. Forward results are
#: compared with the float64 reference; gradients computed in the dtype with float64 central
#: differences of the reference at the same (rounded) inputs.
DEFAULT_TOLERANCES: dict[str, dict[str, tuple[float, float]]] = {
    "float16": {"forward": (5e-3, 5e-3), "backward": (2e-2, 2e-2)},
    # 8 significant bits (eps 2**-7): PyTorch's own bfloat16 tolerance is rtol 1.6e-2
    "bfloat16": {"forward": (1.6e-2, 1e-2), "backward": (6e-2, 6e-2)},
    "float32": {"forward": (2e-5, 1e-5), "backward": (2e-4, 2e-5)},
    "float64": {"forward": (1e-7, 1e-9), "backward": (1e-5, 1e-6)},
}
_FD_EPS = 1e-6


@dataclass
class Context:
    """The backend under test and the settings of a run."""

    device_type: str
    device: Any  # the resolved corefw.device
    backend: Any
    dtypes: frozenset
    capabilities: frozenset
    op_groups: frozenset | None
    tolerances: dict
    other_device: Any = None
    expectations: Mapping = field(default_factory=dict)

    def env(self) -> Env:
        return Env(self.device, self.dtypes, self.capabilities, self.other_device)

    def tolerance(self, dtype: str, kind: str) -> tuple[float, float]:
        return tuple(self.tolerances.get(dtype, {}).get(kind, (0.0, 0.0)))


@dataclass
class CellResult:
    """The outcome of one op in one dtype.

    ``status``: ``"pass"``, ``"fail"``, ``"skip"`` (with ``reason``), ``"n/a"`` (no case
    applies to this dtype) or ``"untested"`` (the op has no case). ``impl``: how the backend
    runs the op (``native``, ``decomposed``, ``fallback``, ``missing``). ``failures`` names
    each failing variant and why; ``variants`` lists those that passed.
    """

    op: str
    dtype: str
    status: str
    impl: str = ""
    reason: str = ""
    failures: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)


def make_context(device_type: str, *, tolerances: Mapping | None = None,
                 expectations: Mapping | None = None) -> Context:
    """Describe backend ``device_type`` (which must be registered and available).

    Tolerances: the kit's defaults, updated by the backend's ``conformance_tolerances``
    attribute (same shape as :data:`DEFAULT_TOLERANCES`), then by ``tolerances``.
    """
    from corefw.dispatch import backends, device_of

    have = backends(include_abstract=True)
    if device_type not in have:
        raise corefw.errors.NoBackendError(
            f"corefw.testing: no backend serves device type {device_type!r}; installed: "
            f"{', '.join(sorted(have)) or 'none'} (`corefw plugins` shows failed plugins)")
    backend = have[device_type]
    if not backend.is_available():
        raise corefw.errors.BackendUnavailableError(
            f"corefw.testing: backend {device_type!r} is unavailable: "
            f"{backend.unavailable_reason()}")
    if "bfloat16" in backend.dtypes:  # load ml_dtypes: np.dtype("bfloat16") works after
        corefw.bfloat16.np  # noqa: B018
    tol = {d: dict(v) for d, v in DEFAULT_TOLERANCES.items()}
    for extra in (getattr(backend, "conformance_tolerances", None), tolerances):
        for dtype, kinds in (extra or {}).items():
            tol.setdefault(dtype, {}).update({k: tuple(v) for k, v in kinds.items()})
    other = None
    for name in (["cpu"] if device_type != "cpu" else []) + sorted(have):
        if (name != device_type and have[name].is_available()
                and "abstract" not in have[name].capabilities):
            other = device_of(name)
            break
    groups = getattr(backend, "op_groups", None)
    return Context(device_type, device_of(device_type), backend, frozenset(backend.dtypes),
                   frozenset(backend.capabilities), None if groups is None else
                   frozenset(groups), tol, other, dict(expectations or {}))


def implementation(ctx: Context, op_name: str) -> str:
    """How the backend runs ``op_name``: ``native`` (its own or a registered extra kernel),
    ``decomposed`` (the op's decomposition), ``fallback`` (copied through cpu under the
    current fallback policy) or ``missing``."""
    from corefw import dispatch
    from corefw.ops import OPS

    if op_name in ctx.backend.kernels or op_name in dispatch._EXTRA.get(ctx.device_type, {}):
        return "native"
    op = OPS.get(op_name)
    if op is not None and op.decomposition is not None:
        return "decomposed"
    if op_name == "to_device":  # transfers are the backend's from_host/to_host
        return "native"
    if (op is not None and dispatch.get_fallback_policy() != "error"
            and ctx.device_type != "cpu" and "cpu" in dispatch.BACKENDS):
        return "fallback"
    return "missing"


def group_of(op_name: str) -> str:
    """The primitive group of ``op_name`` (``"composite"`` for every other op)."""
    from corefw.ops import GROUPS

    for group, names in GROUPS.items():
        if op_name in names:
            return group
    return "composite"


def run_cell(ctx: Context, op_name: str, dtype: str) -> CellResult:
    """Run every case of ``op_name`` in ``dtype`` on the backend of ``ctx``."""
    impl = implementation(ctx, op_name)
    cases = [c for c in cases_for(op_name) if dtype in c.dtypes()]
    if not cases_for(op_name):
        return CellResult(op_name, dtype, "untested", impl,
                          reason="the kit has no case for this op")
    if not cases:
        return CellResult(op_name, dtype, "n/a", impl, reason=f"not defined for {dtype}")
    if dtype not in ctx.dtypes:
        return CellResult(op_name, dtype, "n/a", impl,
                          reason=f"{ctx.device_type} does not declare {dtype}")
    group = group_of(op_name)
    if ctx.op_groups is not None and group != "composite" and group not in ctx.op_groups:
        return CellResult(op_name, dtype, "skip", impl, reason=(
            f"backend {ctx.backend.name!r} declares op groups {sorted(ctx.op_groups)}, "
            f"not {group!r}"))
    result = CellResult(op_name, dtype, "pass", impl)
    started: list[tuple[str, Callable[[], str | None]]] = []
    for case in cases:
        missing = case.needs - ctx.capabilities
        if missing:
            return CellResult(op_name, dtype, "skip", impl, reason=(
                f"backend {ctx.backend.name!r} does not declare capability "
                f"{', '.join(sorted(missing))}"))
        for variant in case.variants:
            try:
                started.append((variant, start_variant(ctx, case, variant, dtype)))
            except NotApplicable:
                continue
    for variant, finish in started:  # every variant runs before any value is read
        problem = finish()
        if problem:
            result.failures.append(f"[{variant}] {problem}")
        else:
            result.variants.append(variant)
    if result.failures:
        result.status = "fail"
    elif not result.variants:
        result.status, result.reason = "n/a", "no variant applies"
    return result


@contextlib.contextmanager
def _spy(device, name: str):
    """Count the calls of ``device``'s kernel for ``name`` (proves a case reaches its op)."""
    table = device.table
    orig = table.get(name)
    calls = [0]
    if orig is None:
        yield calls
        return

    def counting(*args, **kwargs):
        calls[0] += 1
        return orig(*args, **kwargs)

    table[name] = counting
    try:
        yield calls
    finally:
        if table.get(name) is counting:
            table[name] = orig


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _dtype(name: str):
    return corefw.bool_ if name == "bool" else getattr(corefw, name)


def _tensors(sample: Sample, ctx: Context, layout: str, grad: tuple[int, ...]):
    """(inputs for fn, leaves that require grad by sample index, layout flags).

    ``layout``: ``"noncontig"`` makes every input of 2+ dims the transpose of a contiguous
    leaf, ``"strided"`` every input of 1+ dims every other element of a leaf twice as wide;
    anything else gives contiguous tensors. The flags say how to read a leaf's gradient."""
    inputs, leaves, flipped = [], {}, {}
    for i, a in enumerate(sample.arrays):
        if not isinstance(a, np.ndarray):
            inputs.append(a)
            continue
        how = None
        if layout == "noncontig" and a.ndim >= 2:
            how = "T"
            host = np.array(np.swapaxes(a, -1, -2), order="C")
        elif layout == "strided" and a.ndim >= 1:
            how = "::2"
            host = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
            host[..., ::2] = a
        else:
            host = np.array(a, order="C")  # keeps 0-d
        t = corefw.tensor(host, dtype=_dtype(a.dtype.name), device=ctx.device)
        if i in grad:
            t.requires_grad_(True)
            leaves[i], flipped[i] = t, how
        inputs.append(t.transpose(-1, -2) if how == "T" else t[..., ::2] if how else t)
    return inputs, leaves, flipped


def _call(case: OpCase, inputs, sample: Sample, ctx: Context, dtype: str):
    attrs = dict(sample.attrs)
    if case.creation:
        attrs.update(device=ctx.device, dtype=_dtype(dtype))
    return case.fn(*inputs, **attrs)


def _host(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)  # the backend's to_host


def _ref_inputs(sample: Sample):
    return [np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind in "fV"
            else a for a in sample.arrays]


def compare(actual: np.ndarray, expected: Any, rtol: float, atol: float) -> str | None:
    """None if ``actual`` matches ``expected`` (exactly for integers and bools), else why."""
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if actual.size == 0:
        return None
    if actual.dtype.kind in "iub":
        exp = expected.astype(actual.dtype) if expected.dtype.kind in "iub" else expected
        bad = actual != exp
        if bad.any():
            i = np.argwhere(bad)[0]
            return (f"{int(bad.sum())} of {actual.size} values differ (exact comparison); "
                    f"at {tuple(int(j) for j in i)}: got {actual[tuple(i)]!r}, expected "
                    f"{exp[tuple(i)]!r}")
        return None
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        return None
    err = np.where(ok, 0.0, np.abs(a - e))
    err = np.where(np.isnan(err), np.inf, err)
    i = np.unravel_index(int(np.argmax(err)), err.shape)
    return (f"{int((~ok).sum())} of {a.size} values differ beyond rtol={rtol:g}, atol={atol:g};"
            f" worst at {tuple(int(j) for j in i)}: got {a[i]!r}, expected {e[i]!r}")


def make_sample(ctx: Context, case: OpCase, variant: str, dtype: str
                ) -> tuple[Sample, np.random.Generator]:
    """The sample of one (case, variant, dtype) on ``ctx``'s backend, and the generator that
    made it (seeded from the three names, so every run and every backend sees the same values).

    Raises :class:`~corefw.testing.cases.NotApplicable` if the variant does not apply."""
    rng = np.random.default_rng(_seed(case.name, variant, dtype) if case.name != case.op
                                else _seed(case.op, variant, dtype))
    if "random" in case.needs:  # reproducible draws, whatever ran before
        ctx.backend.manual_seed(_seed(case.op, variant, dtype, "device"))
    return case.make(rng, variant, dtype, ctx.env()), rng


def run_variant(ctx: Context, case: OpCase, variant: str, dtype: str) -> str | None:
    """Run one variant of a case; None if it passes, else a description of the failure.

    Raises :class:`~corefw.testing.cases.NotApplicable` if the variant does not apply.
    """
    return start_variant(ctx, case, variant, dtype)()


def start_variant(ctx: Context, case: OpCase, variant: str, dtype: str
                  ) -> Callable[[], str | None]:
    """Run one variant's forward and backward without reading a value; return the function
    that reads and checks them (None if the variant passes, else what failed).

    :func:`run_cell` starts every variant of a cell before it reads any: a backend that
    queues its kernels (a lazy or asynchronous one) then runs a whole cell's work per read,
    not one variant's forward and then its backward. The order of kernel calls and of the
    kit's random draws is the same as reading each variant at once.

    Raises :class:`~corefw.testing.cases.NotApplicable` if the variant does not apply.
    """
    sample, rng = make_sample(ctx, case, variant, dtype)
    grad = case.grad if sample.grad is None else sample.grad
    try:
        inputs, _, _ = _tensors(sample, ctx, variant, ())
        with _spy(ctx.device, case.op) as calls, corefw.no_grad():
            out = _call(case, inputs, sample, ctx, dtype)
    except Exception as exc:  # noqa: BLE001 - the report names it
        return _done(f"forward raised {type(exc).__name__}: {exc}")
    if case.op != "to_device" and calls[0] == 0:
        return _done(f"the case never reached the kernel of {case.op!r} (kit bug or the op "
                     f"is routed elsewhere)")
    want = sample.out_dtype or case.expected_dtype(dtype)
    if out.dtype.name != want:
        return _done(f"result dtype {out.dtype.name}, expected {want}")
    if out.device != ctx.device:
        return _done(f"result on {out.device}, expected {ctx.device}")
    floating = "float" in dtype and "float" in want
    backward = None
    if (case.check is None and floating and grad and variant != "large"
            and variant not in case.forward_only):
        backward = _start_backward(ctx, case, sample, grad, variant, dtype, rng)

    def finish() -> str | None:
        try:
            host = _host(out)
        except Exception as exc:  # noqa: BLE001 - a queued kernel failed when read
            return f"forward raised {type(exc).__name__}: {exc}"
        if case.check is not None:
            try:
                case.check(host, sample, dtype)
            except AssertionError as exc:
                return str(exc)
            return None
        try:
            expected = case.ref(*_ref_inputs(sample), **sample.attrs)
        except Exception as exc:  # noqa: BLE001
            return f"the kit's reference raised {type(exc).__name__}: {exc} (kit bug)"
        rtol, atol = ctx.tolerance(want, "forward")
        problem = compare(host, expected, rtol * case.tol, atol * case.tol)
        if problem:
            return f"forward: {problem}"
        return None if backward is None else backward()

    return finish


def _done(problem: str | None) -> Callable[[], str | None]:
    return lambda: problem


def _start_backward(ctx, case, sample, grad, layout, dtype, rng) -> Callable[[], str | None]:
    try:
        inputs, leaves, flipped = _tensors(sample, ctx, layout, grad)
        out = _call(case, inputs, sample, ctx, dtype)
        if not out.requires_grad:
            return _done("backward: the result does not require grad")
        v = np.asarray(rng.standard_normal(out.shape)).astype(out.dtype.name)
        out.backward(corefw.tensor(v, dtype=out.dtype, device=out.device))
    except Exception as exc:  # noqa: BLE001
        return _done(f"backward raised {type(exc).__name__}: {exc}")
    del inputs, out  # only the leaves' gradients are read

    def finish() -> str | None:
        args = _ref_inputs(sample)
        rtol, atol = ctx.tolerance(dtype, "backward")
        try:
            return _compare_grads(case, sample, args, leaves, flipped, v, dtype, rtol, atol)
        except corefw.errors.CorefwError as exc:  # a queued kernel failed when read
            return f"backward raised {type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001
            return (f"the kit's gradient reference raised {type(exc).__name__}: {exc} "
                    f"(kit bug)")

    return finish


def _compare_grads(case, sample, args, leaves, flipped, v, dtype, rtol, atol) -> str | None:
    rules = None
    if case.vjp_ref is not None:
        rules = case.vjp_ref(*args, v=v.astype(np.float64), **sample.attrs)
    for i, leaf in leaves.items():
        g = leaf.grad
        got = np.zeros(leaf.shape) if g is None else _host(g).astype(np.float64)
        if g is not None and g.dtype.name != dtype:
            return f"backward: gradient of input {i} is {g.dtype.name}, expected {dtype}"
        if flipped[i] == "T":
            got = np.swapaxes(got, -1, -2)
        elif flipped[i]:
            got = got[..., ::2]
        if rules is not None:
            want = rules[i]
        else:
            want = numeric_vjp(case.ref, args, sample.attrs, i, v.astype(np.float64))
        problem = compare(got, want, rtol * case.tol, atol * case.tol)
        if problem:
            return f"backward (input {i}) vs float64 finite differences: {problem}"
    return None


def numeric_vjp(ref, args: list, attrs: Mapping, i: int, v: np.ndarray,
                eps: float = _FD_EPS) -> np.ndarray:
    """``d/d args[i] of sum(v * ref(*args))`` by float64 central differences."""
    args = list(args)
    x = np.array(args[i], dtype=np.float64, copy=True)
    args[i] = x
    flat = x.reshape(-1)
    g = np.zeros(flat.size)
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        hi = np.sum(v * np.asarray(ref(*args, **attrs), dtype=np.float64))
        flat[k] = orig - eps
        lo = np.sum(v * np.asarray(ref(*args, **attrs), dtype=np.float64))
        flat[k] = orig
        g[k] = (hi - lo) / (2 * eps)
    return g.reshape(x.shape)


def all_ops() -> list[str]:
    """Every op the kit reports on: the primitives, then every registered op, sorted within
    primitives by group order and composites by name."""
    from corefw.dispatch import backends
    from corefw.ops import OPS, PRIMITIVES

    backends()  # loads plugins: their ops are registered
    _import_op_modules()
    rest = sorted(name for name in OPS if name not in PRIMITIVES)
    return list(PRIMITIVES) + rest


def _import_op_modules() -> None:
    """Import the layer library's functional modules, which register the nn composites."""
    import importlib

    with contextlib.suppress(ImportError):
        importlib.import_module("corefw.nn.functional")

