"""Conv3d / ConvTranspose3d, 3-D max/avg pooling, adaptive pooling and LPPool: forward
against float64 numpy loops written from the definitions, backward by finite differences,
state_dict keys, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
from corefw import nn
from corefw.autograd import gradcheck
from corefw.errors import ShapeError
from corefw.nn import functional as F

RNG = np.random.default_rng(0)


def _conv3d_ref(x, w, b, s, p, d, g):
    n, c, *size = x.shape
    o, cg, *k = w.shape
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    out_sz = [(size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(3)]
    y = np.zeros((n, o, *out_sz))
    og = o // g
    for oc, *pos in itertools.product(range(o), *[range(m) for m in out_sz]):
        grp = oc // og
        for ki in itertools.product(*[range(m) for m in k]):
            idx = tuple(pos[i] * s[i] + ki[i] * d[i] for i in range(3))
            y[(slice(None), oc, *pos)] += (xp[(slice(None), slice(grp * cg, (grp + 1) * cg),
                                               *idx)] * w[(oc, slice(None), *ki)]).sum(1)
    return y + (0 if b is None else b.reshape(1, -1, 1, 1, 1))


def _conv_t3d_ref(x, w, b, s, p, op, g, d):
    n, c, *size = x.shape
    _, og, *k = w.shape
    full = [(size[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 + op[i] for i in range(3)]
    y = np.zeros((n, og * g, *[f + p[i] for i, f in enumerate(full)]))
    cg = c // g
    for ic, *pos in itertools.product(range(c), *[range(m) for m in size]):
        grp = ic // cg
        for ki in itertools.product(*[range(m) for m in k]):
            idx = tuple(pos[i] * s[i] + ki[i] * d[i] for i in range(3))
            y[(slice(None), slice(grp * og, (grp + 1) * og), *idx)] += \
                x[(slice(None), ic, *pos)][:, None] * w[(ic, slice(None), *ki)][None]
    out = [full[i] - 2 * p[i] for i in range(3)]
    y = y[:, :, p[0]:p[0] + out[0], p[1]:p[1] + out[1], p[2]:p[2] + out[2]]
    return y + (0 if b is None else b.reshape(1, -1, 1, 1, 1))


CONV = [((1, 1, 1), (0, 0, 0), (1, 1, 1), 1), ((2, 1, 2), (1, 0, 1), (1, 2, 1), 2)]


@pytest.mark.parametrize("s,p,d,g", CONV)
def test_conv3d(s, p, d, g):
    x = RNG.standard_normal((2, 4, 5, 6, 5))
    w = RNG.standard_normal((6, 4 // g, 2, 3, 2))
    b = RNG.standard_normal(6)
    y = F.conv3d(t64(x), t64(w), t64(b), s, p, d, g)
    np.testing.assert_allclose(npy(y), _conv3d_ref(x, w, b, s, p, d, g), rtol=1e-10,
                               atol=1e-12)
    xs = t64(x[:1, :, :3, :5, :3], True)
    assert gradcheck(lambda a, c, e: F.conv3d(a, c, e, s, p, d, g),
                     (xs, t64(w, True), t64(b, True)))


@pytest.mark.parametrize("s,p,op,d,g", [((1, 1, 1), (0, 0, 0), (0, 0, 0), (1, 1, 1), 1),
                                        ((2, 1, 3), (1, 0, 1), (1, 0, 2), (1, 2, 1), 2)])
def test_conv_transpose3d(s, p, op, d, g):
    x = RNG.standard_normal((2, 4, 3, 4, 3))
    w = RNG.standard_normal((4, 3, 2, 3, 2))
    b = RNG.standard_normal(3 * g)
    y = F.conv_transpose3d(t64(x), t64(w), t64(b), s, p, op, g, d)
    np.testing.assert_allclose(npy(y), _conv_t3d_ref(x, w, b, s, p, op, g, d), rtol=1e-10,
                               atol=1e-12)
    assert gradcheck(lambda a, c: F.conv_transpose3d(a, c, None, s, p, op, g, d),
                     (t64(x[:1, :, :2, :2, :2], True), t64(w, True)))


def test_conv3d_modules():
    corefw.manual_seed(0)
    m = nn.Conv3d(2, 4, (2, 3, 1), padding="same", padding_mode="replicate").double()
    assert list(m.state_dict()) == ["weight", "bias"] and m.weight.shape == (4, 2, 2, 3, 1)
    x = RNG.standard_normal((1, 2, 3, 4, 2))
    xp = np.pad(x, [(0, 0), (0, 0), (0, 1), (1, 1), (0, 0)], mode="edge")
    want = _conv3d_ref(xp, npy(m.weight), npy(m.bias), (1,) * 3, (0,) * 3, (1,) * 3, 1)
    np.testing.assert_allclose(npy(m(t64(x))), want, rtol=1e-10)
    t = nn.ConvTranspose3d(2, 3, 2, stride=2).double()
    assert t.weight.shape == (2, 3, 2, 2, 2)
    assert t(t64(x), output_size=(7, 9, 5)).shape == (1, 3, 7, 9, 5)
    assert t(t64(x[0])).shape == (3, 6, 8, 4)
    with pytest.raises(ShapeError, match="expected input of shape"):
        m(t64(np.ones((1, 3, 3, 3, 3))))


# -- pooling ---------------------------------------------------------------------------------
def _out(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def _pool3d_ref(x, k, s, p, d, ceil, kind, include_pad=True, divisor=None):
    n, c, *size = x.shape
    outs = [_out(size[i], k[i], s[i], p[i], d[i], ceil) for i in range(3)]
    y = np.zeros((n, c, *outs))
    for pos in itertools.product(*[range(m) for m in outs]):
        cells, count_pad = [], 1
        for i in range(3):
            start = pos[i] * s[i] - p[i]
            idx = [start + j * d[i] for j in range(k[i])]
            valid = [q for q in idx if 0 <= q < size[i]]
            cells.append(valid)
            count_pad *= min(start + k[i], size[i] + p[i]) - start
        win = x[:, :, cells[0]][:, :, :, cells[1]][:, :, :, :, cells[2]].reshape(n, c, -1)
        if kind == "max":
            y[(slice(None), slice(None), *pos)] = win.max(-1)
        else:
            div = divisor or (count_pad if include_pad else win.shape[-1])
            y[(slice(None), slice(None), *pos)] = win.sum(-1) / div
    return y


POOLS = [((2, 2, 2), None, (0, 0, 0), (1, 1, 1), False),
         ((3, 2, 2), (2, 1, 2), (1, 1, 0), (1, 2, 1), True)]


@pytest.mark.parametrize("k,s,p,d,ceil", POOLS)
def test_max_pool3d(k, s, p, d, ceil):
    x = RNG.standard_normal((2, 2, 5, 6, 5))
    y = nn.MaxPool3d(k, s, p, d, ceil_mode=ceil)(t64(x))
    np.testing.assert_array_equal(npy(y), _pool3d_ref(x, k, s or k, p, d, ceil, "max"))
    assert gradcheck(lambda t: F.max_pool3d(t, k, s, p, d, ceil),
                     (t64(x[:1, :1], True),))


@pytest.mark.parametrize("k,s,p,_,ceil", POOLS)
@pytest.mark.parametrize("include_pad,divisor", [(True, None), (False, None), (True, 5)])
def test_avg_pool3d(k, s, p, _, ceil, include_pad, divisor):
    x = RNG.standard_normal((2, 2, 5, 6, 5))
    y = nn.AvgPool3d(k, s, p, ceil, include_pad, divisor)(t64(x))
    want = _pool3d_ref(x, k, s or k, p, (1, 1, 1), ceil, "avg", include_pad, divisor)
    np.testing.assert_allclose(npy(y), want, rtol=1e-12)
    assert gradcheck(lambda t: F.avg_pool3d(t, k, s, p, ceil, include_pad, divisor),
                     (t64(x[:1, :1], True),))


def _adaptive_ref(x, size, reduce):
    nd = len(size)
    spatial = x.shape[2:]
    y = np.zeros(x.shape[:2] + tuple(size))
    for pos in itertools.product(*[range(o) for o in size]):
        key = [slice(None), slice(None)]
        for i in range(nd):
            n, o = spatial[i], size[i]
            key.append(slice((pos[i] * n) // o, -((-(pos[i] + 1) * n) // o)))
        win = x[tuple(key)].reshape(*x.shape[:2], -1)
        y[(slice(None), slice(None), *pos)] = reduce(win, -1)
    return y


@pytest.mark.parametrize("size", [(2, 3, 4), (5, 1, 3), (3, 7, 2)])
def test_adaptive_pools(size):
    x = RNG.standard_normal((2, 3, 5, 7, 4))
    np.testing.assert_allclose(npy(nn.AdaptiveAvgPool3d(size)(t64(x))),
                               _adaptive_ref(x, size, np.mean), rtol=1e-12)
    np.testing.assert_array_equal(npy(nn.AdaptiveMaxPool3d(size)(t64(x))),
                                  _adaptive_ref(x, size, np.max))
    np.testing.assert_array_equal(npy(nn.AdaptiveMaxPool2d(size[1:])(t64(x[:, :, 0]))),
                                  _adaptive_ref(x[:, :, 0], size[1:], np.max))
    np.testing.assert_array_equal(npy(nn.AdaptiveMaxPool1d(size[1])(t64(x[:, :, 0, 0]))),
                                  _adaptive_ref(x[:, :, 0, 0], size[1:2], np.max))
    assert gradcheck(lambda t: F.adaptive_avg_pool3d(t, size), (t64(x[:1, :1], True),))
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, size[1:]),
                     (t64(x[:1, :1, 0], True),))


def _first_argmax_flat(x, windows):
    """Flat input index of the first maximum (row-major) of each window (tuple of slices)."""
    spatial = x.shape[2:]
    out = []
    for key in windows:
        sub = x[(slice(None), slice(None)) + key]
        k = sub.reshape(*x.shape[:2], -1).argmax(-1)
        local = np.unravel_index(k, sub.shape[2:])
        out.append(np.ravel_multi_index(tuple(s.start + li for s, li in zip(key, local)),
                                        spatial))
    return np.stack(out, -1)


def test_max_pool_indices_pick_the_first_maximum():
    x = RNG.integers(0, 3, (2, 2, 5, 6, 5)).astype(np.float64)  # many ties
    v, idx = nn.MaxPool3d((2, 3, 2), (2, 2, 3), return_indices=True)(t64(x))
    wins = [tuple(slice(o * s, o * s + k) for o, s, k in zip(cell, (2, 2, 3), (2, 3, 2)))
            for cell in np.ndindex(*v.shape[2:])]
    want = _first_argmax_flat(x, wins).reshape(idx.shape)
    np.testing.assert_array_equal(idx.numpy(), want)
    assert idx.dtype is corefw.int64
    for size in ((2, 3, 4), (5, 1, 3)):
        v, idx = nn.AdaptiveMaxPool3d(size, return_indices=True)(t64(x))
        wins = [tuple(slice((i * n) // o, -((-(i + 1) * n) // o)) for i, n, o in
                      zip(cell, x.shape[2:], size)) for cell in np.ndindex(*size)]
        np.testing.assert_array_equal(idx.numpy(), _first_argmax_flat(x, wins).reshape(
            idx.shape))
    v2, idx2 = F.adaptive_max_pool2d(t64(x[0, :, 0]), (3, 4), return_indices=True)
    assert idx2.shape == (2, 3, 4)
    np.testing.assert_array_equal(
        np.take_along_axis(x[0, :, 0].reshape(2, -1), idx2.numpy().reshape(2, -1), 1),
        npy(v2).reshape(2, -1))


def test_adaptive_none_keeps_a_dim():
    x = t64(RNG.standard_normal((1, 2, 5, 6)))
    assert nn.AdaptiveMaxPool2d((None, 3))(x).shape == (1, 2, 5, 3)


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_lp_pool(p):
    x = np.abs(RNG.standard_normal((2, 3, 6, 7))) + 0.1
    y = nn.LPPool2d(p, (2, 3), stride=(2, 2))(t64(x))
    want = np.zeros((2, 3, 3, 3))
    for i in range(3):
        for j in range(3):
            want[:, :, i, j] = ((x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 3] ** p).sum((2, 3))
                                ) ** (1 / p)
    np.testing.assert_allclose(npy(y), want, rtol=1e-12)
    y1 = nn.LPPool1d(p, 3)(t64(x[:, :, 0]))
    want1 = np.stack([(x[:, :, 0, 3 * i:3 * i + 3] ** p).sum(-1) ** (1 / p) for i in range(2)],
                     -1)
    np.testing.assert_allclose(npy(y1), want1, rtol=1e-12)
    y3 = nn.LPPool3d(p, 2)(t64(x[:, None, :, :4, :4]))
    assert y3.shape == (2, 1, 1, 2, 2)
    assert gradcheck(lambda t: F.lp_pool2d(t, p, 2), (t64(x[:1, :1, :4, :4], True),))


def test_conv_tbc():
    x = RNG.standard_normal((6, 2, 3))  # (T, B, C_in)
    w = RNG.standard_normal((3, 3, 4))  # (k, C_in, C_out)
    b = RNG.standard_normal(4)
    xp = np.pad(x, [(1, 1), (0, 0), (0, 0)])
    want = np.stack([np.einsum("kbc,kco->bo", xp[t:t + 3], w) for t in range(6)]) + b
    np.testing.assert_allclose(npy(F.conv_tbc(t64(x), t64(w), t64(b), 1)), want, rtol=1e-12)
    assert gradcheck(lambda a, c, e: F.conv_tbc(a, c, e, 1), (t64(x, True), t64(w, True),
                                                              t64(b, True)))
    with pytest.raises(ShapeError, match="conv_tbc: expected input"):
        F.conv_tbc(t64(x), t64(w[:, :2]), t64(b))
