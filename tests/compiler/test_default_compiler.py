"""corefw.compile's ``backend="default"``: the compiler the device's backend names in
``default_compiler`` (plugin API 1.2), else ``replay``."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.compiler import default_compiler_for, register_compiler, replay
from corefw.compiler._default import default
from corefw.dispatch import backends
from corefw.plugins.catalogue import COMPILERS


def _compiled_by(fn, *args) -> str:
    for _ in range(2):
        fn(*args)
    (plan,) = fn.cache.values()
    return plan.graphs[0].meta["compiler"]


def test_the_default_is_the_devices_compiler_with_eager_results():
    assert corefw.compile.__kwdefaults__["backend"] == "default"
    x = corefw.randn(5, 3)
    f = corefw.compile(lambda x: (x * 2).relu().sum(1))
    assert _compiled_by(f, x) == "cpu_fuse" == default_compiler_for(x.device)
    assert np.array_equal(f(x).numpy(), np.maximum(x.numpy() * 2, 0).sum(1))


def test_a_backend_names_its_compiler(monkeypatch):
    calls = []

    def mine(graph):
        calls.append(graph)
        return replay(graph)

    register_compiler("test_mine", mine)
    try:
        monkeypatch.setattr(type(backends()["cpu"]), "default_compiler", "test_mine")
        f = corefw.compile(lambda x: x.exp() + 1)
        x = corefw.randn(4)
        assert _compiled_by(f, x) == "test_mine" and len(calls) == 1
        assert np.array_equal(f(x).numpy(), np.exp(x.numpy()) + 1)
    finally:
        del COMPILERS["test_mine"]


@pytest.mark.parametrize("named", [None, "not_installed", 3])
def test_none_or_an_unknown_compiler_falls_back_to_replay(monkeypatch, named):
    monkeypatch.setattr(type(backends()["cpu"]), "default_compiler", named)
    assert default_compiler_for("cpu") == "replay"
    f = corefw.compile(lambda x: x * 3)
    assert _compiled_by(f, corefw.ones(2)) == "replay"
    assert f(corefw.ones(2)).tolist() == [3.0, 3.0]


def test_a_registered_compiler_does_not_become_the_default():
    register_compiler("test_other", replay)
    try:
        assert default_compiler_for("cpu") == "cpu_fuse"
        assert default_compiler_for("meta") == "replay"  # the core's meta backend names none
    finally:
        del COMPILERS["test_other"]


def test_default_is_listed_and_a_graph_without_device_replays():
    assert {"default", "replay", "cpu_fuse"} <= set(corefw.compiler.list_backends())
    from corefw.compiler import Graph

    graph = Graph(inputs=[], nodes=[], outputs=[])
    run = default(graph)
    assert graph.meta["compiler"] == "replay" and run([]) == []
