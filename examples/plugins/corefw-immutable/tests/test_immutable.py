"""immut's own tests (the conformance kit joins them through tests/conftest.py): arrays are
never written, yet in-place ops, views and optimizers behave as on cpu."""

from __future__ import annotations

import numpy as np
import pytest

import corefw

F64 = corefw.float64


def test_registered_from_its_entry_point():
    backend = corefw.dispatch.backends()["immut"]
    assert backend.name == "numpy-immutable"
    assert not {"inplace", "views"} & backend.capabilities


def test_every_array_is_read_only_and_fresh():
    x = corefw.arange(6.0, device="immut").reshape(2, 3)
    for t in (x, x + 1, x.t(), x[0], x.flip(0), x.expand(2, 2, 3)):
        arr = np.asarray(t.detach()._data)  # the backend's own array, read-only
        assert not arr.flags.writeable
    assert x.t()._data.base is None  # movement ops copy


def test_inplace_ops_rebind_the_tensor():
    y = corefw.zeros(3, device="immut")
    y.add_(1)
    y.mul_(corefw.tensor([1.0, 2.0, 3.0], device="immut"))
    y[0] = 7.0
    assert y.tolist() == [7.0, 2.0, 3.0]
    assert y._version == 3
    z = corefw.ones(2, 2, device="immut")
    z.copy_(corefw.tensor([5.0, 6.0], device="immut"))
    assert z.tolist() == [[5.0, 6.0], [5.0, 6.0]]


def test_writes_through_views_reach_the_base_and_every_view():
    base = corefw.zeros(3, 4, device="immut")
    col = base[:, 1]
    flat = base.reshape(12)
    tr = base.t()
    row = base[2]
    row.add_(1)                 # slice -> index_put into the base
    tr[0].fill_(5)              # permute, then slice
    flat[-1] = 9.0              # reshape back
    want = np.zeros((3, 4))
    want[2] += 1
    want[:, 0] = 5
    want.reshape(12)[-1] = 9
    np.testing.assert_array_equal(base.numpy(), want)
    np.testing.assert_array_equal(col.numpy(), want[:, 1])
    np.testing.assert_array_equal(tr.numpy(), want.T)
    np.testing.assert_array_equal(row.numpy(), want[2])
    base.zero_()                # a write to the base reaches its views
    assert col.tolist() == [0.0, 0.0, 0.0] and flat.sum().item() == 0.0
    d = base.detach()
    d.add_(2)                   # detach() shares storage, as on cpu
    assert base.sum().item() == 24.0


def test_write_into_an_expanded_view_is_refused_before_anything_changes():
    x = corefw.zeros(1, 3, device="immut")
    e = x.expand(2, 3)
    with pytest.raises(corefw.errors.ShapeError, match="expanded"):
        e.add_(1)
    assert x.tolist() == [[0.0, 0.0, 0.0]]


def test_gradients_through_inplace_on_views_match_cpu():
    def run(dev):
        a = corefw.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64, device=dev, requires_grad=True)
        b = a * 1
        v = b[0]
        v.mul_(2)
        b.t()[1].exp_()
        (b * b).sum().backward()
        return a.grad.numpy(), b.detach().numpy()

    (g_cpu, b_cpu), (g_im, b_im) = run("cpu"), run("immut")
    np.testing.assert_allclose(b_im, b_cpu, rtol=1e-12)
    np.testing.assert_allclose(g_im, g_cpu, rtol=1e-12)


@pytest.mark.parametrize("model_name,opt", [("mlp", "sgd"), ("cnn", "adam")])
def test_demo_models_train_as_on_cpu(model_name, opt):
    """A few optimizer steps: parameters change, and the losses follow cpu's."""
    from corefw.data.datasets import digits
    from corefw.demo import build_model

    data = digits()
    x = corefw.stack([data[i][0] for i in range(32)])
    y = corefw.tensor([int(data[i][1]) for i in range(32)])
    losses = {}
    for dev in ("cpu", "immut"):
        corefw.manual_seed(0)
        model = build_model(model_name).to(dev)
        before = [p.detach().numpy().copy() for p in model.parameters()]
        if opt == "sgd":
            optim = corefw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        else:
            optim = corefw.optim.Adam(model.parameters(), lr=1e-2)
        xs, ys = x.to(dev), y.to(dev)
        losses[dev] = []
        for _ in range(4):
            optim.zero_grad()
            loss = corefw.nn.functional.cross_entropy(model(xs), ys)
            loss.backward()
            optim.step()
            losses[dev].append(loss.item())
        after = [p.detach().numpy() for p in model.parameters()]
        assert all(not np.array_equal(b, a) for b, a in zip(before, after)), dev
    assert losses["immut"][-1] < losses["immut"][0]
    np.testing.assert_allclose(losses["immut"], losses["cpu"], rtol=1e-4)
