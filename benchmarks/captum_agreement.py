"""corefw-xai's layer and neuron methods against Captum on identical float64 models.

    pip install captum torch==2.13.0     # for this comparison only, never a dependency
    python benchmarks/captum_agreement.py

Builds the same MLP (5 -> 6 -> ReLU -> 4 -> ReLU -> 3) and a small CNN (conv -> ReLU ->
max pool -> conv -> ReLU -> avg pool -> linear) in corefw and PyTorch (weights copied), runs
every layer and neuron method with the same options in both and prints the largest absolute
difference of the attributions. Stochastic methods are compared where their draws cannot
matter (one baseline, a model linear where the random point lies, a batch of two examples for
the permutation methods).
"""

from __future__ import annotations

import sys

import corefw_xai as X
import numpy as np

import corefw


def corefw_mlp():
    nn = corefw.nn
    corefw.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 6, dtype=corefw.float64), nn.ReLU(),
                         nn.Linear(6, 4, dtype=corefw.float64), nn.ReLU(),
                         nn.Linear(4, 3, dtype=corefw.float64)).eval()


def corefw_cnn():
    nn = corefw.nn
    corefw.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, dtype=corefw.float64), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, padding=1, dtype=corefw.float64),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 2 * 2, 3, dtype=corefw.float64)).eval()


def torch_twin(model, torch):
    tn = torch.nn
    layers = []
    for m in model:
        kind = type(m).__name__
        if kind == "Linear":
            layers.append(tn.Linear(m.in_features, m.out_features))
        elif kind == "Conv2d":
            layers.append(tn.Conv2d(m.in_channels, m.out_channels, m.kernel_size,
                                    padding=m.padding))
        elif kind == "ReLU":
            layers.append(tn.ReLU())
        elif kind == "MaxPool2d":
            layers.append(tn.MaxPool2d(2))
        elif kind == "AvgPool2d":
            layers.append(tn.AvgPool2d(2))
        elif kind == "Flatten":
            layers.append(tn.Flatten())
    tm = tn.Sequential(*layers).double().eval()
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), dtype=np.float64))
                        for k, v in model.state_dict().items()})
    return tm


def cases(cm, tm, x, b, dist, A, torch):
    """(name, corefw thunk, Captum thunk) triples."""
    tx, tb, td = (torch.from_numpy(a) for a in (x, b, dist))
    cx, cb, cd = (corefw.tensor(a) for a in (x, b, dist))
    target = 1
    lay, tlay = cm[2], tm[2]   # the middle Linear
    first, tfirst = cm[0], tm[0]
    last, tlast = cm[4], tm[4]
    yield ("LayerGradientXActivation",
           lambda: X.LayerGradientXActivation(cm, lay).attribute(cx, target=target),
           lambda: A.LayerGradientXActivation(tm, tlay).attribute(tx, target=target))
    for method in ("gausslegendre", "riemann_trapezoid"):
        yield (f"InternalInfluence {method}",
               lambda m=method: X.InternalInfluence(cm, lay).attribute(
                   cx, cb, target=target, n_steps=20, method=m),
               lambda m=method: A.InternalInfluence(tm, tlay).attribute(
                   tx, tb, target=target, n_steps=20, method=m))
        yield (f"LayerConductance {method}",
               lambda m=method: X.LayerConductance(cm, lay).attribute(
                   cx, cb, target=target, n_steps=20, method=m),
               lambda m=method: A.LayerConductance(tm, tlay).attribute(
                   tx, tb, target=target, n_steps=20, method=m))
    yield ("LayerDeepLift", lambda: X.LayerDeepLift(cm, lay).attribute(cx, cb, target=target),
           lambda: A.LayerDeepLift(tm, tlay).attribute(tx, tb, target=target))
    yield ("LayerDeepLift (layer input)",
           lambda: X.LayerDeepLift(cm, lay).attribute(cx, cb, target=target,
                                                      attribute_to_layer_input=True),
           lambda: A.LayerDeepLift(tm, tlay).attribute(tx, tb, target=target,
                                                       attribute_to_layer_input=True))
    yield ("LayerDeepLiftShap",
           lambda: X.LayerDeepLiftShap(cm, lay).attribute(cx, cd, target=target),
           lambda: A.LayerDeepLiftShap(tm, tlay).attribute(tx, td, target=target))
    # F is linear in the last layer's input: the random point does not matter
    yield ("LayerGradientShap (1 baseline)",
           lambda: X.LayerGradientShap(cm, last).attribute(
               cx, cb[:1], n_samples=7, target=target, attribute_to_layer_input=True, seed=0),
           lambda: A.LayerGradientShap(tm, tlast).attribute(
               tx, tb[:1], n_samples=7, target=target, attribute_to_layer_input=True))
    yield ("LayerFeatureAblation",
           lambda: X.LayerFeatureAblation(cm, lay).attribute(cx, target=target),
           lambda: A.LayerFeatureAblation(tm, tlay).attribute(tx, target=target))
    yield ("LayerFeatureAblation (mask, baseline)",
           lambda: X.LayerFeatureAblation(cm, lay).attribute(
               cx, layer_baselines=0.5, target=target,
               layer_mask=corefw.tensor([[0, 0, 1, 1]])),
           lambda: A.LayerFeatureAblation(tm, tlay).attribute(
               tx, layer_baselines=0.5, target=target, layer_mask=torch.tensor([[0, 0, 1, 1]])))
    # Captum 0.9's LayerFeaturePermutation fails with target= (it selects the target twice):
    # both explain the target column as the model's only output
    yield ("LayerFeaturePermutation (batch 2)",
           lambda: X.LayerFeaturePermutation(lambda v: cm(v)[:, target], lay).attribute(
               cx[:2], seed=0),
           lambda: A.LayerFeaturePermutation(lambda v: tm(v)[:, target], tlay).attribute(
               tx[:2]))
    yield ("LayerLRP", lambda: X.LayerLRP(cm, lay).attribute(cx, target=target),
           lambda: A.LayerLRP(tm, tlay).attribute(tx, target=target))
    yield ("LayerLRP (layer input)",
           lambda: X.LayerLRP(cm, lay).attribute(cx, target=target,
                                                 attribute_to_layer_input=True),
           lambda: A.LayerLRP(tm, tlay).attribute(tx, target=target,
                                                  attribute_to_layer_input=True))
    for sel in ((1,), 2):
        yield (f"NeuronGradient {sel}",
               lambda s=sel: X.NeuronGradient(cm, lay).attribute(cx, s),
               lambda s=sel: A.NeuronGradient(tm, tlay).attribute(tx, s))
    yield ("NeuronGradient callable",
           lambda: X.NeuronGradient(cm, lay).attribute(cx, lambda a: a[:, 1] * a[:, 2]),
           lambda: A.NeuronGradient(tm, tlay).attribute(tx, lambda a: a[:, 1] * a[:, 2]))
    yield ("NeuronIntegratedGradients",
           lambda: X.NeuronIntegratedGradients(cm, lay).attribute(cx, (1,), cb, n_steps=20),
           lambda: A.NeuronIntegratedGradients(tm, tlay).attribute(tx, (1,), tb, n_steps=20))
    yield ("NeuronConductance",
           lambda: X.NeuronConductance(cm, lay).attribute(cx, (1,), cb, target=target,
                                                          n_steps=20),
           lambda: A.NeuronConductance(tm, tlay).attribute(tx, (1,), tb, target=target,
                                                           n_steps=20))
    yield ("NeuronConductance gausslegendre",
           lambda: X.NeuronConductance(cm, lay).attribute(cx, (1,), cb, target=target,
                                                          n_steps=20, method="gausslegendre"),
           lambda: A.NeuronConductance(tm, tlay).attribute(tx, (1,), tb, target=target,
                                                           n_steps=20, method="gausslegendre"))
    yield ("NeuronDeepLift",
           lambda: X.NeuronDeepLift(cm, lay).attribute(cx, (1,), cb),
           lambda: A.NeuronDeepLift(tm, tlay).attribute(tx, (1,), tb))
    yield ("NeuronDeepLiftShap",
           lambda: X.NeuronDeepLiftShap(cm, lay).attribute(cx, (1,), cd),
           lambda: A.NeuronDeepLiftShap(tm, tlay).attribute(tx, (1,), td))
    # the first layer's neuron is linear in x: the random point does not matter
    yield ("NeuronGradientShap (1 baseline)",
           lambda: X.NeuronGradientShap(cm, first).attribute(cx, (2,), cb[:1], n_samples=7,
                                                             seed=0),
           lambda: A.NeuronGradientShap(tm, tfirst).attribute(tx, (2,), tb[:1], n_samples=7))
    yield ("NeuronGuidedBackprop",
           lambda: X.NeuronGuidedBackprop(cm, lay).attribute(cx, (1,)),
           lambda: A.NeuronGuidedBackprop(tm, tlay).attribute(tx, (1,)))
    yield ("NeuronDeconvolution",
           lambda: X.NeuronDeconvolution(cm, lay).attribute(cx, (1,)),
           lambda: A.NeuronDeconvolution(tm, tlay).attribute(tx, (1,)))
    yield ("NeuronFeatureAblation",
           lambda: X.NeuronFeatureAblation(cm, lay).attribute(cx, (1,), cb),
           lambda: A.NeuronFeatureAblation(tm, tlay).attribute(tx, (1,), tb))


def rule_cases(cm, tm, x, A, torch):
    """Captum's rule names set as ``module.rule`` on both models (Captum's convention)."""
    from captum.attr._utils import lrp_rules as R

    tx, cx = torch.from_numpy(x), corefw.tensor(x)
    for name, kw in (("GammaRule", {"gamma": 0.5}), ("Alpha1_Beta0_Rule", {}),
                     ("EpsilonRule", {"epsilon": 0.1}),
                     ("GammaRule", {"gamma": 0.5, "set_bias_to_zero": True})):
        def ours(name=name, kw=kw):
            for i in (0, 2):
                cm[i].rule = getattr(X, name)(**kw)
            try:
                return X.LRP(cm).attribute(cx, target=1)
            finally:
                for i in (0, 2):
                    del cm[i].rule

        def theirs(name=name, kw=kw):
            for i in (0, 2):
                tm[i].rule = getattr(R, name)(**kw)
            return A.LRP(tm).attribute(tx, target=1)
        yield f"LRP {name} {kw}", ours, theirs


def cnn_cases(cm, tm, x, A, torch):
    tx, cx = torch.from_numpy(x), corefw.tensor(x)

    class Twin(torch.nn.Module):  # Captum's LRP fails on nn.Flatten: flatten functionally
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = tm[:6], tm[7]

        def forward(self, v):
            return self.head(self.body(v).flatten(1))

    tm = Twin()
    yield ("LRP CNN (max + avg pool)", lambda: X.LRP(cm).attribute(cx, target=2),
           lambda: A.LRP(tm).attribute(tx, target=2))
    yield ("LayerLRP CNN conv 2", lambda: X.LayerLRP(cm, cm[3]).attribute(cx, target=2),
           lambda: A.LayerLRP(tm, tm.body[3]).attribute(tx, target=2))
    yield ("LayerConductance CNN conv 1",
           lambda: X.LayerConductance(cm, cm[0]).attribute(cx, target=2, n_steps=16),
           lambda: A.LayerConductance(tm, tm.body[0]).attribute(tx, target=2, n_steps=16))
    yield ("NeuronConductance CNN (1, 2, 2)",
           lambda: X.NeuronConductance(cm, cm[3]).attribute(cx, (1, 2, 2), target=2,
                                                            n_steps=16),
           lambda: A.NeuronConductance(tm, tm.body[3]).attribute(tx, (1, 2, 2), target=2,
                                                            n_steps=16))
    yield ("LayerDeepLift CNN conv 2",
           lambda: X.LayerDeepLift(cm, cm[3]).attribute(cx, target=2),
           lambda: A.LayerDeepLift(tm, tm.body[3]).attribute(tx, target=2))


def main() -> int:
    try:
        import captum.attr as A
        import torch
    except ImportError as exc:
        print(f"not run: {exc.name} is not installed (pip install captum torch)")
        return 0
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5)) * 0.3
    dist = rng.normal(size=(3, 5)) * 0.5
    mlp = corefw_mlp()
    rows = list(cases(mlp, torch_twin(mlp, torch), x, b, dist, A, torch))
    rows += list(rule_cases(mlp, torch_twin(mlp, torch), x, A, torch))
    cnn = corefw_cnn()
    rows += list(cnn_cases(cnn, torch_twin(cnn, torch), rng.uniform(size=(3, 1, 8, 8)), A,
                           torch))
    print(f"{'method':<56}{'max|corefw - captum|':>22}{'max|captum|':>14}")
    worst = 0.0
    for name, ours, theirs in rows:
        a = ours().numpy()
        t = theirs()
        t = (t[0] if isinstance(t, tuple) else t).detach().numpy()
        diff = float(np.max(np.abs(a - t)))
        worst = max(worst, diff)
        print(f"{name:<56}{diff:>22.2e}{float(np.max(np.abs(t))):>14.3g}")
    print(f"largest difference: {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
