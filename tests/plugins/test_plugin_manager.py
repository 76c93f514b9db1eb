"""The plugin manager in-process: run-time registration, validation, isolation, call_op.

Plugins here are small classes registered with ``register_plugin`` under unique names (the
registries are process-wide); entry-point discovery is tested with real distributions in
test_entry_points.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import corefw
from corefw.errors import DTypeError, PluginError
from corefw.plugins import (
    PLUGIN_API_VERSION,
    PluginWarning,
    call_op,
    hookimpl,
    plugin_records,
    register_plugin,
    version_matches,
)

_ids = itertools.count()


def _name(prefix: str) -> str:
    return f"_test_{prefix}_{next(_ids)}"


@pytest.mark.parametrize("spec, ok", [
    (">=1,<2", True), (">=1.0,<2", True), ("1", True), ("==1.*", True), ("~=1.0", True),
    (">=2,<3", False), ("<1", False), ("2", False), ("!=1.*", False), (">1.0", False),
    ("==1.0", True), ("<=1", True), (">=0.9, <1.1", True),
])
def test_version_matches(spec, ok):
    assert version_matches("1.0", spec) is ok


@pytest.mark.parametrize("spec", ["one", ">=1,,<2", "~=1", ">=1.*"])
def test_version_matches_rejects_nonsense(spec):
    with pytest.raises(ValueError):
        version_matches("1.0", spec)


def test_plugin_api_version_is_major_minor():
    major, minor = (int(p) for p in PLUGIN_API_VERSION.split("."))
    assert major >= 1 and minor >= 0


def test_runtime_plugin_registers_layer_explainer_and_op():
    layer_name, explainer_name, op_name = _name("Layer"), _name("expl"), _name("twice")

    class Plugin:
        COREFW_PLUGIN_API = ">=1,<2"

        @staticmethod
        @hookimpl
        def register_ops(register):
            register(op_name, decomposition=lambda x: x + x,
                     vjp=lambda ctx, g: (2 * g,))

        @staticmethod
        @hookimpl
        def register_layers(register):
            register(corefw.nn.Module, name=layer_name)

        @staticmethod
        @hookimpl
        def register_explainers(register):
            register(explainer_name, dict)

    from corefw.ops import OPS

    rec = register_plugin(Plugin, name=_name("plugin"))
    try:
        assert rec.status == "loaded", rec.error
        assert rec.registered["ops"] == [op_name]
        assert corefw.layers()[layer_name] is corefw.nn.Module
        assert corefw.explainers()[explainer_name] is dict
        x = corefw.tensor([1.0, -2.0], dtype=corefw.float64, requires_grad=True)
        y = call_op(op_name, x)
        np.testing.assert_array_equal(y.detach().numpy(), [2.0, -4.0])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
        assert rec in plugin_records()
    finally:  # the op table's tests, later in this process, expect a row for every op
        OPS.pop(op_name, None)


def test_runtime_plugin_name_must_be_unique():
    class Plugin:
        COREFW_PLUGIN_API = "1"

    name = _name("dup")
    register_plugin(Plugin, name=name)
    with pytest.raises(PluginError, match=name):
        register_plugin(Plugin, name=name)


def test_plugin_raising_in_a_hook_is_isolated_and_registers_nothing():
    layer_name = _name("Never")

    class Plugin:
        COREFW_PLUGIN_API = ">=1,<2"

        @staticmethod
        @hookimpl
        def register_layers(register):
            register(corefw.nn.Module, name=layer_name)

        @staticmethod
        @hookimpl
        def register_explainers(register):
            raise KeyError("boom")

    with pytest.warns(PluginWarning, match="register_explainers failed: KeyError") as record:
        rec = register_plugin(Plugin, name=_name("raising"))
    assert len(record) == 1
    assert rec.status == "failed" and "boom" in rec.error
    assert layer_name not in corefw.layers()
    assert corefw.ones(2).sum().item() == 2.0


def test_strict_mode_raises(monkeypatch):
    class Plugin:
        COREFW_PLUGIN_API = ">=1,<2"

        @staticmethod
        @hookimpl
        def register_layers(register):
            raise RuntimeError("boom")

    monkeypatch.setenv("COREFW_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="COREFW_STRICT_PLUGINS") as info:
        register_plugin(Plugin, name=_name("strict"))
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("api, fragment", [
    (None, "declares no COREFW_PLUGIN_API"),
    (">=2", "built for plugin API '>=2'"),
    ("banana", "cannot be parsed"),
])
def test_unsupported_or_missing_api_is_refused(api, fragment):
    class Plugin:
        pass

    if api is not None:
        Plugin.COREFW_PLUGIN_API = api
    with pytest.warns(PluginWarning, match="refused"):
        rec = register_plugin(Plugin, name=_name("api"))
    assert rec.status == "refused"
    assert fragment in rec.error and PLUGIN_API_VERSION in rec.error


def test_misspelt_hook_and_bad_signature_fail():
    class Typo:
        COREFW_PLUGIN_API = ">=1,<2"

        @staticmethod
        @hookimpl
        def register_backend(register):  # singular: not a corefw hook
            pass

    class BadArgs:
        COREFW_PLUGIN_API = ">=1,<2"

        @staticmethod
        @hookimpl
        def register_layers(reg):
            pass

    with pytest.warns(PluginWarning):
        typo = register_plugin(Typo, name=_name("typo"))
        bad = register_plugin(BadArgs, name=_name("badargs"))
    assert typo.status == "failed" and "unknown hook(s) register_backend" in typo.error
    assert "register_backends" in typo.error
    assert bad.status == "failed" and "invalid hooks" in bad.error and "reg" in bad.error


@pytest.mark.parametrize("hook, args, fragment", [
    ("register_backends", (object(),), "device_type"),
    ("register_kernels", ("cpu", ["not", "a", "dict"]), "mapping"),
    ("register_kernels", ("cpu", {"x": 3}), "not callable"),
    ("register_layers", ("NotAClass",), "layer class"),
    ("register_explainers", ("name", 3), "class or factory"),
    ("register_ops", ("", ), "non-empty str"),
])
def test_register_callbacks_check_their_arguments(hook, args, fragment):
    def impl(register):
        register(*args)

    impl.__name__ = hook
    plugin = type("P", (), {"COREFW_PLUGIN_API": "1", hook: staticmethod(hookimpl(impl))})
    with pytest.warns(PluginWarning, match=fragment):
        rec = register_plugin(plugin, name=_name("args"))
    assert rec.status == "failed" and f"{hook} failed: TypeError" in rec.error


def test_duplicate_layer_refused_then_overridden():
    name = _name("Dup")

    def plugin(cls, override):
        def register_layers(register):
            register(cls, name=name, override=override)

        return type("P", (), {"COREFW_PLUGIN_API": "1",
                              "register_layers": staticmethod(hookimpl(register_layers))})

    first, second, third = _name("first"), _name("second"), _name("third")
    register_plugin(plugin(int, False), name=first)
    with pytest.warns(PluginWarning) as record:
        rec = register_plugin(plugin(float, False), name=second)
    (warning,) = record
    assert f"layer {name!r} is already registered by {first!r}" in str(warning.message)
    assert f"plugin {second!r}" in str(warning.message)
    assert corefw.layers()[name] is int and rec.registered["layers"] == []
    rec = register_plugin(plugin(str, True), name=third)
    assert corefw.layers()[name] is str
    assert rec.registered["layers"] == [name]
    assert any(first in note for note in rec.notes)


def test_call_op_needs_a_tensor_and_a_known_op():
    with pytest.raises(DTypeError, match="at least one corefw.Tensor"):
        call_op("add", 1.0, 2.0)
    with pytest.raises(PluginError, match="no op named"):
        call_op("definitely_not_an_op", corefw.ones(1))


def test_unavailable_backend_is_reported_with_its_reason():
    dev_type = _name("offdev").strip("_")

    class Off(corefw.backend.ArrayModuleBackend):
        def __init__(self):
            super().__init__(np, device_type=dev_type, name="off")

        def is_available(self):
            return False

        def unavailable_reason(self):
            return "switched off for the test"

    class Plugin:
        COREFW_PLUGIN_API = "1"

        @staticmethod
        @hookimpl
        def register_backends(register):
            register(Off())

    rec = register_plugin(Plugin, name=_name("off"))
    assert rec.status == "unavailable"
    assert rec.detail == "unavailable: switched off for the test"
    with pytest.raises(corefw.errors.BackendUnavailableError, match="switched off"):
        corefw.ones(1, device=dev_type)


def test_runtime_backend_lacking_members_is_refused():
    class Half:
        device_type = _name("halfdev").strip("_")
        name = "half"
        kernels: dict = {}

        def to_host(self, array):
            return array

    def register_backends(register):
        register(Half())

    plugin = type("P", (), {"COREFW_PLUGIN_API": "1",
                            "register_backends": staticmethod(hookimpl(register_backends))})
    with pytest.warns(PluginWarning, match="lacks dtypes, capabilities, is_available"):
        rec = register_plugin(plugin, name=_name("half"))
    assert rec.status == "refused" and rec.registered["device_types"] == []
    assert "from_host, manual_seed" in rec.error  # to_host is there
    assert Half.device_type not in corefw.plugins.backends()


def test_public_listing_of_backends_and_devices():
    assert corefw.plugins.backends()["cpu"].device_type == "cpu"
    devs = corefw.plugins.devices()
    assert corefw.device("cpu", 0) in devs
    assert all(corefw.plugins.backends()[d.type].is_available() for d in devs)
    every = corefw.plugins.devices(available=False)
    assert set(devs) <= set(every)
    assert {d.type for d in every} == set(corefw.plugins.backends())


def test_version_check_is_pep440():
    assert version_matches("1.0", ">=1.0rc1,<2") is True
    assert version_matches("1.3", "~=1.2") is True and version_matches("2.0", "~=1.2") is False
