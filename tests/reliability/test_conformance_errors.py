"""The conformance kit's value-error checks (corefw/testing/checks_errors.py): the cpu backend
passes them, and a backend whose kernels clamp indices (as JAX does) or return 0 for an integer
division by zero fails them."""

from __future__ import annotations

import numpy as np
import pytest

from corefw.testing.checks import CHECKS
from corefw.testing.runner import Context, make_context


def _ctx() -> Context:
    return make_context("cpu")


@pytest.mark.parametrize("name", ["errors-index", "errors-integer"])
def test_cpu_passes(name):
    CHECKS[name](_ctx())


def test_a_clamping_index_kernel_fails_the_kit(monkeypatch):
    table = _ctx().device.table
    real = table["index"]

    def clamping(x, key):
        key = tuple(np.clip(k, 0, x.shape[i] - 1) if isinstance(k, np.ndarray) else k
                    for i, k in enumerate(key))
        return real(x, key=key)

    monkeypatch.setitem(table, "index", lambda x, key: clamping(x, key))
    with pytest.raises(AssertionError, match="no error was raised"):
        CHECKS["errors-index"](_ctx())


def test_the_core_checks_fail_when_bypassed(monkeypatch):
    """With the wrappers' checks removed, numpy's wrap-around and 0 results fail the kit."""
    from corefw.ops import elementwise, indexing

    monkeypatch.setattr(indexing, "_check_index_range", lambda *a: None)
    with pytest.raises(AssertionError, match="gather with index -1: no error"):
        CHECKS["errors-index"](_ctx())
    monkeypatch.setattr(elementwise, "_check_int_divisor", lambda *a: None)
    with pytest.raises(AssertionError, match="no error was raised"):
        CHECKS["errors-integer"](_ctx())
