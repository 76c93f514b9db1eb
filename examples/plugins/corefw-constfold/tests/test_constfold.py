"""The plugin is found through its entry point and folds constants without changing results."""

from __future__ import annotations

import numpy as np

import corefw


def test_registered_through_the_entry_point():
    assert "constfold" in corefw.compiler.list_backends()


def test_folds_constant_nodes_and_matches_eager():
    def f(x):
        scale = corefw.arange(6.0).reshape(2, 3).exp() + 1
        return (x * scale).relu().sum(0)

    compiled = corefw.compile(f, backend="constfold")
    x = corefw.randn(2, 3)
    for _ in range(3):
        assert np.array_equal(compiled(x).numpy(), f(x).numpy())
    (plan,) = compiled.cache.values()
    assert plan.fwd.folded == 4  # arange, reshape, exp, add
    assert [line.split("# ")[-1] for line in plan.fwd.source.splitlines()[2:-1]] == [
        "mul", "relu", "sum"]


def test_random_nodes_are_not_folded():
    compiled = corefw.compile(lambda x: x + corefw.rand(3), backend="constfold")
    x = corefw.zeros(3)
    compiled(x)
    a, b = compiled(x).numpy(), compiled(x).numpy()
    assert not np.array_equal(a, b)
