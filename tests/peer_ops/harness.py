"""The peer op suite's harness: op cases written in PyTorch's API (``import corefw as torch``),
each checked against an independent float64 NumPy reference and, where the op is
differentiable, its gradient against central finite differences of that reference.

In the style of the op tests other frameworks run against PyTorch (tinygrad's
``helper_test_op``): a case names its input shapes (or values), the PyTorch-style call and
the reference; random inputs are drawn in ``[low, high)``. Unlike those suites the reference
is NumPy in float64, never torch, so the suite runs where torch is not installed.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import corefw as torch

__all__ = ["CASES", "Case", "Result", "case", "run_all", "run_case"]


@dataclass
class Case:
    """One op case. ``fn(*tensors)`` is PyTorch-API code; ``ref(*arrays)`` float64 NumPy."""

    name: str
    shapes: Sequence[tuple] | None
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    low: float = -2.0
    high: float = 2.0
    #: explicit input values (lists/arrays) instead of random ``shapes``
    vals: Sequence[Any] | None = None
    #: input dtype: a torch dtype name ("float32", "int64", "bool")
    dtype: str = "float32"
    #: check the gradient of these inputs (default: every float input); () for forward only
    grad: tuple[int, ...] | None = None
    #: the result's dtype when it is not the input's (``"int64"``, ``"bool"``)
    out_dtype: str | None = None
    atol: float = 1e-5
    rtol: float = 1e-4
    grad_tol: float = 2e-3
    #: the op this case exercises, for the per-op report (default: the name's first word)
    op: str = ""
    #: the names of the inputs that are integer or bool, by position, with their dtype
    in_dtypes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.op = self.op or self.name.split(" ")[0]


CASES: list[Case] = []


def case(name: str, shapes, fn, ref, **kw) -> Case:
    """Register a :class:`Case` (see its fields for the keywords)."""
    c = Case(name, shapes, fn, ref, **kw)
    CASES.append(c)
    return c


@dataclass
class Result:
    case: Case
    ok: bool
    message: str = ""


def _inputs(c: Case, rng: np.random.Generator) -> list[np.ndarray]:
    if c.vals is not None:
        out = []
        for i, v in enumerate(c.vals):
            dt = c.in_dtypes.get(i, c.dtype)
            out.append(np.asarray(v, dtype=dt if dt != "bool" else np.bool_))
        return out
    out = []
    for i, shape in enumerate(c.shapes or ()):
        dt = c.in_dtypes.get(i, c.dtype)
        if dt == "bool":
            out.append(rng.random(shape) < 0.5)
        elif dt.startswith("int") or dt.startswith("uint"):
            out.append(rng.integers(int(c.low), int(c.high), size=shape).astype(dt))
        else:
            out.append((rng.random(shape) * (c.high - c.low) + c.low).astype(dt))
    return out


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _to_numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t)


def _expected_dtype(c: Case, ref_out: np.ndarray, float_in: str) -> str:
    if c.out_dtype is not None:
        return c.out_dtype
    kind = np.asarray(ref_out).dtype.kind
    if kind == "b":
        return "bool"
    if kind == "f":
        return float_in
    return "int64" if not c.dtype.startswith("int") else c.dtype


def _compare(c: Case, got, want, float_in: str) -> None:
    gots, wants = _as_tuple(got), _as_tuple(want)
    assert len(gots) == len(wants), f"{len(gots)} outputs, expected {len(wants)}"
    for k, (g, w) in enumerate(zip(gots, wants)):
        w = np.asarray(w)
        if isinstance(g, (bool, int, float)) and not isinstance(g, torch.Tensor):
            np.testing.assert_allclose(g, w, rtol=c.rtol, atol=c.atol, err_msg=f"output {k}")
            continue
        assert isinstance(g, torch.Tensor), f"output {k} is {type(g).__name__}, not a Tensor"
        assert tuple(g.shape) == w.shape, f"output {k}: shape {tuple(g.shape)}, want {w.shape}"
        want_dt = _expected_dtype(c, w, float_in) if len(gots) == 1 or w.dtype.kind == "f" \
            else ("bool" if w.dtype.kind == "b" else "int64")
        assert str(g.dtype).replace("corefw.", "") == want_dt, \
            f"output {k}: dtype {g.dtype}, want {want_dt}"
        gn = _to_numpy(g)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(gn.astype(np.float64), w, rtol=c.rtol, atol=c.atol,
                                       equal_nan=True, err_msg=f"output {k}")
        else:
            np.testing.assert_array_equal(gn, w, err_msg=f"output {k}")


def _finite_diff(ref, arrays: list[np.ndarray], i: int, v: np.ndarray, picks: np.ndarray,
                 h: float = 1e-6) -> np.ndarray:
    """``d(sum(ref(*arrays) * v)) / d arrays[i]`` at the flat positions ``picks``, by central
    differences in float64."""
    base = [np.asarray(a, np.float64) if a.dtype.kind == "f" else a for a in arrays]
    x = base[i].copy()
    flat = x.reshape(-1)
    out = np.zeros(len(picks))
    for n, j in enumerate(picks):
        old = flat[j]
        flat[j] = old + h
        base[i] = x
        up = np.sum(np.asarray(ref(*base), np.float64) * v)
        flat[j] = old - h
        down = np.sum(np.asarray(ref(*base), np.float64) * v)
        flat[j] = old
        out[n] = (up - down) / (2 * h)
    return out


#: gradients are checked at this many elements of each input at most (random positions)
GRAD_SAMPLES = 48


def run_case(c: Case, seed: int = 0) -> Result:
    """Run one case: forward against the reference, then the gradient of each float input
    against central differences of the reference. Any exception is a failure."""
    rng = np.random.default_rng(seed)
    try:
        arrays = _inputs(c, rng)
        float_in = next((str(a.dtype) for a in arrays if a.dtype.kind == "f"), "float32")
        want = c.ref(*[np.asarray(a, np.float64) if a.dtype.kind == "f" else a for a in arrays])
        grad_ix = c.grad if c.grad is not None else tuple(
            i for i, a in enumerate(arrays) if a.dtype.kind == "f")
        single = not isinstance(want, (tuple, list))
        if not single or np.asarray(want).dtype.kind != "f":
            grad_ix = ()
        tensors = [torch.tensor(a, requires_grad=i in grad_ix) for i, a in enumerate(arrays)]
        got = c.fn(*tensors)
        _compare(c, got, want, float_in)
        if grad_ix:
            w = np.asarray(want, np.float64)
            v = rng.standard_normal(w.shape)
            (got * torch.tensor(v.astype(float_in))).sum().backward()
            for i in grad_ix:
                size = arrays[i].size
                picks = np.sort(rng.choice(size, min(size, GRAD_SAMPLES), replace=False))
                fd = _finite_diff(c.ref, arrays, i, v, picks)
                g = tensors[i].grad
                if g is None and not np.any(fd):
                    continue  # PyTorch too leaves .grad None where the output ignores it
                assert g is not None, f"input {i} got no gradient"
                scale = max(1.0, float(np.max(np.abs(fd))) if fd.size else 1.0)
                got_g = _to_numpy(g).astype(np.float64).reshape(-1)[picks]
                np.testing.assert_allclose(got_g, fd,
                                           atol=c.grad_tol * scale, rtol=c.grad_tol,
                                           err_msg=f"gradient of input {i}")
        return Result(c, True)
    except Exception as e:  # noqa: BLE001 - every failure is a result of the suite
        tb = traceback.extract_tb(e.__traceback__)
        where = f" at {tb[-1].name}" if tb else ""
        text = str(e).strip().splitlines()
        return Result(c, False, f"{type(e).__name__}{where}: {' '.join(text[:6])[:300]}")


def run_all(cases: Sequence[Case] | None = None) -> list[Result]:
    """Run every case (default: all registered), each with its own seed."""
    return [run_case(c, seed=i) for i, c in enumerate(CASES if cases is None else cases)]


def report(results: Sequence[Result]) -> str:
    """Per-op results (passed / total) and each failure with its message."""
    by_op: dict[str, list[Result]] = {}
    for r in results:
        by_op.setdefault(r.case.op, []).append(r)
    lines = [f"{'op':28} passed/total"]
    for op, rs in sorted(by_op.items()):
        lines.append(f"{op:28} {sum(r.ok for r in rs)}/{len(rs)}")
    fails = [r for r in results if not r.ok]
    passed = len(results) - len(fails)
    lines.append(f"\n{passed}/{len(results)} cases pass "
                 f"({100.0 * passed / max(1, len(results)):.1f}%)")
    for r in fails:
        lines.append(f"FAIL {r.case.name}: {r.message}")
    return "\n".join(lines)
