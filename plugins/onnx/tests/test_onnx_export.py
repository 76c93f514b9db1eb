"""corefw_onnx.export: every layer of the nn tests, the demo models and the char transformer
pass onnx.checker (full_check) and match corefw in onnxruntime, with static and dynamic batch
sizes; parameters are initializers named by their state_dict names."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import corefw_onnx
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import corefw
from corefw import nn
from corefw.demo import build_model

ROOT = Path(__file__).resolve().parents[3]


def _image(b):
    return corefw.randn(b, 3, 8, 8)


def _seq(b):
    return corefw.randn(b, 5, 8)


def _tokens(b):
    return corefw.tensor(np.random.default_rng(b).integers(0, 10, (b, 4)))


def _logits_and_labels(b):
    rng = np.random.default_rng(b)
    return corefw.randn(b, 5), corefw.tensor(rng.integers(0, 5, b))


def _pair(b):
    return corefw.randn(b, 5), corefw.randn(b, 5)


def _probs(b):
    return corefw.rand(b, 5) * 0.9 + 0.05, corefw.rand(b, 5)


def _char_transformer():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import char_transformer
    finally:
        sys.path.pop(0)
    return char_transformer.CharTransformer(10, 4)


LAYERS = {
    "linear": (lambda: nn.Linear(8, 4), _seq),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1), _image),
    "conv2d_groups": (lambda: nn.Conv2d(3, 6, 3, padding=(1, 2), groups=3, bias=False),
                      _image),
    "max_pool2d": (lambda: nn.MaxPool2d(3, 2, padding=1), _image),
    "max_pool2d_ceil": (lambda: nn.MaxPool2d(3, 2, ceil_mode=True), _image),
    "avg_pool2d": (lambda: nn.AvgPool2d(2), _image),
    "avg_pool2d_ceil": (lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                             count_include_pad=False), _image),
    "adaptive_avg_pool2d": (lambda: nn.AdaptiveAvgPool2d(1), _image),
    "batch_norm": (lambda: nn.BatchNorm2d(3), _image),
    "layer_norm": (lambda: nn.LayerNorm(8), _seq),
    "group_norm": (lambda: nn.GroupNorm(1, 3), _image),
    "activations": (lambda: nn.Sequential(
        nn.ReLU(), nn.GELU(), nn.SiLU(), nn.Tanh(), nn.Sigmoid(), nn.LeakyReLU(0.1), nn.ELU(),
        nn.Softplus(), nn.Softmax(-1), nn.LogSoftmax(-1)), _seq),
    "dropout_eval": (lambda: nn.Dropout(0.5), _seq),
    "flatten": (lambda: nn.Flatten(), _image),
    "embedding": (lambda: nn.Embedding(10, 6), _tokens),
    "lstm": (lambda: nn.LSTM(8, 6, num_layers=2, batch_first=True), _seq),
    "gru": (lambda: nn.GRU(8, 6, batch_first=True, bidirectional=True), _seq),
    "multihead_attention": (lambda: _SelfAttention(), _seq),
    "transformer_encoder_layer": (lambda: nn.TransformerEncoderLayer(
        8, 2, 16, batch_first=True), _seq),
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, padding=1), lambda b: corefw.randn(b, 3, 10)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1,
                                                    output_padding=1), _image),
    "pool1d": (lambda: nn.Sequential(nn.MaxPool1d(2), nn.AvgPool1d(2)),
               lambda b: corefw.randn(b, 3, 12)),
    "batch_norm1d": (lambda: nn.BatchNorm1d(8), lambda b: corefw.randn(b, 8)),
    "clamps": (lambda: nn.Sequential(nn.Hardtanh(), nn.ReLU6(), nn.LogSigmoid(),
                                     nn.Softmin(-1)), _seq),
    "rnn_tanh": (lambda: nn.RNN(8, 4, batch_first=True), _seq),
    "cross_entropy": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), _logits_and_labels),
    "nll_loss": (lambda: _NLL(), _logits_and_labels),
    "mse_l1_huber": (lambda: _Losses(), _pair),
    "binary_cross_entropy": (lambda: nn.BCELoss(), _probs),
    "bce_with_logits": (lambda: nn.BCEWithLogitsLoss(), _pair),
    "demo_mlp": (lambda: build_model("mlp"), lambda b: corefw.randn(b, 1, 8, 8)),
    "demo_cnn": (lambda: build_model("cnn"), lambda b: corefw.randn(b, 1, 8, 8)),
    "char_transformer": (_char_transformer, _tokens),
}


class _Losses(nn.Module):
    def forward(self, x, y):
        return (nn.functional.mse_loss(x, y) + nn.functional.l1_loss(x, y)
                + nn.functional.huber_loss(x, y) + nn.functional.smooth_l1_loss(x, y, beta=0.5))


class _NLL(nn.Module):
    def forward(self, x, t):
        return nn.functional.nll_loss(nn.functional.log_softmax(x, 1), t)


class _SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


def _first(y):
    return y[0] if isinstance(y, tuple) else y


def _check(model, make, dynamic: bool):
    xs = make(3)
    xs = xs if isinstance(xs, tuple) else (xs,)
    names = [f"x{i}" for i in range(len(xs))]
    buf = io.BytesIO()
    kwargs = {"dynamic_axes": {n: {0: "batch"} for n in names}} if dynamic else {}
    corefw_onnx.export(model, xs, buf, input_names=names, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for b in ((3, 5, 1) if dynamic else (3,)):
        xb = xs if b == 3 else make(b)
        xb = xb if isinstance(xb, tuple) else (xb,)
        got = sess.run(None, {n: x.numpy() for n, x in zip(names, xb)})[0]
        with corefw.no_grad():
            ref = _first(model(*xb)).numpy()
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(ref).max()))
    return proto


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_exports_and_matches_onnxruntime(name, dynamic):
    corefw.manual_seed(0)
    build, make = LAYERS[name]
    model = build().eval()
    for p in model.parameters():  # non-trivial norms and biases
        with corefw.no_grad():
            p.copy_(corefw.randn(*p.shape) * 0.5)
    for _n, b in model.named_buffers():
        if b.dtype.is_floating_point:
            with corefw.no_grad():
                b.copy_(corefw.rand(*b.shape) + 0.5)
    proto = _check(model, make, dynamic)
    inits = {t.name for t in proto.graph.initializer}
    assert {n for n, _ in model.named_parameters()} <= inits
    # and back: the imported module gives the same outputs
    loaded = corefw_onnx.load(proto)
    xs = make(2)
    xs = xs if isinstance(xs, tuple) else (xs,)
    with corefw.no_grad():
        ref = _first(model(*xs)).numpy()
        got = _first(loaded(*xs)).numpy() if dynamic else None
    if dynamic:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(ref).max()))


def test_initializers_hold_the_state_dict():
    corefw.manual_seed(0)
    model = build_model("cnn").eval()
    proto = corefw_onnx.export(model, (corefw.randn(2, 1, 8, 8),), None)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, value in model.state_dict().items():
        if name in inits:
            np.testing.assert_array_equal(inits[name], value.numpy())
    assert {n for n, _ in model.named_parameters()} <= set(inits)


def test_export_to_path_restores_training_mode(tmp_path):
    model = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5))
    path = tmp_path / "m.onnx"
    corefw_onnx.export(model, corefw.randn(2, 4), str(path))
    assert model.training and onnx.load(str(path)).graph.node


class _Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x):
        return self.inner(x) + corefw.rand(4)  # random ops have no ONNX export


class _Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _Noisy()

    def forward(self, x):
        return self.block(x)


def test_unexportable_op_names_op_and_module():
    with pytest.raises(corefw_onnx.UnsupportedOpError, match=r"'uniform'.*module 'block'") as e:
        corefw_onnx.export(_Wrapper(), corefw.randn(2, 4), None)
    assert isinstance(e.value, NotImplementedError) and e.value.module == "block"


def test_bad_arguments_are_typed_errors():
    model = nn.Linear(4, 2)
    with pytest.raises(corefw_onnx.OnnxExportError, match="opset_version"):
        corefw_onnx.export(model, corefw.randn(2, 4), None, opset_version=9)
    with pytest.raises(corefw_onnx.OnnxExportError, match="input_names"):
        corefw_onnx.export(model, corefw.randn(2, 4), None, input_names=["a", "b"])


def test_tracing_leaves_the_kernel_table_untouched():
    table = corefw.dispatch.device_of("cpu").table
    before = dict(table)
    with pytest.raises(corefw_onnx.UnsupportedOpError):
        corefw_onnx.export(_Wrapper(), corefw.randn(2, 4), None)
    corefw_onnx.export(nn.Linear(4, 2), corefw.randn(2, 4), None)
    assert dict(table) == before


def test_demo_export_onnx(tmp_path):
    from corefw import demo

    path = tmp_path / "demo.onnx"
    out = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, out
    try:
        code = demo.main(["--epochs", "1", "--limit", "64", "--no-explain", "--quiet",
                          "--output", str(tmp_path), "--export-onnx", str(path)])
    finally:
        sys.stdout = sys_stdout
    assert code == 0 and "ONNX model written" in out.getvalue()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"image": np.zeros((5, 1, 8, 8), np.float32)})
    assert logits.shape == (5, 10)


class _Writes(nn.Module):
    """In-place writes and an accumulating index_put (exported as ScatterElements)."""

    def forward(self, x):
        z = x.clone()
        z[0] += x[1]
        z[:, 1] = 7.0
        from corefw.ops.indexing import index_put  # the op behind embedding's gradient

        acc = index_put(corefw.zeros(3, 4), (corefw.tensor([0, 2, 0]),), x * 2,
                        accumulate=True)
        return z * acc


def test_in_place_writes_export():
    x = corefw.randn(3, 4)
    proto = _check(_Writes(), lambda b: x, dynamic=False)
    assert "ScatterElements" in {n.op_type for n in proto.graph.node}
