"""Op, layer and explainer names are owned like device types: a name that two distributions
register is refused for both unless the user chooses an owner, and an explicit override wins
with a warning naming both owners. Real installed distributions (tests/plugins/dists):
corefw-toy and corefw-toydup register the op ``toy_softclip``, the layer ``ToyScale`` and the
explainer ``toy_saliency`` plainly; corefw-rival overrides all three; corefw-rival-two
overrides ``ToyScale`` too."""

from __future__ import annotations

_STATE = """
    from corefw.plugins import plugin_records
    recs = {r.name: r for r in plugin_records()}
    names = ("toy", "toydup", "rival", "arival")
    out["status"] = {n: recs[n].status for n in names if n in recs}
    out["errors"] = {n: recs[n].error for n in names if n in recs}
    out["notes"] = {n: recs[n].notes for n in names if n in recs}
    out["layer"] = getattr(corefw.layers().get("ToyScale"), "__module__", None)
    out["explainer"] = getattr(corefw.explainers().get("toy_saliency"), "__module__", None)
    from corefw.ops import OPS
    out["op"] = OPS["toy_softclip"].owner if "toy_softclip" in OPS else None
"""
_NO_ALT = {"COREFW_DISABLE_PLUGINS": "alt_cpu"}  # toydup's other entry point (a device type)


def test_a_name_two_distributions_register_is_refused_for_both(snippet, listing):
    out = snippet(_STATE, dists=("toy", "toydup"), env=_NO_ALT)
    assert out["status"] == {"toy": "refused", "toydup": "refused"}
    assert (out["layer"], out["explainer"], out["op"]) == (None, None, None)
    for name in ("toy", "toydup"):
        error = out["errors"][name]
        # the first name settled (ops, then layers, then explainers) refuses the plugin
        assert error.startswith("op 'toy_softclip' is registered by plugins of several "
                                "distributions"), error
        assert "'toy' (corefw-toy 1.2.3)" in error and "'toydup' (corefw-toydup 0.2.0)" in error
        assert "COREFW_OP_OWNER=toy_softclip=<distribution>" in error
    assert len(out["warnings"]) == 2
    for msg in out["warnings"]:
        assert "refused: op 'toy_softclip' is registered by plugins of several" in msg
    recs = listing(("toy", "toydup"), env=_NO_ALT)  # `corefw plugins --json`
    assert recs["toy"]["status"] == recs["toydup"]["status"] == "refused"
    assert recs["toy"]["registers"]["layers"] == [] and recs["toy"]["registers"]["ops"] == []


def test_each_kind_is_settled(snippet):
    # with the op given to corefw-toy, the layer collision refuses both; and so on
    env = {**_NO_ALT, "COREFW_OP_OWNER": "toy_softclip=corefw-toy"}
    out = snippet(_STATE, dists=("toy", "toydup"), env=env)
    assert out["status"] == {"toy": "refused", "toydup": "refused"}
    assert out["errors"]["toy"].startswith("layer 'ToyScale' is registered by plugins of")
    assert "COREFW_LAYER_OWNER=ToyScale=<distribution>" in out["errors"]["toy"]
    env["COREFW_LAYER_OWNER"] = "ToyScale=corefw-toy"
    out = snippet(_STATE, dists=("toy", "toydup"), env=env)
    assert out["errors"]["toy"].startswith("explainer 'toy_saliency' is registered by")
    assert "COREFW_EXPLAINER_OWNER=toy_saliency=<distribution>" in out["errors"]["toy"]


def test_the_user_chooses_each_names_owner(snippet):
    env = {**_NO_ALT, "COREFW_OP_OWNER": "toy_softclip=corefw-toydup",
           "COREFW_LAYER_OWNER": "ToyScale=toydup",  # a plugin name works too
           "COREFW_EXPLAINER_OWNER": "toy_saliency=corefw-toy"}
    out = snippet(_STATE, dists=("toy", "toydup"), env=env)
    assert out["status"] == {"toy": "loaded", "toydup": "loaded"}
    assert (out["op"], out["layer"], out["explainer"]) == (
        "toydup", "corefw_toydup", "corefw_toy.explainers")
    assert "its op 'toy_softclip' is not registered: COREFW_OP_OWNER gives it to " \
           "'corefw-toydup'" in out["notes"]["toy"]
    assert "its layer 'ToyScale' is not registered: COREFW_LAYER_OWNER gives it to " \
           "'toydup'" in out["notes"]["toy"]
    assert "its explainer 'toy_saliency' is not registered: COREFW_EXPLAINER_OWNER gives " \
           "it to 'corefw-toy'" in out["notes"]["toydup"]
    # the choices raise no warning; the one left is the kernel both register for 'cpu',
    # whose device type neither owns (kernels are settled by the device type's owner)
    (msg,) = out["warnings"]
    assert msg.startswith("corefw: kernel 'cpu:toy_softclip' is already registered by")


def test_a_choice_naming_nothing_registered_is_reported(snippet):
    out = snippet("corefw.ones(1)", dists=("toy",),
                  env={"COREFW_LAYER_OWNER": "NoSuchLayer=corefw-toy"})
    (msg,) = out["warnings"]
    assert "COREFW_LAYER_OWNER gives layer 'NoSuchLayer' to 'corefw-toy'" in msg
    bad = snippet("corefw.ones(1)", dists=("toy",), env={"COREFW_OP_OWNER": "oops"})
    assert any("COREFW_OP_OWNER: expected entries like" in m for m in bad["warnings"])


def test_strict_mode_raises_on_a_collision(run_python):
    proc = run_python("-c", "import corefw\ncorefw.ones(1)", dists=("toy", "toydup"),
                      env={**_NO_ALT, "COREFW_STRICT_PLUGINS": "1"})
    assert proc.returncode == 1
    assert "PluginError" in proc.stderr
    assert "op 'toy_softclip' is registered by plugins of several distributions" in proc.stderr
    assert "COREFW_OP_OWNER" in proc.stderr


def test_an_explicit_override_wins_and_warns_naming_both_owners(snippet, run_python):
    out = snippet(_STATE, dists=("toy", "rival"))
    assert out["status"] == {"toy": "loaded", "rival": "loaded"}
    assert (out["op"], out["layer"], out["explainer"]) == ("rival", "corefw_rival",
                                                           "corefw_rival")
    msgs = sorted(out["warnings"])
    assert len(msgs) == 3, msgs
    for kind, name in (("explainer", "toy_saliency"), ("layer", "ToyScale"),
                       ("op", "toy_softclip")):
        (msg,) = [m for m in msgs if f"registered {kind}: '{name}'" in m]
        assert msg == (f"corefw: overriding a previously registered {kind}: '{name}' of "
                       f"'toy' (corefw-toy 1.2.3) is replaced by plugin 'rival' "
                       f"(corefw-rival 3.0.0) (override=True)")
    strict = run_python("-c", "import corefw\ncorefw.ones(1)", dists=("toy", "rival"),
                        env={"COREFW_STRICT_PLUGINS": "1"})
    assert strict.returncode == 1
    assert "overriding a previously registered op: 'toy_softclip'" in strict.stderr


def test_two_distributions_overriding_one_name_are_both_refused(snippet):
    out = snippet(_STATE, dists=("toy", "rival", "rival2"))
    assert out["status"] == {"toy": "loaded", "rival": "refused", "arival": "refused"}
    assert out["layer"] == "corefw_toy.layers"  # the plain registration stands
    for name in ("rival", "arival"):
        error = out["errors"][name]
        assert error.startswith("layer 'ToyScale' is registered with override=True by "
                                "plugins of several distributions"), error
        assert "'arival' (corefw-rival-two 0.0.1)" in error
        assert "'rival' (corefw-rival 3.0.0)" in error
    chosen = snippet(_STATE, dists=("toy", "rival", "rival2"),
                     env={"COREFW_LAYER_OWNER": "ToyScale=corefw-rival-two"})
    assert chosen["status"] == {"toy": "loaded", "rival": "loaded", "arival": "loaded"}
    assert chosen["layer"] == "corefw_rival_two"
    assert chosen["op"] == "rival"  # rival's other overrides stand
