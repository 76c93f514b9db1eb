"""The new layers run on the ``meta`` device (shapes only) and give the shapes the CPU gives."""

from __future__ import annotations

import pytest

import corefw
from corefw import nn
from corefw.nn import functional as F

I64 = corefw.int64

# name -> (module or None, function of (module, device))
CASES = {
    "Conv3d": (lambda: nn.Conv3d(3, 4, 2, padding=1), lambda m, d: m(corefw.ones(
        2, 3, 4, 5, 3, device=d))),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(3, 4, 2, stride=2), lambda m, d: m(
        corefw.ones(2, 3, 2, 3, 2, device=d))),
    "MaxPool3d": (lambda: nn.MaxPool3d(2, ceil_mode=True), lambda m, d: m(corefw.ones(
        1, 2, 5, 4, 3, device=d))),
    "AvgPool3d": (lambda: nn.AvgPool3d(2, padding=1), lambda m, d: m(corefw.ones(
        1, 2, 5, 4, 3, device=d))),
    "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d((2, 3, 1)), lambda m, d: m(
        corefw.ones(1, 2, 5, 4, 3, device=d))),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(3), lambda m, d: m(corefw.ones(
        1, 2, 5, 4, device=d))),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2), lambda m, d: m(corefw.ones(1, 2, 5, 4, device=d))),
    "interpolate": (lambda: None, lambda m, d: F.interpolate(
        corefw.ones(1, 2, 3, 4, device=d), scale_factor=1.5, mode="bicubic")),
    "Fold": (lambda: nn.Fold((4, 5), 2), lambda m, d: m(corefw.ones(1, 8, 12, device=d))),
    "Unfold": (lambda: nn.Unfold(2, padding=1), lambda m, d: m(corefw.ones(
        1, 2, 4, 5, device=d))),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(1), lambda m, d: m(corefw.ones(
        1, 2, 4, 5, device=d))),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(2, affine=True), lambda m, d: m(
        corefw.ones(1, 2, 4, 5, device=d))),
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3), lambda m, d: m(corefw.ones(
        1, 4, 5, device=d))),
    "RMSNorm": (lambda: nn.RMSNorm(5), lambda m, d: m(corefw.ones(2, 5, device=d))),
    "Bilinear": (lambda: nn.Bilinear(3, 4, 5), lambda m, d: m(
        corefw.ones(2, 3, device=d), corefw.ones(2, 4, device=d))),
    "EmbeddingBag": (lambda: nn.EmbeddingBag(10, 3), lambda m, d: m(
        corefw.zeros(2, 4, dtype=I64, device=d))),
    "TransformerDecoderLayer": (lambda: nn.TransformerDecoderLayer(8, 2, 16), lambda m, d: m(
        corefw.ones(3, 2, 8, device=d), corefw.ones(4, 2, 8, device=d))),
    "MultiLabelMarginLoss": (lambda: nn.MultiLabelMarginLoss(reduction="none"), lambda m, d: m(
        corefw.ones(2, 3, device=d), corefw.zeros(2, 3, dtype=I64, device=d))),
    "MultiMarginLoss": (lambda: nn.MultiMarginLoss(reduction="none"), lambda m, d: m(
        corefw.ones(2, 3, device=d), corefw.zeros(2, dtype=I64, device=d))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_meta_shapes_match_cpu(name):
    make, call = CASES[name]
    module = make()
    want = call(module, "cpu")
    if module is not None:
        module = module.to("meta")
    got = call(module, "meta")
    assert got.device.type == "meta"
    assert (got.shape, got.dtype) == (want.shape, want.dtype)
