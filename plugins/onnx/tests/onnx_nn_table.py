"""Every layer and loss of :mod:`corefw.nn`, each with a small input maker ``make(b)`` whose
first axis (the axis exported as dynamic) has size ``b``: the table that
test_onnx_export_nn.py exports. A class of corefw.nn missing from it fails that test."""

from __future__ import annotations

import numpy as np

import corefw
from corefw import nn

I64 = corefw.int64


def _r(b, *shape, seed=0):
    rng = np.random.default_rng(seed * 1000 + b)
    return corefw.tensor(rng.standard_normal((b, *shape)).astype(np.float32))


def _u(b, *shape, lo=0.05, hi=0.95, seed=0):
    rng = np.random.default_rng(seed * 1000 + b)
    return corefw.tensor(rng.uniform(lo, hi, (b, *shape)).astype(np.float32))


def _i(b, *shape, hi=5, seed=0):
    rng = np.random.default_rng(seed * 1000 + b)
    return corefw.tensor(rng.integers(0, hi, (b, *shape)))


def _pm(b, *shape, seed=0):  # +-1 targets
    return corefw.tensor(np.where(_r(b, *shape, seed=seed).numpy() > 0, 1.0, -1.0)
                         .astype(np.float32))


def seq(b):
    return _r(b, 5, 8)


def img(b):
    return _r(b, 4, 6, 6)


def vol(b):
    return _r(b, 2, 4, 5, 4)


def sig(b):
    return _r(b, 4, 10)


def vec(b):
    return _r(b, 8)


def pair(b):
    return _r(b, 5), _r(b, 5, seed=1)


def logits(b):
    return _r(b, 5), _i(b, hi=5, seed=1)


class Chain(nn.Module):
    """Runs a function of the inputs that uses the wrapped module (e.g. pool then unpool)."""

    def __init__(self, inner, fn):
        super().__init__()
        self.inner = inner
        self.fn = fn

    def forward(self, *xs):
        return self.fn(self.inner, *xs)


def _unpool(pool_cls, unpool_cls):
    def build():
        unpool = unpool_cls(2)
        pool = pool_cls(2, return_indices=True)
        return Chain(unpool, lambda m, x: m(*pool(x)))
    return build


def _enc_layer():
    return nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)


def _dec_layer():
    return nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)


def _seq2(b):
    return _r(b, 4, 8), _r(b, 5, 8, seed=1)


def _ctc(b):
    rng = np.random.default_rng(b)
    lp = rng.standard_normal((6, b, 4)).astype(np.float32)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    return (corefw.tensor(lp), corefw.tensor(rng.integers(1, 4, (b, 2))),
            corefw.full((b,), 6, dtype=I64), corefw.full((b,), 2, dtype=I64))


def _ctc_model():
    # CTC's inputs are (T, N, C): transpose the batch-first input
    ctc = nn.CTCLoss()
    return Chain(ctc, lambda m, lp, t, il, tl: m(lp.permute(1, 0, 2), t, il, tl))


def _ctc_batch_first(b):
    lp, t, il, tl = _ctc(b)
    return lp.permute(1, 0, 2).contiguous(), t, il, tl


def _mlml(b):
    rng = np.random.default_rng(b)
    t = rng.integers(0, 4, (b, 4))
    t[:, 2:] = -1
    return _r(b, 4), corefw.tensor(t)


LAYERS: dict = {
    # pooling
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(3), sig),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), img),
    "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d((2, 3, 1)), vol),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), sig),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(4), img),
    "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d(2), vol),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, 2, padding=1), sig),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                       count_include_pad=False), img),
    "AvgPool3d": (lambda: nn.AvgPool3d(2, padding=1), vol),
    "MaxPool1d": (lambda: nn.MaxPool1d(3, 2), sig),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), img),
    "MaxPool3d": (lambda: nn.MaxPool3d(2, ceil_mode=True), vol),
    "LPPool1d": (lambda: nn.LPPool1d(2, 3), sig),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2), img),
    "LPPool3d": (lambda: nn.LPPool3d(1.5, 2), lambda b: _u(b, 2, 4, 5, 4)),
    "MaxUnpool1d": (_unpool(nn.MaxPool1d, nn.MaxUnpool1d), sig),
    "MaxUnpool2d": (_unpool(nn.MaxPool2d, nn.MaxUnpool2d), img),
    "MaxUnpool3d": (_unpool(nn.MaxPool3d, nn.MaxUnpool3d), lambda b: _r(b, 2, 4, 4, 4)),
    "FractionalMaxPool2d": (lambda: nn.FractionalMaxPool2d(2, output_size=3), img),
    "FractionalMaxPool3d": (lambda: nn.FractionalMaxPool3d(2, output_size=2), vol),
    # convolution
    "Conv1d": (lambda: nn.Conv1d(4, 3, 3, padding=1, stride=2), sig),
    "Conv2d": (lambda: nn.Conv2d(4, 6, 3, padding=(1, 2), groups=2, dilation=2), img),
    "Conv3d": (lambda: nn.Conv3d(2, 3, 2, padding=1), vol),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(4, 3, 3, stride=2, output_padding=1), sig),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2),
                        img),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(2, 3, 2, stride=2), vol),
    "LazyConv1d": (lambda: nn.LazyConv1d(3, 3), sig),
    "LazyConv2d": (lambda: nn.LazyConv2d(3, 3), img),
    "LazyConv3d": (lambda: nn.LazyConv3d(3, 2), vol),
    "LazyConvTranspose1d": (lambda: nn.LazyConvTranspose1d(3, 3), sig),
    "LazyConvTranspose2d": (lambda: nn.LazyConvTranspose2d(3, 3), img),
    "LazyConvTranspose3d": (lambda: nn.LazyConvTranspose3d(3, 2), vol),
    "Fold": (lambda: nn.Fold((4, 5), 2), lambda b: _r(b, 8, 12)),
    "Unfold": (lambda: nn.Unfold(2, padding=1, stride=2), img),
    # padding and shape
    **{f"{kind}Pad{d}d": (lambda kind=kind, d=d: getattr(nn, f"{kind}Pad{d}d")(
        tuple(i % 3 + 1 for i in range(2 * d)) if kind != "Constant" else 2,
        *((1.5,) if kind == "Constant" else ())), {1: sig, 2: img, 3: vol}[d])
       for kind in ("Circular", "Constant", "Reflection", "Replication", "Zero")
       for d in (1, 2, 3)},
    "ChannelShuffle": (lambda: nn.ChannelShuffle(2), img),
    "Flatten": (lambda: nn.Flatten(), img),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 4)), vec),
    "Identity": (lambda: nn.Identity(), vec),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), img),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), img),
    "Upsample": (lambda: nn.Upsample(scale_factor=2), img),
    "Upsample_bilinear": (lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"), img),
    "Upsample_bicubic_aligned": (lambda: nn.Upsample(size=(5, 7), mode="bicubic",
                                                     align_corners=True), img),
    "Upsample_linear": (lambda: nn.Upsample(scale_factor=2, mode="linear"), sig),
    "Upsample_trilinear": (lambda: nn.Upsample(size=(3, 6, 5), mode="trilinear"), vol),
    "Upsample_nearest_exact": (lambda: nn.Upsample(size=(4, 9), mode="nearest-exact"), img),
    "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(scale_factor=2), img),
    "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(size=(9, 4)), img),
    # normalisation
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), sig),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(4), img),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(2), vol),
    "LazyBatchNorm1d": (lambda: nn.LazyBatchNorm1d(), sig),
    "LazyBatchNorm2d": (lambda: nn.LazyBatchNorm2d(), img),
    "LazyBatchNorm3d": (lambda: nn.LazyBatchNorm3d(), vol),
    "SyncBatchNorm": (lambda: nn.SyncBatchNorm(4), img),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), img),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(4, affine=True), sig),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(4, affine=True), img),
    "InstanceNorm3d": (lambda: nn.InstanceNorm3d(2, track_running_stats=True), vol),
    "LazyInstanceNorm1d": (lambda: nn.LazyInstanceNorm1d(), sig),
    "LazyInstanceNorm2d": (lambda: nn.LazyInstanceNorm2d(affine=True), img),
    "LazyInstanceNorm3d": (lambda: nn.LazyInstanceNorm3d(), vol),
    "LayerNorm": (lambda: nn.LayerNorm((5, 8)), seq),
    "RMSNorm": (lambda: nn.RMSNorm(8), seq),
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3), img),
    "CrossMapLRN2d": (lambda: nn.CrossMapLRN2d(3), img),
    # activations
    **{name: (lambda name=name: getattr(nn, name)(), seq) for name in (
        "CELU", "ELU", "GELU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
        "LeakyReLU", "LogSigmoid", "Mish", "PReLU", "ReLU", "ReLU6", "RReLU", "SELU", "SiLU",
        "Sigmoid", "Softplus", "Softshrink", "Softsign", "Tanh", "Tanhshrink")},
    "GELU_tanh": (lambda: nn.GELU("tanh"), seq),
    "Threshold": (lambda: nn.Threshold(0.1, 20.0), seq),
    "GLU": (lambda: nn.GLU(), seq),
    "Softmax": (lambda: nn.Softmax(1), seq),
    "Softmin": (lambda: nn.Softmin(-1), seq),
    "LogSoftmax": (lambda: nn.LogSoftmax(-1), seq),
    "Softmax2d": (lambda: nn.Softmax2d(), img),
    # dropout (eval mode: identity)
    **{name: (lambda name=name: getattr(nn, name)(0.3), x) for name, x in (
        ("AlphaDropout", seq), ("Dropout", seq), ("Dropout1d", sig), ("Dropout2d", img),
        ("Dropout3d", vol), ("FeatureAlphaDropout", img))},
    # linear, embedding, distances
    "Linear": (lambda: nn.Linear(8, 4), seq),
    "LazyLinear": (lambda: nn.LazyLinear(4), seq),
    "NonDynamicallyQuantizableLinear": (lambda: nn.NonDynamicallyQuantizableLinear(8, 4), seq),
    "Bilinear": (lambda: nn.Bilinear(5, 5, 3), pair),
    "Embedding": (lambda: nn.Embedding(10, 6, padding_idx=1), lambda b: _i(b, 4, hi=10)),
    "EmbeddingBag": (lambda: nn.EmbeddingBag(10, 3), lambda b: _i(b, 4, hi=10)),
    "EmbeddingBag_max": (lambda: nn.EmbeddingBag(10, 3, mode="max"),
                         lambda b: _i(b, 4, hi=10)),
    "CosineSimilarity": (lambda: nn.CosineSimilarity(), pair),
    "PairwiseDistance": (lambda: nn.PairwiseDistance(), pair),
    # recurrent and attention
    "RNN": (lambda: nn.RNN(8, 4, num_layers=2, batch_first=True), seq),
    "LSTM": (lambda: nn.LSTM(8, 6, batch_first=True, bidirectional=True), seq),
    "GRU": (lambda: nn.GRU(8, 6, batch_first=True), seq),
    "RNNCell": (lambda: nn.RNNCell(8, 4, nonlinearity="relu"), vec),
    "LSTMCell": (lambda: nn.LSTMCell(8, 4), vec),
    "GRUCell": (lambda: nn.GRUCell(8, 4), vec),
    "MultiheadAttention": (lambda: Chain(nn.MultiheadAttention(8, 2, batch_first=True),
                                         lambda m, x: m(x, x, x)), seq),
    "TransformerEncoderLayer": (_enc_layer, seq),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(_enc_layer(), 2), seq),
    "TransformerDecoderLayer": (_dec_layer, _seq2),
    "TransformerDecoder": (lambda: nn.TransformerDecoder(_dec_layer(), 1), _seq2),
    "Transformer": (lambda: nn.Transformer(8, 2, 1, 1, 16, batch_first=True), _seq2),
    # losses
    "BCELoss": (lambda: nn.BCELoss(), lambda b: (_u(b, 5), _u(b, 5, seed=1))),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(pos_weight=corefw.ones(5) * 2), pair),
    "CTCLoss": (_ctc_model, _ctc_batch_first),
    "CosineEmbeddingLoss": (lambda: nn.CosineEmbeddingLoss(0.1),
                            lambda b: (*pair(b), _pm(b, seed=2))),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), logits),
    "CrossEntropyLoss_probs": (lambda: nn.CrossEntropyLoss(), lambda b: (
        _r(b, 5), _u(b, 5, seed=1))),
    "GaussianNLLLoss": (lambda: nn.GaussianNLLLoss(full=True), lambda b: (
        *pair(b), _u(b, 5, seed=2))),
    "HingeEmbeddingLoss": (lambda: nn.HingeEmbeddingLoss(), lambda b: (_r(b, 5),
                                                                        _pm(b, 5, seed=1))),
    "HuberLoss": (lambda: nn.HuberLoss(delta=0.5), pair),
    "KLDivLoss": (lambda: nn.KLDivLoss(reduction="batchmean"), lambda b: (
        _r(b, 5), _u(b, 5, seed=1))),
    "L1Loss": (lambda: nn.L1Loss(), pair),
    "MSELoss": (lambda: nn.MSELoss(reduction="sum"), pair),
    "MarginRankingLoss": (lambda: nn.MarginRankingLoss(0.2), lambda b: (
        _r(b), _r(b, seed=1), _pm(b, seed=2))),
    "MultiLabelMarginLoss": (lambda: nn.MultiLabelMarginLoss(), _mlml),
    "MultiLabelSoftMarginLoss": (lambda: nn.MultiLabelSoftMarginLoss(), lambda b: (
        _r(b, 5), _i(b, 5, hi=2, seed=1).float())),
    "MultiMarginLoss": (lambda: nn.MultiMarginLoss(p=2, margin=0.5), logits),
    "NLLLoss": (lambda: nn.NLLLoss(weight=corefw.arange(1.0, 6.0)), logits),
    "NLLLoss2d": (lambda: nn.NLLLoss2d(), lambda b: (_r(b, 3, 2, 2), _i(b, 2, 2, hi=3))),
    "PoissonNLLLoss": (lambda: nn.PoissonNLLLoss(), lambda b: (_r(b, 5), _u(b, 5, hi=3))),
    "SmoothL1Loss": (lambda: nn.SmoothL1Loss(beta=0.5), pair),
    "SoftMarginLoss": (lambda: nn.SoftMarginLoss(), lambda b: (_r(b, 5), _pm(b, 5, seed=1))),
    "TripletMarginLoss": (lambda: nn.TripletMarginLoss(swap=True), lambda b: (
        *pair(b), _r(b, 5, seed=2))),
    "TripletMarginWithDistanceLoss": (lambda: nn.TripletMarginWithDistanceLoss(
        distance_function=nn.CosineSimilarity()), lambda b: (*pair(b), _r(b, 5, seed=2))),
    "AdaptiveLogSoftmaxWithLoss": (lambda: Chain(
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7]), lambda m, x, t: tuple(m(x, t))),
        lambda b: (_r(b, 8), _i(b, hi=10, seed=1))),
}

# classes of corefw.nn that are containers or abstract bases, not layers: nothing to export
NOT_LAYERS = {"Module", "ModuleDict", "ModuleList", "ParameterDict", "ParameterList",
              "RNNBase", "RNNCellBase", "Sequential"}

# layers export refuses, with the op it names (and the module): FractionalMaxPool draws its
# pooling regions at random even in eval mode (ONNX's RandomUniform would not reproduce
# corefw's generator); CTCLoss and MultiLabelMarginLoss read their targets (and lengths) on the
# host and build the alignment/mask in Python, so a graph would freeze this call's targets
REFUSED = {"FractionalMaxPool2d": "uniform", "FractionalMaxPool3d": "uniform",
           "CTCLoss": "to_host", "MultiLabelMarginLoss": "to_host"}
