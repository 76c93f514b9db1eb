"""Loading under stress, with real installed distributions (dists/hazards): a backend that
lacks protocol members, Ctrl-C during loading, a plugin that hangs at import, strict mode."""

from __future__ import annotations


def test_a_backend_lacking_protocol_members_is_refused_with_the_list(listing):
    recs = listing(("hazards",), env={"COREFW_DISABLE_PLUGINS": "slow,interrupted"})
    lacking = recs["lacking"]
    assert lacking["status"] == "refused"
    assert lacking["registers"]["device_types"] == []
    error = lacking["error"]
    assert error.startswith("register_backends: backend <")
    assert ("for device type 'halfdev' lacks dtypes, capabilities, unavailable_reason, "
            "device_count, device_context, from_host, to_host, manual_seed, get_rng_state, "
            "set_rng_state, synchronize, memory_stats of the corefw.backend.Backend protocol"
            in error)
    assert "ArrayModuleBackend" in error


def test_ctrl_c_during_loading_can_be_retried(snippet):
    out = snippet("""
        try:
            corefw.ones(1)
            out["first"] = "no interrupt"
        except KeyboardInterrupt:
            out["first"] = "KeyboardInterrupt"
        out["second"] = corefw.ones(2).tolist()
        out["layer"] = "HazardLayer" in corefw.layers()
        recs = {r.name: r.status for r in corefw.plugins.plugin_records()}
        out["status"] = [recs["cpu"], recs["interrupted"]]
    """, dists=("hazards",), env={"COREFW_DISABLE_PLUGINS": "slow,lacking",
                                  "HAZARD_INTERRUPT": "1"})
    assert out["first"] == "KeyboardInterrupt"
    assert out["second"] == [1.0, 1.0] and out["layer"] is True
    assert out["status"] == ["loaded", "loaded"]


def test_a_plugin_hanging_at_import_is_named(run_python):
    proc = run_python("-c", "import corefw\nprint(corefw.ones(1).tolist())", dists=("hazards",),
                      env={"COREFW_DISABLE_PLUGINS": "interrupted,lacking",
                           "HAZARD_SLEEP": "1.5", "COREFW_PLUGIN_WATCHDOG_S": "0.3"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[1.0]"  # not killed: it finished loading
    assert "still loading plugin 'slow' (module 'corefw_hazards.slow', distribution " \
           "corefw-hazards) after 0.3 s" in proc.stderr
    assert "COREFW_DISABLE_PLUGINS=slow" in proc.stderr
    assert "'cpu'" not in proc.stderr  # only the slow one is named


def test_after_a_strict_failure_the_next_error_names_the_plugin(run_python):
    code = ("import corefw\n"
            "for _ in range(2):\n"
            "    try:\n        corefw.ones(2)\n"
            "    except Exception as e:\n        print(type(e).__name__, '|', e)\n")
    proc = run_python("-c", code, dists=("broken",), env={"COREFW_STRICT_PLUGINS": "1"})
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()
    for line in (first, second):
        assert line.startswith("PluginError |") and "'broken_import'" in line
    assert "plugins were not loaded because of it" in second
    assert "no backend is registered" not in proc.stdout
