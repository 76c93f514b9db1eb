"""Every case of the op table, compiled with ``replay`` and with corefw-cpu's ``cpu_fuse`` (its
generated NumPy code), equals eager bit for bit (the same NumPy operations run), forward and
backward; the capture is checked to have replayed, not re-run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import corefw
from corefw.compiler import CompileWarning
from corefw.testing import cases as C
from corefw.testing import runner


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _same(a, b) -> bool:
    if isinstance(a, corefw.Tensor):
        x, y = a.detach().numpy(), b.detach().numpy()
        return x.dtype == y.dtype and x.shape == y.shape and np.array_equal(
            x, y, equal_nan=x.dtype.kind in "fc")
    return a == b


def _check(op_name, case, sample, variant, dtype, ctx, grad, backend):
    inputs, leaves, _ = runner._tensors(sample, ctx, variant == "noncontig", grad)
    attrs = dict(sample.attrs)
    if case.creation:
        attrs.update(device=ctx.device, dtype=runner._dtype(dtype))

    def fn(*xs):
        return case.fn(*xs, **attrs)

    compiled = corefw.compile(fn, backend=backend)
    results = []
    for _ in range(3):  # trace, replay, replay
        corefw.manual_seed(7)
        results.append(compiled(*inputs))
    corefw.manual_seed(7)
    want = fn(*inputs)
    where = f"{op_name} [{variant}, {dtype}, {backend}]"
    for got in results:
        for w, g in zip(_outputs(want), _outputs(got)):
            assert _same(w, g), f"{where}: compiled {g} != eager {w}"
    replayed = bool(compiled.cache)
    if grad and replayed:
        outs = [o for o in _outputs(results[-1]) if isinstance(o, corefw.Tensor)
                and o.requires_grad]
        ref = [o for o in _outputs(want) if isinstance(o, corefw.Tensor) and o.requires_grad]
        if outs:
            got_g = corefw.autograd.grad([o.sum() for o in outs], list(leaves.values()),
                                         allow_unused=True, retain_graph=True)
            want_g = corefw.autograd.grad([o.sum() for o in ref], list(leaves.values()),
                                          allow_unused=True)
            for w, g in zip(want_g, got_g):
                assert (w is None) == (g is None), where
                if w is not None:
                    assert _same(w, g), f"{where}: gradient {g} != eager {w}"
    return replayed


@pytest.mark.parametrize("backend", ["replay", "cpu_fuse"])
def test_every_op_case_compiled_equals_eager_forward_and_backward(backend):
    ctx = runner.make_context("cpu")
    C.cases_for("add")  # loads the table
    checked = replayed = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for op_name, cases in sorted(C.CASES.items()):
            if op_name == "to_device":
                continue
            for case in cases:
                for k, dtype in enumerate(case.dtypes()):
                    for variant in case.variants:
                        rng = np.random.default_rng(runner._seed(op_name, variant, dtype))
                        try:
                            sample = case.make(rng, variant, dtype, ctx.env())
                        except C.NotApplicable:
                            continue
                        grad = sample.grad if sample.grad is not None else case.grad
                        grad = grad if k == 0 and variant != "large" and \
                            dtype.startswith("float") else ()
                        replayed += _check(op_name, case, sample, variant, dtype, ctx, tuple(grad),
                                           backend)
                        checked += 1
    assert checked > 1000
    assert replayed > 0.9 * checked, (replayed, checked)
