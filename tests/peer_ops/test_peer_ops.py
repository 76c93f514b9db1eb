"""The peer op suite's pass rate: at least 95% of its PyTorch-API op cases pass (forward
against float64 NumPy, gradients against finite differences); the failures are listed."""

from __future__ import annotations

import numpy as np

import corefw as torch

from . import cases_nn, cases_pointwise, cases_reduce, cases_shape  # noqa: F401 (register)
from .harness import CASES, Case, report, run_all, run_case

#: The issue's bar for PyTorch-API op cases.
PASS_RATE = 0.95


def test_suite_is_large_enough():
    assert len(CASES) >= 200, f"the peer op suite has only {len(CASES)} cases"
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


def test_pass_rate():
    results = run_all()
    text = report(results)
    print(text)
    passed = sum(r.ok for r in results)
    assert passed / len(results) >= PASS_RATE, text


def test_harness_catches_a_wrong_forward():
    bad = Case("bad", [(3,)], lambda x: torch.exp(x), lambda x: np.exp(x) + 1e-2)
    assert not run_case(bad).ok


def test_harness_catches_a_wrong_gradient_and_dtype():
    # forward right, backward wrong: a detached factor hides half the gradient
    assert not run_case(Case("bad grad", [(3,)], lambda x: x * x.detach(),
                             lambda x: x * x)).ok
    assert run_case(Case("good grad", [(3,)], lambda x: x * x, lambda x: x * x)).ok
    # float64 where PyTorch gives float32
    assert not run_case(Case("dtype", [(3,)], lambda x: x.double(), lambda x: x)).ok
