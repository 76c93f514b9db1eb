"""Captum's layer and neuron methods: closed forms on linear models, conductance's
discretisation by hand, and the engineering facts (batched = single, target forms agree, no
hook left after an error)."""

from __future__ import annotations

import corefw_xai as X
import numpy as np
import pytest
from xai_models import N, T

import corefw
from corefw.errors import ShapeError

nn = corefw.nn
RNG = np.random.default_rng(42)
XS = RNG.normal(size=(3, 5))
BS = RNG.normal(size=(3, 5)) * 0.5
DIST = RNG.normal(size=(2, 5)) * 0.5


def linear_net():
    """F = (x W^T + c) V^T + d: everything is linear, so every method has a closed form."""
    corefw.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 4, dtype=corefw.float64),
                         nn.Linear(4, 3, dtype=corefw.float64))


def relu_net():
    corefw.manual_seed(4)
    return nn.Sequential(nn.Linear(5, 6, dtype=corefw.float64), nn.ReLU(),
                         nn.Linear(6, 4, dtype=corefw.float64), nn.ReLU(),
                         nn.Linear(4, 3, dtype=corefw.float64))


def parts(net):
    W, c = N(net[0].weight), N(net[0].bias)
    V, d = N(net[1].weight), N(net[1].bias)
    return W, c, V, d


def test_layer_methods_closed_forms_on_a_linear_model():
    net = linear_net()
    W, c, V, d = parts(net)
    a_x, a_b = XS @ W.T + c, BS @ W.T + c
    x, b, k = T(XS), T(BS), 2
    v = V[k]
    L = net[0]
    np.testing.assert_allclose(N(X.LayerGradientXActivation(net, L).attribute(x, target=k)),
                               a_x * v, atol=1e-12)
    np.testing.assert_allclose(N(X.LayerGradientXActivation(net, L, multiply_by_inputs=False)
                                 .attribute(x, target=k)), np.tile(v, (3, 1)), atol=1e-12)
    np.testing.assert_allclose(N(X.InternalInfluence(net, L).attribute(x, b, target=k,
                                                                       n_steps=7)),
                               np.tile(v, (3, 1)), atol=1e-12)
    lc = X.LayerConductance(net, L).attribute(x, b, target=k, n_steps=6,
                                              method="riemann_trapezoid")
    np.testing.assert_allclose(N(lc), v * (a_x - a_b), atol=1e-12)
    np.testing.assert_allclose(N(lc.delta), 0.0, atol=1e-12)
    # Gauss-Legendre points stop short of 0 and 1 (Captum's discretisation): the sum of the
    # differences telescopes to (alpha_last - alpha_first) (a(x) - a(x'))
    nodes = (np.polynomial.legendre.leggauss(7)[0] + 1) / 2
    gl = X.LayerConductance(net, L).attribute(x, b, target=k, n_steps=6)
    np.testing.assert_allclose(N(gl), (nodes[-1] - nodes[0]) * v * (a_x - a_b), atol=1e-12)
    dl = X.LayerDeepLift(net, L).attribute(x, b, target=k)
    np.testing.assert_allclose(N(dl), v * (a_x - a_b), atol=1e-12)
    np.testing.assert_allclose(N(dl.delta), 0.0, atol=1e-12)
    a_d = DIST @ W.T + c
    dls = X.LayerDeepLiftShap(net, L).attribute(x, T(DIST), target=k)
    np.testing.assert_allclose(N(dls), v * (a_x - a_d.mean(0)), atol=1e-12)
    gs = X.LayerGradientShap(net, L).attribute(x, T(BS[:1]), n_samples=4, target=k, seed=1)
    np.testing.assert_allclose(N(gs), v * (a_x - a_b[:1]), atol=1e-12)
    np.testing.assert_allclose(N(gs.stderr), 0.0, atol=1e-12)
    fa = X.LayerFeatureAblation(net, L).attribute(x, layer_baselines=0.5, target=k)
    np.testing.assert_allclose(N(fa), v * (a_x - 0.5), atol=1e-12)
    grouped = X.LayerFeatureAblation(net, L).attribute(
        x, target=k, layer_mask=corefw.tensor([[0, 0, 1, 1]]))
    want = np.repeat(np.stack([(v * a_x)[:, :2].sum(1), (v * a_x)[:, 2:].sum(1)], 1), 2, 1)
    np.testing.assert_allclose(N(grouped), want, atol=1e-12)
    fp = X.LayerFeaturePermutation(net, L).attribute(x[:2], target=k, seed=0)
    np.testing.assert_allclose(N(fp), v * (a_x[:2] - a_x[[1, 0]]), atol=1e-12)
    # LRP-epsilon through the linear head: R_j = a_j V_kj F / z with z = F, so a * v, and the
    # bias d_k is what the head absorbed
    lrp = X.LayerLRP(net, L, rule=X.Epsilon(0.0)).attribute(x, target=k)
    np.testing.assert_allclose(N(lrp), a_x * v, atol=1e-12)
    np.testing.assert_allclose(N(lrp.delta), -d[k], atol=1e-12)
    # at the layer's input the Linear's own rule has run: x_i W_ji a_j v_j / a_j summed over j
    lrp_in = X.LayerLRP(net, L, rule=X.Epsilon(0.0)).attribute(x, target=k,
                                                                attribute_to_layer_input=True)
    np.testing.assert_allclose(N(lrp_in), XS * ((a_x * v / a_x) @ W), atol=1e-10)


def test_layer_conductance_of_a_square_is_the_left_riemann_sum():
    # F = y^2 with y = w . x (the layer) and x' = 0: sum_k 2 y_k (y_{k+1} - y_k) with
    # y_k = (k / n) Y on n + 1 trapezoid points gives Y^2 (n - 1) / n
    lin = nn.Linear(3, 1, bias=False, dtype=corefw.float64)
    model = lambda v: lin(v) ** 2  # noqa: E731
    x = T([[1.0, 2.0, -0.5], [0.3, -1.0, 2.0]])
    y = N(x) @ N(lin.weight).T
    for n in (4, 10, 37):
        e = X.LayerConductance(model, lin).attribute(x, target=0, n_steps=n,
                                                     method="riemann_trapezoid",
                                                     internal_batch_size=5)
        np.testing.assert_allclose(N(e), y ** 2 * (n - 1) / n, atol=1e-12)
        np.testing.assert_allclose(N(e.delta), -(y[:, 0] ** 2) / n, atol=1e-12)


def test_layer_conductance_completeness_improves_with_steps():
    # a left Riemann sum of a smooth integrand: the residual falls like 1 / n
    corefw.manual_seed(5)
    net = nn.Sequential(nn.Linear(5, 6, dtype=corefw.float64), nn.Tanh(),
                        nn.Linear(6, 3, dtype=corefw.float64))
    x = T(XS * 2)
    worst = [X.LayerConductance(net, net[0]).attribute(
        x, target=1, n_steps=n, method="riemann_trapezoid").max_abs_delta() for n in (4, 64)]
    assert worst[0] > 1e-3
    assert worst[1] < worst[0] / 8


def test_neuron_methods_closed_forms_on_a_linear_model():
    net = linear_net()
    W, c, V, _ = parts(net)
    x, b, L, j = T(XS), T(BS), net[0], 1
    np.testing.assert_allclose(N(X.NeuronGradient(net, L).attribute(x, j)),
                               np.tile(W[j], (3, 1)), atol=1e-12)
    want = W[j] * (XS - BS)
    for e in (X.NeuronIntegratedGradients(net, L).attribute(x, (j,), b, n_steps=5),
              X.NeuronDeepLift(net, L).attribute(x, (j,), b),
              X.NeuronDeepLift(net, L).attribute(x, j, b),
              X.NeuronFeatureAblation(net, L).attribute(x, j, b)):
        np.testing.assert_allclose(N(e), want, atol=1e-12)
    gs = X.NeuronGradientShap(net, L).attribute(x, (j,), T(BS[:1]), n_samples=3, seed=2)
    np.testing.assert_allclose(N(gs), W[j] * (XS - BS[:1]), atol=1e-12)
    dls = X.NeuronDeepLiftShap(net, L).attribute(x, j, T(DIST))
    np.testing.assert_allclose(N(dls), W[j] * (XS - DIST.mean(0)), atol=1e-12)
    # conductance of target k through neuron j: V_kj W_j (x - x'); summed over the inputs it
    # is the neuron's layer conductance
    k = 2
    nc = X.NeuronConductance(net, L).attribute(x, j, b, target=k, n_steps=4)
    np.testing.assert_allclose(N(nc), V[k, j] * W[j] * (XS - BS), atol=1e-12)
    lc = X.LayerConductance(net, L).attribute(x, b, target=k, n_steps=4,
                                              method="riemann_trapezoid")
    np.testing.assert_allclose(N(nc).sum(1), N(lc)[:, j], atol=1e-12)
    # the ways of selecting a neuron agree; a slice sums the neurons
    by_fn = X.NeuronGradient(net, L).attribute(x, lambda a: a[:, j])
    np.testing.assert_allclose(N(by_fn), np.tile(W[j], (3, 1)), atol=1e-12)
    both = X.NeuronGradient(net, L).attribute(x, (slice(0, 2),))
    np.testing.assert_allclose(N(both), np.tile(W[0] + W[1], (3, 1)), atol=1e-12)


def test_neuron_guided_backprop_and_deconvolution_by_hand():
    net = relu_net()
    W1, c1 = N(net[0].weight), N(net[0].bias)
    W2 = N(net[2].weight)
    z = XS @ W1.T + c1
    j = 3
    g_pos = np.clip(W2[j], 0, None)
    gbp = X.NeuronGuidedBackprop(net, net[2]).attribute(T(XS), j)
    np.testing.assert_allclose(N(gbp), (g_pos * (z > 0)) @ W1, atol=1e-12)
    dec = X.NeuronDeconvolution(net, net[2]).attribute(T(XS), j)
    np.testing.assert_allclose(N(dec), np.tile(g_pos @ W1, (3, 1)), atol=1e-12)
    # the neuron's input (attribute_to_neuron_input): neuron j of the ReLU's output h
    g = X.NeuronGradient(net, net[2]).attribute(T(XS), j, attribute_to_neuron_input=True)
    np.testing.assert_allclose(N(g), (z[:, j:j + 1] > 0) * W1[j], atol=1e-12)


def test_neuron_deeplift_sums_to_the_neuron_difference():
    net = relu_net()
    e = X.NeuronDeepLift(net, net[2]).attribute(T(XS), (2,), T(BS))
    h = lambda v: np.maximum(v @ N(net[0].weight).T + N(net[0].bias), 0) @ \
        N(net[2].weight).T + N(net[2].bias)  # noqa: E731
    np.testing.assert_allclose(N(e).sum(1), h(XS)[:, 2] - h(BS)[:, 2], atol=1e-12)


LAYER = {
    "layer_gradient_x_activation": {},
    "internal_influence": {"n_steps": 6},
    "layer_conductance": {"n_steps": 6},
    "layer_gradient_shap": {"baselines": T(DIST), "n_samples": 4, "seed": 5},
    "layer_deeplift": {"baselines": T(BS[:1])},
    "layer_deeplift_shap": {"baselines": T(DIST)},
    "layer_lrp": {},
    "layer_feature_ablation": {"layer_baselines": 0.2},
}


@pytest.mark.parametrize("name", sorted(LAYER))
def test_layer_methods_batched_equals_single_and_target_forms_agree(name):
    net = relu_net()
    x = T(XS)
    cls = X.lookup(name)
    run = lambda inp, **kw: cls(net, net[2]).attribute(inp, **LAYER[name], **kw)  # noqa: E731
    full = N(run(x, target=1))
    for i in range(3):
        np.testing.assert_allclose(N(run(x[i:i + 1], target=1))[0], full[i], atol=1e-12)
    np.testing.assert_allclose(N(run(x, target=[1, 1, 1])), full, atol=1e-12)
    np.testing.assert_allclose(N(run(x, target=corefw.tensor([1, 1, 1]))), full, atol=1e-12)
    mixed = N(run(x, target=[0, 2, 1]))
    several = run(x, targets=[0, 1, 2])
    assert several.attributions.shape == (3, 3, 4)
    for i, t in enumerate([0, 2, 1]):
        np.testing.assert_allclose(mixed[i], N(several)[t, i], atol=1e-12)
    assert not several.attributions.requires_grad


NEURON = {
    "neuron_gradient": {},
    "neuron_integrated_gradients": {"n_steps": 6},
    "neuron_conductance": {"n_steps": 6, "target": 1},
    "neuron_deeplift": {},
    "neuron_deeplift_shap": {"baselines": T(DIST)},
    "neuron_gradient_shap": {"baselines": T(DIST), "n_samples": 4, "seed": 5},
    "neuron_guided_backprop": {},
    "neuron_deconvolution": {},
    "neuron_feature_ablation": {},
}


@pytest.mark.parametrize("name", sorted(NEURON))
def test_neuron_methods_batched_equals_single_and_selectors_agree(name):
    net = relu_net()
    x = T(XS)
    cls = X.lookup(name)
    run = lambda inp, sel: cls(net, net[2]).attribute(inp, sel, **NEURON[name])  # noqa: E731
    full = N(run(x, (2,)))
    assert np.abs(full).max() > 0
    for i in range(3):
        np.testing.assert_allclose(N(run(x[i:i + 1], (2,)))[0], full[i], atol=1e-12)
    np.testing.assert_allclose(N(run(x, 2)), full, atol=1e-12)
    np.testing.assert_allclose(N(run(x, lambda a: a[:, 2])), full, atol=1e-12)
    assert run(x, 2).method == name


def test_neuron_conductance_target_forms_agree():
    net = relu_net()
    nc = X.NeuronConductance(net, net[2])
    x = T(XS)
    full = N(nc.attribute(x, 1, target=2, n_steps=5))
    np.testing.assert_allclose(N(nc.attribute(x, 1, target=[2, 2, 2], n_steps=5)), full,
                               atol=1e-12)
    several = nc.attribute(x, 1, targets=[0, 2], n_steps=5)
    np.testing.assert_allclose(N(several)[1], full, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LAYER) + sorted(NEURON))
def test_errors_leave_no_hook_behind(name):
    net = relu_net()
    cls = X.lookup(name)
    x = T(XS)
    with pytest.raises(ShapeError):
        if name in LAYER:
            cls(net, net[2]).attribute(x, target=7, **LAYER[name])
        else:
            opts = dict(NEURON[name])
            cls(net, net[2]).attribute(x, (9,), **opts)
    for m in net.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(p.requires_grad for p in net.parameters())


def test_layer_feature_permutation_needs_two_examples():
    net = relu_net()
    with pytest.raises(ShapeError, match="at least 2"):
        X.LayerFeaturePermutation(net, net[2]).attribute(T(XS[:1]), target=0)


def test_every_new_method_is_registered():
    names = set(X.methods())
    assert set(LAYER) | set(NEURON) | {"layer_feature_permutation"} <= names
    assert X.lookup("layer_conductance") is X.LayerConductance


def test_layer_deeplift_custom_attribution_func_gets_layer_activations():
    # Captum's signature: (multipliers, activations at the inputs, at the baselines)
    net = linear_net()
    W, c, V, _ = parts(net)
    a_x, a_b = XS @ W.T + c, BS @ W.T + c
    e = X.LayerDeepLift(net, net[0]).attribute(
        T(XS), T(BS), target=0,
        custom_attribution_func=lambda m, ax, ab: (m[0] * (ax[0] + ab[0]),))
    np.testing.assert_allclose(N(e), V[0] * (a_x + a_b), atol=1e-12)


def test_layer_and_neuron_methods_agree_on_every_backend(device):
    """Fact 13: on every available device the results equal the cpu ones (cpu always runs,
    cuda where a GPU is present)."""
    ref_net, net = relu_net(), relu_net().to(device)
    x = T(XS)
    for name, opts in list(LAYER.items()) + list(NEURON.items()):
        cls = X.lookup(name)
        moved = {k: (v.to(device) if isinstance(v, corefw.Tensor) else v)
                 for k, v in opts.items()}
        if name in LAYER:
            want = N(cls(ref_net, ref_net[2]).attribute(x, target=1, **opts))
            got = cls(net, net[2]).attribute(x.to(device), target=1, **moved)
        else:
            want = N(cls(ref_net, ref_net[2]).attribute(x, 2, **opts))
            got = cls(net, net[2]).attribute(x.to(device), 2, **moved)
        assert got.attributions.device == x.to(device).device
        np.testing.assert_allclose(N(got), want, rtol=1e-6, atol=1e-9, err_msg=name)
