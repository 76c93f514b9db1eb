"""The public API: registration, explain(), the Explanation, targets, batching (fact 13)."""

from __future__ import annotations

import subprocess
import sys
import types

import corefw_xai as X
import numpy as np
import pytest
from xai_models import MLP, N, T

import corefw
from corefw.errors import CorefwError, ShapeError
from corefw.plugins import hookimpl, register_plugin

# every method, with options that make it cheap and deterministic on the 5-feature MLP
METHODS = {
    "saliency": {},
    "input_x_gradient": {},
    "integrated_gradients": {"n_steps": 16},
    "gradient_shap": {"n_samples": 6, "seed": 3, "baselines": T(np.ones((4, 5)) * 0.1)},
    "deeplift": {},
    "deeplift_shap": {"baselines": T(np.linspace(-1, 1, 15).reshape(3, 5))},
    "guided_backprop": {},
    "deconvolution": {},
    "lrp": {},
    "occlusion": {"sliding_window_shapes": (2,)},
    "feature_ablation": {},
    "shapley_values": {},
    "shapley_value_sampling": {"n_samples": 5, "seed": 1},
    "kernel_shap": {"n_samples": 40, "seed": 2},
    "lime": {"n_samples": 30, "seed": 2},
}


def test_plugin_registers_every_explainer():
    names = set(corefw.explainers())
    expected = set(METHODS) | {"noise_tunnel", "feature_permutation", "rise", "layer_activation",
                               "layer_grad_cam", "guided_grad_cam",
                               "layer_integrated_gradients", "grad_cam_plus_plus", "score_cam"}
    assert expected <= names
    assert expected <= set(X.methods())
    assert corefw.explainers()["integrated_gradients"] is X.IntegratedGradients
    records = {r.name: r for r in corefw.plugins.plugin_records()}
    assert records["xai"].status == "loaded"
    assert records["xai"].distribution == "corefw-xai"
    assert "lrp" in records["xai"].registered["explainers"]


def test_third_party_explainer_appears_in_methods():
    class Constant(X.Attribution):
        name = "constant_test_explainer"

        def attribute(self, inputs, target=None):
            return X.Explanation(corefw.ones_like(inputs), target, self.name)

    plugin = types.ModuleType("third_party_xai_test")
    plugin.COREFW_PLUGIN_API = ">=1,<2"

    @hookimpl
    def register_explainers(register):
        register("constant_test_explainer", Constant)

    plugin.register_explainers = register_explainers
    register_plugin(plugin, name="third_party_xai_test")
    assert "constant_test_explainer" in X.methods()
    e = X.explain(lambda x: x.sum(1), T(np.zeros((2, 3))), method="constant_test_explainer")
    assert np.array_equal(N(e), np.ones((2, 3)))


def test_plugin_module_is_light():
    code = ("import sys, corefw_xai._plugin; "
            "heavy = [m for m in ('matplotlib', 'corefw_xai._gradient', 'corefw_xai.viz', "
            "'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"COREFW_PLUGINS": "none", **__import__("os").environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_explain_by_name_matches_the_class(mlp, device):
    x = T(np.random.default_rng(0).normal(size=(3, 5)), device=device)
    a = X.explain(mlp, x, method="integrated_gradients", target=1, n_steps=8,
                  integration="riemann_middle")
    b = X.IntegratedGradients(mlp).attribute(x, target=1, n_steps=8, method="riemann_middle")
    assert np.array_equal(N(a), N(b))
    c = X.explain(mlp, x, method="integrated_gradients", init={"multiply_by_inputs": False},
                  target=1, n_steps=8)
    assert not np.allclose(N(c), N(a))


def test_unknown_method_is_a_typed_error_with_suggestion(mlp, device):
    with pytest.raises(X.errors.UnknownMethodError, match="integrated_gradients") as info:
        X.explain(mlp, T(np.zeros((1, 5)), device=device), method="integrated_gradient")
    assert isinstance(info.value, (CorefwError, ValueError))


def test_explanation_fields(mlp, device):
    x = T(np.random.default_rng(1).normal(size=(4, 5)), device=device)
    e = X.IntegratedGradients(mlp).attribute(x, target=2, n_steps=10)
    assert e.method == "integrated_gradients" and e.targets == 2
    assert e.attributions.shape == x.shape and e.attributions.device == x.device
    assert e.delta.shape == (4,)
    assert e.params["n_steps"] == 10 and e.params["method"] == "gausslegendre"
    # 2 endpoint forwards of 4 examples + 10 steps of 4 examples
    assert e.n_evals == 4 * 2 + 4 * 10
    assert e.seed is None and e.stderr is None
    assert "integrated_gradients" in repr(e) and "max|delta|" in repr(e)
    g = X.GradientShap(mlp).attribute(x, baselines=T(np.zeros((3, 5)), device=device), n_samples=4,
                                      target=0)
    assert isinstance(g.seed, int) and g.stderr.shape == x.shape
    again = X.GradientShap(mlp).attribute(x, baselines=T(np.zeros((3, 5)), device=device),
                                          n_samples=4, target=0, seed=g.seed)
    assert np.array_equal(N(g), N(again))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_batched_equals_single_and_target_forms_agree(name, mlp, device):
    """Fact 13: result[i] equals the single-example result; int / list / tensor targets agree;
    several targets in one call equal separate calls."""
    x = T(np.random.default_rng(4).normal(size=(3, 5)), device=device)
    opts = METHODS[name]
    run = lambda inputs, **kw: X.explain(mlp, inputs, method=name, **opts, **kw)  # noqa: E731
    full = N(run(x, target=1))
    for i in range(3):
        single = N(run(x[i:i + 1], target=1))
        np.testing.assert_allclose(single[0], full[i], rtol=1e-9, atol=1e-12)
    as_list = N(run(x, target=[1, 1, 1]))
    as_tensor = N(run(x, target=corefw.tensor([1, 1, 1], device=device)))
    np.testing.assert_allclose(as_list, full, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_tensor, full, rtol=1e-12, atol=1e-12)
    mixed = N(run(x, target=[0, 2, 1]))
    several = run(x, targets=[0, 1, 2])
    assert several.attributions.shape == (3, 3, 5)
    for i, t in enumerate([0, 2, 1]):
        np.testing.assert_allclose(mixed[i], N(several)[t, i], rtol=1e-9, atol=1e-12)
    if several.delta is not None:
        assert several.delta.shape == (3, 3)


def test_callable_target_equals_index(mlp, device):
    x = T(np.random.default_rng(5).normal(size=(2, 5)), device=device)
    ig = X.IntegratedGradients(mlp)
    by_fn = ig.attribute(x, target=lambda out: out[:, 2] - out[:, 0], n_steps=12)
    a = ig.attribute(x, target=2, n_steps=12)
    b = ig.attribute(x, target=0, n_steps=12)
    np.testing.assert_allclose(N(by_fn), N(a) - N(b), atol=1e-12)


def test_tuple_target_indexes_multi_dim_outputs(device):
    rng = np.random.default_rng(6)
    w = T(rng.normal(size=(4, 6)), device=device)
    model = lambda x: (x @ w).reshape(x.shape[0], 2, 3)  # noqa: E731
    x = T(rng.normal(size=(2, 4)), device=device)
    e = X.Saliency(model).attribute(x, target=(1, 2), abs=False)
    np.testing.assert_allclose(N(e), np.tile(N(w)[:, 5], (2, 1)))
    per = X.Saliency(model).attribute(x, target=[(0, 1), (1, 2)], abs=False)
    np.testing.assert_allclose(N(per), np.stack([N(w)[:, 1], N(w)[:, 5]]))


def test_tuple_inputs(device):
    rng = np.random.default_rng(7)
    wa, wb = rng.normal(size=(3, 1)), rng.normal(size=(2, 1))
    twa, twb = T(wa, device=device), T(wb, device=device)
    model = lambda a, b: (a @ twa + b @ twb).reshape(-1)  # noqa: E731
    a, b = T(rng.normal(size=(4, 3)), device=device), T(rng.normal(size=(4, 2)), device=device)
    e = X.IntegratedGradients(model).attribute((a, b), n_steps=3)
    assert isinstance(e.attributions, tuple) and len(e.attributions) == 2
    np.testing.assert_allclose(N(e.attributions[0]), N(a) * wa[:, 0], atol=1e-12)
    np.testing.assert_allclose(N(e.attributions[1]), N(b) * wb[:, 0], atol=1e-12)


def test_additional_forward_args_are_passed_and_repeated(device):
    rng = np.random.default_rng(8)
    w = T(rng.normal(size=(3, 2)), device=device)
    model = lambda x, scale: (x @ w) * scale  # noqa: E731
    x = T(rng.normal(size=(2, 3)), device=device)
    scale = T([[2.0], [3.0]], device=device)
    e = X.IntegratedGradients(model).attribute(x, target=0, additional_forward_args=(scale,),
                                               n_steps=5, internal_batch_size=3)
    np.testing.assert_allclose(N(e), N(x) * N(w)[:, 0] * np.array([[2.0], [3.0]]), atol=1e-12)


def test_bad_inputs_raise_typed_errors(mlp, device):
    with pytest.raises(ShapeError, match="per-example target"):
        X.Saliency(mlp).attribute(T(np.zeros((3, 5)), device=device), target=[0, 1])
    with pytest.raises(ShapeError, match="out of range"):
        X.Saliency(mlp).attribute(T(np.zeros((3, 5)), device=device), target=7)
    with pytest.raises(ShapeError, match="baselines"):
        X.IntegratedGradients(mlp).attribute(T(np.zeros((3, 5)), device=device),
                                             baselines=T(np.zeros(4), device=device))
    with pytest.raises(TypeError, match="corefw.Tensor"):
        X.Saliency(mlp).attribute(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="gausslegendre"):
        X.IntegratedGradients(mlp).attribute(T(np.zeros((1, 5)), device=device), method="simpson")
    with pytest.raises(ValueError, match="not both"):
        X.Saliency(mlp).attribute(T(np.zeros((1, 5)), device=device), target=0, targets=[0, 1])


def test_results_agree_on_every_backend():
    """Fact 13: every available device gives the cpu result within tolerance."""
    from corefw import dispatch

    mlp = MLP()  # on cpu: the reference

    others = [t for t, b in dispatch.backends().items() if t != "cpu" and b.is_available()]
    if not others:
        pytest.skip("only the cpu backend is available here")
    x = T(np.random.default_rng(9).normal(size=(2, 5)))
    ref = N(X.IntegratedGradients(mlp).attribute(x, target=1, n_steps=8))
    for dev in others:
        moved = MLP()
        moved.tW = [w.to(dev) for w in moved.tW]
        moved.tb = [b.to(dev) for b in moved.tb]
        got = N(X.IntegratedGradients(moved).attribute(x.to(dev), target=1, n_steps=8))
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-8)


def test_parameters_keep_requires_grad_after_attribution_and_errors():
    """Explainers stop parameter gradients during a call (they are never needed) and give
    requires_grad back, also when the model raises."""
    lin = corefw.nn.Linear(5, 3, dtype=corefw.float64)
    x = T(np.random.default_rng(10).normal(size=(2, 5)))
    X.IntegratedGradients(lin).attribute(x, target=0, n_steps=4)
    assert all(p.requires_grad for p in lin.parameters())
    assert lin.weight.grad is None

    class Broken(corefw.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, v):
            self.lin(v)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        X.Saliency(Broken()).attribute(x, target=0)
    assert all(p.requires_grad for p in lin.parameters())
