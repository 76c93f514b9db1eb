"""Entry-point discovery with real installed distributions (tests/plugins/dists/*).

Every test runs a fresh interpreter whose ``PYTHONPATH`` holds the fixture distributions it
names; nothing patches ``importlib.metadata``.
"""

from __future__ import annotations

import json

import pytest

from corefw.plugins import PLUGIN_API_VERSION

ALL = ("toy", "broken", "future", "toydup", "lazy")  # the distributions listed together
# corefw-toydup registers corefw-toy's op, layer and explainer names: without a choice both
# would be refused (test_name_ownership.py); here the user gives them to corefw-toy
CHOSEN = {"COREFW_OP_OWNER": "toy_softclip=corefw-toy",
          "COREFW_LAYER_OWNER": "ToyScale=corefw-toy",
          "COREFW_EXPLAINER_OWNER": "toy_saliency=corefw-toy"}


@pytest.fixture(scope="module")
def everything(listing) -> dict:
    return listing(ALL, env=CHOSEN)


def test_listing_shows_every_plugin_with_its_status(everything):
    expected = {"corefw.nn": "loaded", "cpu": "loaded", "toy": "loaded", "toylite": "loaded",
                "broken_import": "failed", "broken_register": "failed", "future": "refused",
                "toydup": "loaded", "alt_cpu": "refused", "lazy": "loaded",
                "ghost": "unavailable"}
    # other installed plugins (corefw-cuda, corefw-xai ...) may be listed too
    assert {name: everything[name]["status"] for name in expected} == expected
    toy = everything["toy"]
    assert (toy["distribution"], toy["version"], toy["module"]) == ("corefw-toy", "1.2.3",
                                                                    "corefw_toy")
    assert toy["registers"] == {"device_types": ["toydev"], "kernels": 1,
                                "kernel_names": ["cpu:toy_softclip"], "ops": ["toy_softclip"],
                                "layers": ["ToyScale"], "explainers": ["toy_saliency"],
                                "process_groups": [],
                                "compilers": []}
    assert everything["toylite"]["distribution"] == "corefw-toy"
    assert everything["cpu"]["registers"]["device_types"] == ["cpu"]
    assert everything["corefw.nn"]["builtin"] is True
    assert everything["ghost"]["reason"] == "no ghost accelerator in this machine"


def test_failures_carry_their_error(everything):
    assert everything["broken_import"]["error"] == (
        "import failed: RuntimeError: corefw_broken_import: simulated failure at import")
    assert everything["broken_register"]["error"] == (
        "register_layers failed: ValueError: simulated failure in register_layers")
    # a plugin that fails registers nothing, not even what its earlier hooks asked for
    assert everything["broken_register"]["registers"]["ops"] == []


def test_unsupported_plugin_api_is_refused_naming_both_versions(everything):
    error = everything["future"]["error"]
    assert "'>=2,<3'" in error and f"plugin API {PLUGIN_API_VERSION}" in error
    assert everything["future"]["registers"]["layers"] == []


def test_text_listing(run_python):
    proc = run_python("-m", "corefw", "plugins", dists=ALL, env=CHOSEN)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    row = {ln.split()[0]: ln for ln in lines if ln and not ln.startswith(" ")}
    assert "unavailable: no ghost accelerator in this machine" in row["ghost"]
    assert "corefw-toy 1.2.3" in row["toy"] and row["toy"].rstrip().endswith("loaded")
    assert "failed: import failed: RuntimeError" in row["broken_import"]
    assert "refused: it was built for plugin API '>=2,<3'" in row["future"]
    assert ("    registers device types: toydev; kernels: 1; ops: toy_softclip; layers: "
            "ToyScale; explainers: toy_saliency") in lines
    assert "PluginWarning" not in proc.stderr  # the listing itself reports the failures


def test_failures_are_reported_once_and_corefw_keeps_working(snippet):
    out = snippet("""
        import corefw.plugins
        from corefw.ops import OPS
        for _ in range(3):
            corefw.plugins.plugin_records()
            corefw.layers()
        x = corefw.ones(2) + corefw.ones(2, device="toydev").cpu()
        out["sum"] = x.tolist()
        out["layers"] = sorted(corefw.layers())
        out["broken_op"] = "broken_op" in OPS
    """, dists=("toy", "broken", "future"))
    assert out["sum"] == [2.0, 2.0]
    assert "FutureLayer" not in out["layers"] and "ToyScale" in out["layers"]
    assert out["broken_op"] is False
    msgs = out["warnings"]
    assert len(msgs) == 3, msgs
    for name in ("broken_import", "broken_register", "future"):
        assert sum(f"plugin {name!r}" in m for m in msgs) == 1, msgs
    assert "RuntimeError: corefw_broken_import: simulated failure at import" in msgs[0]


def test_import_corefw_loads_no_plugin(snippet):
    out = snippet("""
        import sys
        out["imported"] = sorted(m for m in sys.modules if m.startswith("corefw_"))
    """, dists=ALL)
    assert out == {"imported": [], "warnings": []}


def test_strict_mode_makes_a_failure_fatal(run_python):
    code = ("import corefw\n"
            "try:\n    corefw.ones(2)\n"
            "except corefw.errors.PluginError as e:\n    print('FATAL', e)\n")
    proc = run_python("-c", code, dists=("broken",), env={"COREFW_STRICT_PLUGINS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("FATAL") and "'broken_import'" in proc.stdout
    assert "simulated failure at import" in proc.stdout
    cli = run_python("-m", "corefw", "plugins", dists=("future",),
                     env={"COREFW_STRICT_PLUGINS": "1"})
    assert cli.returncode == 1
    assert "'future'" in cli.stderr and "'>=2,<3'" in cli.stderr and \
        PLUGIN_API_VERSION in cli.stderr
    ok = run_python("-m", "corefw", "plugins", dists=("toy",), env={"COREFW_STRICT_PLUGINS": "1"})
    assert ok.returncode == 0, ok.stderr


def test_corefw_plugins_loads_only_the_named_entry_points(listing, snippet):
    recs = listing(ALL, env={"COREFW_PLUGINS": "cpu,toy"})
    loaded = {n for n, r in recs.items() if r["status"] == "loaded"}
    assert loaded == {"corefw.nn", "corefw.compiler", "cpu", "toy"}  # builtins always load
    assert {r["status"] for n, r in recs.items() if n not in loaded} == {"blocked"}
    assert recs["broken_import"]["reason"] == "not listed in COREFW_PLUGINS"
    out = snippet("corefw.ones(1)", dists=ALL, env={"COREFW_PLUGINS": "cpu,toy"})
    assert out["warnings"] == []


def test_corefw_disable_plugins_blocks_some(listing, snippet):
    env = {"COREFW_DISABLE_PLUGINS": "broken_import, broken_register,future", **CHOSEN}
    recs = listing(ALL, env=env)
    for name in ("broken_import", "broken_register", "future"):
        assert recs[name]["status"] == "blocked"
        assert recs[name]["reason"] == "listed in COREFW_DISABLE_PLUGINS"
    assert recs["toy"]["status"] == "loaded"
    out = snippet("corefw.ones(1)", dists=("toy", "broken", "future"), env=env)
    assert out["warnings"] == []


def test_a_name_no_plugin_has_is_reported(snippet):
    out = snippet("corefw.ones(1)", dists=("toy",), env={"COREFW_DISABLE_PLUGINS": "tyo"})
    assert len(out["warnings"]) == 1
    assert "COREFW_DISABLE_PLUGINS names 'tyo'" in out["warnings"][0]
    assert "toy" in out["warnings"][0]


_OWNER = """
    from corefw.plugins import plugin_records
    recs = {r.name: r for r in plugin_records()}
    out["status"] = {n: recs[n].status for n in ("cpu", "alt_cpu", "aaa") if n in recs}
    out["errors"] = {n: recs[n].error for n in ("cpu", "alt_cpu", "aaa") if n in recs}
    try:
        out["cpu_backend"] = corefw.ones(1).device.backend.name
    except Exception as e:
        out["cpu_backend"] = f"{type(e).__name__}: {e}"
"""


def test_an_undeclared_claim_cannot_take_a_declared_device_type(snippet):
    # alt_cpu sorts before cpu and passes override=True: under first-come loading it won
    out = snippet(_OWNER, dists=("toy", "toydup"), env={"COREFW_DISABLE_PLUGINS": "toydup"})
    assert out["cpu_backend"] == "numpy"
    assert out["status"] == {"cpu": "loaded", "alt_cpu": "refused"}
    error = out["errors"]["alt_cpu"]
    assert "device type 'cpu' belongs to corefw-cpu" in error
    assert "'corefw.devices'" in error and "COREFW_DEVICE_OWNER=cpu=corefw-toydup" in error
    (msg,) = out["warnings"]
    assert "plugin 'alt_cpu' (corefw-toydup 0.2.0)" in msg and "refused" in msg


def test_the_user_chooses_a_device_types_owner(snippet):
    env = {"COREFW_DISABLE_PLUGINS": "toydup", "COREFW_DEVICE_OWNER": "cpu=corefw-toydup"}
    out = snippet(_OWNER, dists=("toy", "toydup"), env=env)
    assert out["cpu_backend"] == "alt-numpy"
    assert out["status"] == {"cpu": "refused", "alt_cpu": "loaded"}
    assert "given to 'corefw-toydup' by COREFW_DEVICE_OWNER" in out["errors"]["cpu"]


def test_two_declared_owners_are_both_refused(snippet, run_python):
    out = snippet(_OWNER, dists=("impostor",), env={"COREFW_DISABLE_PLUGINS": "aab_kernel"})
    assert out["status"] == {"cpu": "refused", "aaa": "refused"}
    for name in ("cpu", "aaa"):
        error = out["errors"][name]
        assert "declared by several distributions (corefw-cpu, corefw-impostor)" in error \
            or "declared by several distributions (corefw-impostor, corefw-cpu)" in error
        assert "'cpu' (corefw-cpu 0.1.0)" in error and "'aaa' (corefw-impostor 6.6.6)" in error
        assert "COREFW_DEVICE_OWNER=cpu=<distribution>" in error
    assert out["cpu_backend"].startswith("NoBackendError")
    assert len(out["warnings"]) == 2
    chosen = snippet(_OWNER, dists=("impostor",), env={
        "COREFW_DISABLE_PLUGINS": "aab_kernel", "COREFW_DEVICE_OWNER": "cpu=corefw-cpu"})
    assert chosen["status"] == {"cpu": "loaded", "aaa": "refused"}
    assert chosen["cpu_backend"] == "numpy"
    strict = run_python("-c", "import corefw\ncorefw.ones(1)", dists=("impostor",),
                        env={"COREFW_DISABLE_PLUGINS": "aab_kernel",
                             "COREFW_STRICT_PLUGINS": "1"})
    assert strict.returncode == 1
    assert "PluginError" in strict.stderr and "declared by several" in strict.stderr


def test_overriding_another_plugins_kernel_warns_naming_both(snippet, run_python):
    code = """
        x = corefw.tensor([-1.0, 2.0])
        out["relu"] = corefw.nn.functional.relu(x).tolist()
    """
    env = {"COREFW_DISABLE_PLUGINS": "aaa"}
    out = snippet(code, dists=("impostor",), env=env)
    assert out["relu"] == [0.0, 2.0]
    (msg,) = out["warnings"]
    assert msg.startswith("corefw: overriding a previously registered kernel: 'cpu:relu'")
    assert "'cpu' (corefw-cpu 0.1.0)" in msg and "'aab_kernel' (corefw-impostor 6.6.6)" in msg
    strict = run_python("-c", "import corefw\ncorefw.ones(1)", dists=("impostor",),
                        env={**env, "COREFW_STRICT_PLUGINS": "1"})
    assert strict.returncode == 1
    assert "overriding a previously registered kernel" in strict.stderr
    assert "aab_kernel" in strict.stderr


def test_no_backend_error_points_to_the_listing_and_the_guide(run_python):
    code = ("import corefw\n"
            "try:\n    corefw.zeros(2)\n"
            "except corefw.errors.NoBackendError as e:\n    print('ERROR', e)\n")
    proc = run_python("-c", code, env={"COREFW_DISABLE_PLUGINS": "cpu"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ERROR")
    assert "'cpu'" in proc.stdout and "docs/plugins.md" in proc.stdout
    assert "corefw plugins" in proc.stdout
    assert "corefw-cuda" not in proc.stdout  # the core names no plugin


def test_plugin_modules_import_no_heavy_library(snippet):
    out = snippet("""
        import importlib, sys
        from importlib import metadata
        from corefw.plugins.manager import GROUP, HEAVY
        before = set(sys.modules)
        out["modules"] = []
        for ep in metadata.entry_points(group=GROUP):
            if ep.name != "broken_import":
                importlib.import_module(ep.value.partition(":")[0])
                out["modules"].append(ep.value)
        new = {m.partition(".")[0] for m in set(sys.modules) - before}
        out["heavy"] = sorted(new & HEAVY)
    """, dists=ALL)
    assert "corefw_cpu" in out["modules"] and "corefw_toy" in out["modules"]
    assert out["heavy"] == []


def test_a_lazy_backend_imports_its_library_on_first_use(snippet):
    out = snippet("""
        import sys
        heavy = lambda: "corefw_lazy_heavy" in sys.modules
        corefw.plugins.load()
        out["after_load"] = ("corefw_lazy" in sys.modules, heavy())
        corefw.ones(2)
        out["after_cpu_tensor"] = heavy()
        out["tensor"] = corefw.ones(2, device="lazydev").tolist()
        out["after_use"] = heavy()
    """, dists=("lazy",))
    assert out["after_load"] == [True, False]
    assert out["after_cpu_tensor"] is False
    assert out["tensor"] == [1.0, 1.0] and out["after_use"] is True


def test_python_m_corefw_is_the_corefw_command(run_python, dist_paths):
    via_m = run_python("-m", "corefw", "plugins", "--json", dists=("toy",))
    via_main = run_python("-c", "import sys; from corefw.cli import main; "
                          "sys.exit(main(['plugins', '--json']))", dists=("toy",))
    assert via_m.returncode == via_main.returncode == 0

    def strip(text):
        return [{k: v for k, v in r.items() if k != "load_ms"} for r in json.loads(text)]

    assert strip(via_m.stdout) == strip(via_main.stdout)


def test_concurrent_first_use_waits_for_the_plugins(snippet):
    # the first tensor of several threads at once: each must see the fully loaded registry
    out = snippet("""
        import threading
        barrier, results = threading.Barrier(6), []

        def first_use():
            barrier.wait()
            try:
                results.append(corefw.ones(1, device="toydev").tolist())
            except Exception as e:
                results.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=first_use) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["results"] = results
    """, dists=("toy", "lazy"))
    assert out["results"] == [[1.0]] * 6
