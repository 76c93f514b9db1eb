"""corefw.set_num_threads / get_num_threads through the cpu backend (threadpoolctl)."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_cpu import threads

import corefw


def test_set_and_get_num_threads_round_trip():
    before = corefw.get_num_threads()
    try:
        corefw.set_num_threads(1)
        assert corefw.get_num_threads() == 1
        corefw.set_num_threads(2)
        assert corefw.get_num_threads() == 2
    finally:
        corefw.set_num_threads(before)
    with pytest.raises(ValueError, match="positive int"):
        corefw.set_num_threads(0)


def test_default_policy_respects_the_environment_then_the_idle_cores(monkeypatch):
    for var in threads._ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3},
                        raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (8.0, 8.0, 8.0))
    assert threads.default_num_threads() == 1           # busy: never more than one
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert threads.default_num_threads() == 4           # quiet: every core
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.4, 1.0, 1.0))
    assert threads.default_num_threads() == 3           # the idle ones
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.default_num_threads() == 2


def test_cpu_fuse_fuses_elementwise_chains_within_tolerance():
    from corefw_cpu import fuse

    def f(a, b):
        return corefw.exp(corefw.relu(a + b) * b * 0.5).sum(1)

    a, b = corefw.randn(64, 32), corefw.randn(64, 32)
    compiled = corefw.compile(f, backend="cpu_fuse")
    want = f(a, b).numpy()
    assert np.allclose(compiled(a, b).numpy(), want, rtol=1e-6)
    (plan,) = compiled.cache.values()
    fused = fuse.fuse(plan.graphs[0], min_elements=0)
    assert [n.op for n in fused.nodes] == ["fused", "sum"]
    run = corefw.compiler.replay(fused)
    got = run([a.numpy(), b.numpy()])[0]
    assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6)
    assert isinstance(fuse.numexpr_wins(), bool)
