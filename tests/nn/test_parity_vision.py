"""Padding layers, interpolate/Upsample, pixel and channel shuffles, fold/unfold: forward
against float64 numpy written from PyTorch's definitions (scalar loops) and its documented
examples, backward by finite differences, errors."""

from __future__ import annotations

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


# -- padding -----------------------------------------------------------------------------------
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind,np_mode", [("Zero", "constant"), ("Constant", "constant"),
                                          ("Reflection", "reflect"),
                                          ("Replication", "edge"), ("Circular", "wrap")])
def test_padding_layers_match_numpy_pad(nd, kind, np_mode):
    x = RNG.standard_normal((2, 3) + (4, 5, 3)[:nd])
    pads = (1, 2, 2, 0, 1, 1)[:2 * nd]
    layer = getattr(nn, f"{kind}Pad{nd}d")
    m = layer(pads, 2.5) if kind == "Constant" else layer(pads)
    width = [(0, 0), (0, 0)] + [(pads[2 * i], pads[2 * i + 1]) for i in range(nd)][::-1]
    kw = {"constant_values": 2.5} if kind == "Constant" else {}
    np.testing.assert_array_equal(npy(m(t64(x))), np.pad(x, width, np_mode, **kw))
    assert m(t64(x[0])).shape == m(t64(x)).shape[1:]  # unbatched
    assert gradcheck(m, (t64(x[:1, :1], requires_grad=True),))
    assert (layer(1, 0.0) if kind == "Constant" else layer(1)).padding == (1,) * 2 * nd


def test_padding_errors_and_repr():
    with pytest.raises(ValueError, match="ReflectionPad2d: padding must be an int or a tuple"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ShapeError, match="ZeroPad2d: expected a 3-D or 4-D input"):
        nn.ZeroPad2d(1)(corefw.ones(3))
    assert repr(nn.ConstantPad1d(2, 1.5)) == "ConstantPad1d((2, 2), value=1.5)"
    assert repr(nn.ReplicationPad3d(1)) == "ReplicationPad3d((1, 1, 1, 1, 1, 1))"
    assert repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"


# -- interpolate --------------------------------------------------------------------------------
def _cubic(d, a=-0.75):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def _axis_weights(mode, n_in, n_out, scale, align):
    """Dense (n_out, n_in) matrix of one axis, from PyTorch's per-pixel formulas."""
    m = np.zeros((n_out, n_in))
    ratio = (n_in / n_out if scale is None else 1 / scale)
    for o in range(n_out):
        if mode in ("nearest", "nearest-exact"):
            off = 0.5 if mode == "nearest-exact" else 0.0
            m[o, min(int(math.floor((o + off) * np.float32(ratio))), n_in - 1)] = 1
            continue
        if align:
            src = o * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            src = (o + 0.5) * ratio - 0.5
        if mode == "bicubic":
            i = math.floor(src)
            for k in range(-1, 3):
                m[o, min(max(i + k, 0), n_in - 1)] += _cubic(src - (i + k))
            continue
        src = max(src, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        m[o, i0] += 1 - lam
        m[o, i1] += lam
    return m


def _interp_ref(x, sizes, scales, mode, align):
    out = x
    for axis, (n_out, s) in enumerate(zip(sizes, scales)):
        w = _axis_weights(mode, x.shape[2 + axis], n_out, s, align)
        out = np.moveaxis(np.tensordot(out, w, axes=([2 + axis], [1])), -1, 2 + axis)
    return out


CASES = [  # (mode, spatial shape, size, scale_factor, align_corners)
    ("nearest", (5,), (8,), None, None),
    ("nearest", (4, 6), None, (1.5, 0.7), None),
    ("nearest", (3, 4, 5), (5, 2, 7), None, None),
    ("nearest-exact", (5, 3), (7, 8), None, None),
    ("linear", (5,), None, 2.3, False),
    ("linear", (5,), (9,), None, True),
    ("bilinear", (4, 5), (7, 3), None, False),
    ("bilinear", (4, 5), None, (2.0, 1.5), True),
    ("bilinear", (6, 6), None, 0.5, False),
    ("bicubic", (4, 5), (9, 7), None, False),
    ("bicubic", (5, 4), None, 1.7, True),
    ("trilinear", (3, 4, 3), (5, 2, 6), None, False),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_interpolate_matches_pytorch_formulas(case):
    mode, spatial, size, scale, align = case
    x = RNG.standard_normal((2, 2) + spatial)
    out = F.interpolate(t64(x), size, scale, mode, align)
    nd = len(spatial)
    if size is None:
        scales = (scale,) * nd if isinstance(scale, float) else scale
        sizes = tuple(math.floor(n * s) for n, s in zip(spatial, scales))
    else:
        sizes, scales = size, (None,) * nd
    want = _interp_ref(x, sizes, scales if not align else (None,) * nd, mode, bool(align))
    np.testing.assert_allclose(npy(out), want, rtol=1e-12, atol=1e-12)
    if mode != "nearest":
        small = t64(x[:1, :1], requires_grad=True)
        assert gradcheck(lambda t: F.interpolate(t, size, scale, mode, align), (small,))


def test_upsample_documented_examples():
    x = corefw.arange(1, 5, dtype=corefw.float32).reshape(1, 1, 2, 2)
    near = nn.Upsample(scale_factor=2, mode="nearest")(x)
    np.testing.assert_array_equal(near.numpy()[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2],
                                                       [3, 3, 4, 4], [3, 3, 4, 4]])
    bil = nn.Upsample(scale_factor=2, mode="bilinear")(x)
    np.testing.assert_allclose(bil.numpy()[0, 0], [[1.0, 1.25, 1.75, 2.0],
                                                   [1.5, 1.75, 2.25, 2.5],
                                                   [2.5, 2.75, 3.25, 3.5],
                                                   [3.0, 3.25, 3.75, 4.0]], rtol=1e-6)
    al = nn.UpsamplingBilinear2d(scale_factor=2)(x)
    np.testing.assert_allclose(al.numpy()[0, 0], [[1.0, 4 / 3, 5 / 3, 2.0],
                                                  [5 / 3, 2.0, 7 / 3, 8 / 3],
                                                  [7 / 3, 8 / 3, 3.0, 10 / 3],
                                                  [3.0, 10 / 3, 11 / 3, 4.0]], rtol=1e-6)
    assert nn.UpsamplingNearest2d(size=(3, 5))(x).shape == (1, 1, 3, 5)
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear")) == \
        "Upsample(scale_factor=2.0, mode='bilinear')"


def test_interpolate_area_and_recompute_scale_factor():
    x = RNG.standard_normal((1, 2, 6, 9))
    area = F.interpolate(t64(x), size=(3, 3), mode="area")
    np.testing.assert_allclose(npy(area), x.reshape(1, 2, 3, 2, 3, 3).mean((3, 5)))
    # 2.6 * 5 = 13: recomputing uses 5/13 in the index formula instead of 1/2.6
    a = F.interpolate(t64(x[:, :, :5, :5]), scale_factor=2.6, mode="bilinear",
                      recompute_scale_factor=True)
    b = F.interpolate(t64(x[:, :, :5, :5]), size=(13, 13), mode="bilinear")
    np.testing.assert_array_equal(npy(a), npy(b))


def test_interpolate_errors():
    x = corefw.ones(1, 1, 4, 4)
    with pytest.raises(ShapeError, match="mode 'trilinear' needs a 5-D input"):
        F.interpolate(x, scale_factor=2, mode="trilinear")
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="exactly one of size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="has 2 spatial dims, but size has 3"):
        F.interpolate(x, size=(1, 2, 3))
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(x, scale_factor=2, mode="cubic")


# -- shuffles ------------------------------------------------------------------------------------
def test_pixel_shuffle_and_unshuffle():
    r, c, h, w = 2, 3, 2, 3
    x = RNG.standard_normal((2, c * r * r, h, w))
    want = np.zeros((2, c, h * r, w * r))
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                want[:, ch, i::r, j::r] = x[:, ch * r * r + i * r + j]
    y = nn.PixelShuffle(r)(t64(x))
    np.testing.assert_array_equal(npy(y), want)
    np.testing.assert_array_equal(npy(nn.PixelUnshuffle(r)(y)), x)
    assert gradcheck(lambda t: F.pixel_shuffle(t, 2), (t64(x[:1], requires_grad=True),))
    with pytest.raises(ShapeError, match="divisible by upscale_factor"):
        F.pixel_shuffle(t64(x), 3)
    with pytest.raises(ShapeError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(t64(x), 2)


def test_channel_shuffle():
    x = RNG.standard_normal((2, 6, 3))
    y = npy(nn.ChannelShuffle(2)(t64(x)))
    np.testing.assert_array_equal(y, x[:, [0, 3, 1, 4, 2, 5]])
    with pytest.raises(ShapeError, match="divisible by groups=4"):
        F.channel_shuffle(t64(x), 4)


# -- fold / unfold -----------------------------------------------------------------------------
def _unfold_ref(x, k, d, p, s):
    n, c, h, w = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c * k[0] * k[1], ho * wo))
    for ch in range(c):
        for i in range(k[0]):
            for j in range(k[1]):
                row = ch * k[0] * k[1] + i * k[1] + j
                for a in range(ho):
                    for b in range(wo):
                        out[:, row, a * wo + b] = xp[:, ch, a * s[0] + i * d[0],
                                                     b * s[1] + j * d[1]]
    return out


def _fold_ref(cols, size, k, d, p, s):
    n, ckk, _ = cols.shape
    c = ckk // (k[0] * k[1])
    hp, wp = size[0] + 2 * p[0], size[1] + 2 * p[1]
    ho = (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, hp, wp))
    for ch in range(c):
        for i in range(k[0]):
            for j in range(k[1]):
                row = ch * k[0] * k[1] + i * k[1] + j
                for a in range(ho):
                    for b in range(wo):
                        out[:, ch, a * s[0] + i * d[0], b * s[1] + j * d[1]] += \
                            cols[:, row, a * wo + b]
    return out[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]


GEOMS = [((2, 3), (1, 1), (0, 0), (1, 1)), ((3, 2), (2, 1), (1, 2), (2, 3)),
         ((2, 2), (1, 1), (1, 0), (3, 2))]


@pytest.mark.parametrize("k,d,p,s", GEOMS)
def test_unfold_and_fold(k, d, p, s):
    x = RNG.standard_normal((2, 3, 7, 8))
    cols = F.unfold(t64(x), k, d, p, s)
    np.testing.assert_allclose(npy(cols), _unfold_ref(x, k, d, p, s), rtol=1e-12)
    c = RNG.standard_normal(tuple(cols.shape))
    back = nn.Fold((7, 8), k, d, p, s)(t64(c))
    np.testing.assert_allclose(npy(back), _fold_ref(c, (7, 8), k, d, p, s), rtol=1e-12,
                               atol=1e-12)
    assert gradcheck(lambda t: F.unfold(t, k, d, p, s), (t64(x[:1, :1], requires_grad=True),))
    assert gradcheck(lambda t: F.fold(t, (7, 8), k, d, p, s),
                     (t64(c[:1, :k[0] * k[1]], requires_grad=True),))
    assert nn.Unfold(k, d, p, s)(t64(x[0])).shape == cols.shape[1:]


def test_fold_errors():
    with pytest.raises(ShapeError, match="fold: expected an input of shape"):
        F.fold(corefw.ones(1, 8, 5), (4, 4), 2)
    with pytest.raises(ShapeError, match="unfold: expected a 3-D"):
        F.unfold(corefw.ones(4, 4), 2)


def test_interpolate_fast_paths_ignore_the_scale_as_pytorch():
    x = t64(RNG.standard_normal((1, 1, 10, 10)))
    # 10 * 1.05 -> 10: PyTorch copies (nearest and bicubic) instead of resampling by 1/1.05
    for mode in ("nearest", "bicubic", "bilinear"):
        np.testing.assert_array_equal(npy(F.interpolate(x, scale_factor=1.05, mode=mode)),
                                      npy(x))
    doubled = F.interpolate(x, scale_factor=2.0001, mode="nearest")  # 20 = 2 * 10
    np.testing.assert_array_equal(npy(doubled), np.repeat(np.repeat(npy(x), 2, 2), 2, 3))
