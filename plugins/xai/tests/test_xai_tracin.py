"""TracInCP on linear regression, where per-example gradients have a closed form."""

from __future__ import annotations

import numpy as np
import pytest
from corefw_xai._tracin import TracInCP
from corefw_xai.errors import XaiError

import corefw
from corefw import nn


def _setup(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 1))
    xt, yt = rng.normal(size=(2, 3)), rng.normal(size=(2, 1))
    model = nn.Linear(3, 1).double()
    ckpts, params = [], []
    for i, lr in enumerate([0.5, 0.1]):
        w, b = rng.normal(size=(1, 3)), rng.normal(size=1)
        params.append((w, b, lr))
        path = tmp_path / f"ckpt{i}.safetensors"
        corefw.save({"model_state_dict": {"weight": corefw.tensor(w), "bias": corefw.tensor(b)},
                     "learning_rate": lr}, path)
        ckpts.append(path)
    return model, (x, y), (xt, yt), ckpts, params


def _grad(w, b, x, y):
    """d/d(w, b) of (w.x + b - y)^2, by hand: 2 r [x, 1]."""
    r = x @ w.T + b - y  # (n, 1)
    return 2 * r * np.concatenate([x, np.ones((len(x), 1))], 1)


def test_influence_equals_the_closed_form(tmp_path):
    model, (x, y), (xt, yt), ckpts, params = _setup(tmp_path)
    before = model.weight.detach().clone()
    tr = TracInCP(model, (corefw.tensor(x), corefw.tensor(y)), ckpts,
                  loss_fn=nn.MSELoss(reduction="sum"))
    got = tr.influence((corefw.tensor(xt), corefw.tensor(yt))).numpy()
    want = sum(lr * _grad(w, b, xt, yt) @ _grad(w, b, x, y).T for w, b, lr in params)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(model.weight.detach().numpy(), before.numpy())  # restored
    idx, sc = tr.influence((corefw.tensor(xt), corefw.tensor(yt)), k=3)
    np.testing.assert_array_equal(idx.numpy(), np.argsort(-want, 1)[:, :3])
    np.testing.assert_allclose(sc.numpy(), np.sort(want, 1)[:, ::-1][:, :3])
    idx, _ = tr.influence((corefw.tensor(xt), corefw.tensor(yt)), k=2, proponents=False)
    np.testing.assert_array_equal(idx.numpy(), np.argsort(want, 1)[:, :2])
    si = tr.self_influence().numpy()
    np.testing.assert_allclose(si, sum(lr * (_grad(w, b, x, y) ** 2).sum(1)
                                       for w, b, lr in params), rtol=1e-12)


def test_layers_restrict_the_parameters_and_datasets_are_accepted(tmp_path):
    _, (x, y), (xt, yt), _, _ = _setup(tmp_path)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1)).double()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ds = corefw.data.TensorDataset(corefw.tensor(x), corefw.tensor(y))
    loader = corefw.data.DataLoader(ds, batch_size=3)
    test = (corefw.tensor(xt), corefw.tensor(yt))
    loss = nn.MSELoss(reduction="sum")
    full = TracInCP(model, ds, [state], loss_fn=loss).influence(test).numpy()
    np.testing.assert_allclose(TracInCP(model, loader, [state], loss_fn=loss)
                               .influence(test).numpy(), full)
    last = TracInCP(model, ds, [state], layers=["2"], loss_fn=loss).influence(test).numpy()
    # last layer only: gradient of (v.h + c - y)^2 w.r.t. (v, c) is 2 r [h, 1]
    with corefw.no_grad():
        h = model[1](model[0](corefw.tensor(np.concatenate([xt, x])))).numpy()
    out = h @ model[2].weight.detach().numpy().T + model[2].bias.detach().numpy()
    g = 2 * (out - np.concatenate([yt, y])) * np.concatenate([h, np.ones((9, 1))], 1)
    np.testing.assert_allclose(last, g[:2] @ g[2:].T, rtol=1e-10)
    assert not np.allclose(last, full)


def test_errors():
    model = nn.Linear(3, 1).double()
    data = (corefw.zeros(2, 3, dtype=corefw.float64), corefw.zeros(2, 1, dtype=corefw.float64))
    with pytest.raises(XaiError, match="loss_fn is required"):
        TracInCP(model, data, [model.state_dict()])
    with pytest.raises(XaiError, match="no layers named"):
        TracInCP(model, data, [model.state_dict()], layers=["fc"], loss_fn=nn.MSELoss())
    with pytest.raises(XaiError, match="no checkpoints"):
        TracInCP(model, data, [], loss_fn=nn.MSELoss())
