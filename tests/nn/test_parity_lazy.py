"""Lazy layers: shapes read from the first input, the parameter objects kept (optimizers made
before the first call work), dtype/device from .to(), then the eager class."""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.errors import ShapeError


def test_lazy_linear_initialises_in_place():
    corefw.manual_seed(0)
    m = nn.LazyLinear(4).double()
    assert isinstance(m.weight, nn.UninitializedParameter) and m.has_uninitialized_params()
    w = m.weight
    opt = corefw.optim.SGD(m.parameters(), lr=0.5)
    x = t64(np.random.default_rng(0).standard_normal((3, 6)))
    y = m(x)
    assert type(m) is nn.Linear and m.in_features == 6 and m.weight is w
    assert m.weight.shape == (4, 6) and m.weight.dtype is corefw.float64
    assert type(m.weight) is nn.Parameter
    bound = 1 / np.sqrt(6)
    assert np.abs(npy(m.weight)).max() <= bound and np.abs(npy(m.bias)).max() <= bound
    np.testing.assert_allclose(npy(y), npy(x) @ npy(m.weight).T + npy(m.bias), rtol=1e-12)
    before = npy(m.weight).copy()
    y.sum().backward()
    opt.step()
    np.testing.assert_allclose(npy(m.weight), before - 0.5 * npy(x).sum(0), rtol=1e-12)
    fresh = nn.LazyLinear(4).double()
    fresh(x)
    fresh.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(npy(fresh(x)), npy(m(x)))


@pytest.mark.parametrize("name,shape,args,weight", [
    ("LazyConv1d", (2, 3, 9), (4, 3), (4, 3, 3)),
    ("LazyConv2d", (2, 6, 5, 5), (4, 3, 1, 1, 1, 2), (4, 3, 3, 3)),
    ("LazyConv3d", (1, 2, 4, 4, 4), (3, 2), (3, 2, 2, 2, 2)),
    ("LazyConvTranspose1d", (2, 3, 5), (4, 2, 2), (3, 4, 2)),
    ("LazyConvTranspose2d", (2, 3, 5, 5), (4, 2, 2), (3, 4, 2, 2)),
    ("LazyConvTranspose3d", (1, 2, 3, 3, 3), (3, 2), (2, 3, 2, 2, 2)),
])
def test_lazy_convolutions_match_the_eager_layer(name, shape, args, weight):
    corefw.manual_seed(0)
    lazy = getattr(nn, name)(*args)
    x = corefw.randn(*shape)
    y = lazy(x)
    eager_cls = getattr(nn, name[4:])
    assert type(lazy) is eager_cls and tuple(lazy.weight.shape) == weight
    assert lazy.in_channels == shape[1]
    eager = eager_cls(shape[1], *args)
    eager.load_state_dict(lazy.state_dict())
    np.testing.assert_allclose(npy(eager(x)), npy(y), rtol=1e-6)


@pytest.mark.parametrize("name,shape", [("LazyBatchNorm1d", (4, 3)),
                                        ("LazyBatchNorm2d", (4, 3, 5, 5)),
                                        ("LazyBatchNorm3d", (2, 3, 2, 2, 2)),
                                        ("LazyInstanceNorm1d", (3, 6)),
                                        ("LazyInstanceNorm2d", (2, 3, 4, 4)),
                                        ("LazyInstanceNorm3d", (2, 3, 2, 2, 2))])
def test_lazy_norms(name, shape):
    lazy = getattr(nn, name)()
    x = corefw.randn(*shape)
    y = lazy(x)
    eager_cls = getattr(nn, name[4:])
    assert type(lazy) is eager_cls and lazy.num_features == 3
    eager = eager_cls(3)
    if "Batch" in name:
        assert list(lazy.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                           "num_batches_tracked"]
        eager.load_state_dict(lazy.state_dict())
        eager.eval(), lazy.eval()
        np.testing.assert_allclose(npy(eager(x)), npy(lazy(x)), rtol=1e-6)
    else:
        np.testing.assert_allclose(npy(eager(x)), npy(y), rtol=1e-6)


def test_lazy_errors():
    with pytest.raises(ShapeError, match="LazyConv2d: expected a 3-D or 4-D input"):
        nn.LazyConv2d(4, 3)(corefw.randn(5, 5))
    with pytest.raises(ValueError, match="must be divisible by groups"):
        nn.LazyConv1d(4, 3, groups=2)(corefw.randn(1, 3, 9))
