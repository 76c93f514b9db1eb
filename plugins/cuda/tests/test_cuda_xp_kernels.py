"""The plugin's array-module kernels, run here with xp=numpy, against each op's decomposition.

The kernels in :mod:`corefw_cuda.xp_kernels` are written once against ``xp``; on a GPU they run
with cupy (``test_cuda_device.py`` compares them there). Here every kernel is compared with the
op's decomposition evaluated by corefw on the cpu device, in float64 and float32, over geometry
that exercises stride, padding (asymmetric), dilation, groups and ceil_mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from corefw_cuda.xp_kernels import kernels

import corefw
import corefw.nn  # noqa: F401 - registers the nn ops
from corefw.ops.registry import OPS

TABLE = kernels(np, add_at=np.add.at)
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}


def _decomposed(name, arrays, attrs):
    op = OPS[name]
    args = [corefw.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
            for a in arrays]
    with corefw.no_grad():
        return op.decomposition(*args, **attrs).numpy()


def _check(name, arrays, attrs, dtype):
    arrays = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
              for a in arrays]
    got = TABLE[name](*arrays, **attrs)
    want = _decomposed(name, arrays, attrs)
    assert isinstance(got, np.ndarray)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                   got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, **TOL[dtype])


CONV = [  # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((2, 4, 9, 8), (6, 2, 3, 2), (2, 1), ((0, 2), (1, 0)), (1, 2), 2),
    ((1, 2, 5, 5), (3, 2, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((2, 3, 8, 7), (3, 1, 2, 3), (2, 3), ((1, 0), (2, 2)), (2, 1), 3),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("geo", CONV, ids=[f"conv{i}" for i in range(len(CONV))])
def test_conv2d_and_gradients_match_decomposition(rng, geo, dtype):
    xs, ws, stride, padding, dilation, groups = geo
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[0])
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    _check("conv2d", (x, w, b), attrs, dtype)
    _check("conv2d", (x, w, None), attrs, dtype)
    y = TABLE["conv2d"](x, w, None, **attrs)
    g = rng.normal(size=y.shape)
    _check("conv2d_grad_input", (g, w), dict(attrs, input_size=xs[2:]), dtype)
    _check("conv2d_grad_weight", (x, g), dict(attrs, kernel_size=ws[2:]), dtype)


def test_conv2d_matches_direct_sum(rng):
    """An independent check: the definition of cross-correlation as a loop."""
    x, w = rng.normal(size=(1, 2, 5, 6)), rng.normal(size=(3, 2, 2, 3))
    y = TABLE["conv2d"](x, w, None, stride=(1, 2), padding=((0, 0), (0, 0)), dilation=(1, 1),
                        groups=1)
    want = np.zeros((1, 3, 4, 2))
    for o in range(3):
        for i in range(4):
            for j in range(2):
                want[0, o, i, j] = (x[0, :, i:i + 2, 2 * j:2 * j + 3] * w[o]).sum()
    np.testing.assert_allclose(y, want, rtol=1e-12)


POOL = [  # (x shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((2, 2, 8, 9), (3, 3), (2, 3), (1, 0), (2, 1), True),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("geo", POOL, ids=[f"pool{i}" for i in range(len(POOL))])
def test_max_pool2d_family_matches_decomposition(rng, geo, dtype):
    xs, k, s, p, d, ceil = geo
    x = rng.normal(size=xs)
    x[0, 0, 1, :] = x[0, 0, 0, :]  # ties: the first maximum wins
    attrs = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    _check("max_pool2d", (x,), attrs, dtype)
    got = TABLE["max_pool2d_indices"](x.astype(dtype), **attrs)
    np.testing.assert_array_equal(got, _decomposed("max_pool2d_indices", (x.astype(dtype),),
                                                   attrs))
    out = TABLE["max_pool2d"](x, **attrs)
    g = rng.normal(size=out.shape)
    _check("max_pool2d_grad_input", (x, out, g), attrs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("count_include_pad,divisor", [(True, None), (False, None), (True, 5)])
@pytest.mark.parametrize("geo", POOL[:2], ids=["pool0", "pool1"])
def test_avg_pool2d_matches_decomposition(rng, geo, count_include_pad, divisor, dtype):
    xs, k, s, p, _, ceil = geo
    x = rng.normal(size=xs)
    attrs = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil,
                 count_include_pad=count_include_pad, divisor_override=divisor)
    _check("avg_pool2d", (x,), attrs, dtype)
    out = TABLE["avg_pool2d"](x, **attrs)
    g = rng.normal(size=out.shape)
    _check("avg_pool2d_grad_input", (g,), dict(attrs, input_size=xs[2:]), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,shape,attrs,pshape", [
    ("batch_norm", (4, 3, 5, 2), dict(eps=1e-5), (3,)),
    ("batch_norm", (6, 3), dict(eps=1e-3), (3,)),
    ("layer_norm", (2, 3, 4), dict(eps=1e-5, ndim=2), (3, 4)),
    ("group_norm", (2, 6, 3, 2), dict(eps=1e-5, num_groups=3), (6,)),
])
def test_norms_match_decomposition(rng, kind, shape, attrs, pshape, dtype):
    x = rng.normal(size=shape) * 3 + 1
    w, b = rng.normal(size=pshape), rng.normal(size=pshape)
    _check(kind, (x, w, b), attrs, dtype)
    _check(kind, (x, None, None), attrs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_losses_match_decomposition(rng, reduction, weighted, smoothing, dtype):
    x = rng.normal(size=(7, 5))
    target = rng.integers(0, 5, size=7)
    target[2] = -100
    weight = rng.uniform(0.5, 2, size=5) if weighted else None
    _check("cross_entropy", (x, target, weight),
           dict(ignore_index=-100, label_smoothing=smoothing, reduction=reduction), dtype)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    _check("nll_loss", (logp, target, weight), dict(ignore_index=-100, reduction=reduction),
           dtype)


def test_every_kernel_names_a_registered_op():
    assert set(TABLE) <= set(OPS), sorted(set(TABLE) - set(OPS))
