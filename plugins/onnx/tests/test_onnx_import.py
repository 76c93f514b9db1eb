"""corefw_onnx.load: round trips (same outputs and gradients), parameters under their ONNX
names, fine-tuning, bad files, and a fixed subset of ONNX's own backend node tests."""

from __future__ import annotations

import io

import corefw_onnx
import corefw_onnx.backend
import numpy as np
import onnx
import pytest
from corefw_onnx.backend import CorefwBackend, run_node_case
from onnx import TensorProto, helper

import corefw
from corefw import nn
from corefw.demo import build_model


def _export(model, x, **kw) -> bytes:
    buf = io.BytesIO()
    corefw_onnx.export(model, (x,), buf, input_names=["x"], **kw)
    return buf.getvalue()


def _first(y):
    return y[0] if isinstance(y, tuple) else y


@pytest.mark.parametrize("name", ["cnn", "lstm", "encoder"])
def test_round_trip_outputs_and_gradients(name):
    corefw.manual_seed(0)
    model, x = {
        "cnn": (build_model("cnn"), corefw.randn(3, 1, 8, 8)),
        "lstm": (nn.LSTM(4, 5, batch_first=True), corefw.randn(2, 3, 4)),
        "encoder": (nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0),
                    corefw.randn(2, 5, 8)),
    }[name]
    model.eval()
    data = _export(model, x, dynamic_axes={"x": {0: "batch"}})
    loaded = corefw_onnx.load(data)
    assert isinstance(loaded, nn.Module)
    params = dict(model.named_parameters())
    got = dict(loaded.named_parameters())
    assert set(params) <= set(got)  # initializers are parameters under their ONNX names
    for xb in (x, corefw.cat([x, x], 0)):
        xa, xc = xb.clone().requires_grad_(True), xb.clone().requires_grad_(True)
        ya, yc = _first(model(xa)), _first(loaded(xc))
        np.testing.assert_allclose(yc.detach().numpy(), ya.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        w = corefw.randn(*ya.shape)
        model.zero_grad()
        loaded.zero_grad()
        (ya * w).sum().backward()
        (yc * w).sum().backward()
        np.testing.assert_allclose(xc.grad.numpy(), xa.grad.numpy(), rtol=1e-5, atol=1e-6)
        for k, p in params.items():
            np.testing.assert_allclose(got[k].grad.numpy(), p.grad.numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=k)


def test_fine_tuning_an_imported_model_lowers_the_loss():
    corefw.manual_seed(0)
    x, y = corefw.randn(16, 4), corefw.randn(16, 1)
    loaded = corefw_onnx.load(_export(nn.Sequential(nn.Linear(4, 8), nn.Tanh(),
                                                    nn.Linear(8, 1)), x))
    opt = corefw.optim.SGD(loaded.parameters(), lr=0.1)
    losses = []
    for _ in range(20):
        loss = ((loaded(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _single_node_model(node, inputs, outputs, opset=17, inits=()):
    graph = helper.make_graph([node], "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, dt=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dt, shape)


def test_truncated_and_malformed_files_raise(tmp_path):
    data = _export(nn.Linear(4, 2), corefw.randn(1, 4))
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(corefw_onnx.OnnxImportError):
        corefw_onnx.load(str(path))
    with pytest.raises(corefw_onnx.OnnxImportError, match="not a readable ONNX"):
        corefw_onnx.load(b"\xff\xfe this is not protobuf")
    with pytest.raises(corefw_onnx.OnnxImportError):
        corefw_onnx.load(b"")


def test_unsupported_opset_operator_and_attribute_name_the_node():
    node = helper.make_node("Relu", ["x"], ["y"], name="r1")
    model = _single_node_model(node, [_vi("x", [2])], [_vi("y", [2])], opset=29)
    with pytest.raises(corefw_onnx.OnnxImportError, match="opset 29"):
        corefw_onnx.load(model)
    node = helper.make_node("Bernoulli", ["x"], ["y"], name="hm")
    with pytest.raises(corefw_onnx.UnsupportedOnnxError, match="'hm'.*Bernoulli"):
        corefw_onnx.load(_single_node_model(node, [_vi("x", [2, 2])], [_vi("y", [2, 2])]))
    node = helper.make_node("Pad", ["x", "p"], ["y"], name="am", mode="mirror")
    with pytest.raises(corefw_onnx.UnsupportedOnnxError, match="'am'.*mode='mirror'"):
        corefw_onnx.load(_single_node_model(node, [_vi("x", [2, 3]), _vi(
            "p", [4], TensorProto.INT64)], [_vi("y", [2, 3])]))


# a fixed representative subset of ONNX's backend node tests (43 cases) (the full suite:
# benchmarks/onnx_node_suite.py, figures in docs/onnx.md)
SUBSET = ("test_add", "test_add_bcast", "test_relu", "test_sigmoid", "test_tanh",
          "test_matmul_3d", "test_gemm_all_attributes", "test_conv_with_strides_padding",
          "test_maxpool_2d_strides", "test_averagepool_2d_precomputed_pads",
          "test_batchnorm_example", "test_softmax_axis_1", "test_logsoftmax_axis_0",
          "test_reshape_negative_dim", "test_transpose_all_permutations_0",
          "test_concat_3d_axis_1", "test_slice_neg_steps", "test_gather_1",
          "test_gather_elements_0", "test_reduce_sum_keepdims_example",
          "test_reduce_mean_do_not_keepdims_example", "test_argmax_keepdims_example",
          "test_expand_dim_changed", "test_unsqueeze_axis_1", "test_squeeze",
          "test_flatten_axis2", "test_where_example", "test_cast_FLOAT_to_DOUBLE",
          "test_layer_normalization_3d_axis1_epsilon", "test_clip_default_min",
          "test_cumsum_1d_reverse_exclusive", "test_constant_pad",
          "test_split_equal_parts_1d_opset18",
          "test_einsum_batch_matmul", "test_range_float_type_positive_delta",
          "test_constantofshape_int_zeros", "test_erf", "test_pow_bcast_array",
          "test_scatter_elements_without_axis",
          "test_layer_normalization_4d_axis_negative_2_expanded", "test_lstm_defaults",
          "test_lstm_batchwise", "test_gru_with_initial_bias")


MODULES = ["add", "relu", "sigmoid", "tanh", "matmul", "gemm", "conv", "maxpool", "averagepool",
           "batch_normalization", "softmax", "logsoftmax", "reshape", "transpose", "concat",
           "slice", "gather", "gatherelements", "reducesum", "reducemean", "argmax", "expand",
           "unsqueeze", "squeeze", "flatten", "where", "cast", "layernormalization", "clip",
           "cumsum", "pad", "split", "einsum", "rangeop", "constantofshape", "erf", "pow",
           "scatterelements", "lstm", "gru"]


@pytest.fixture(scope="module")
def node_cases():
    return corefw_onnx.backend.node_cases(MODULES)


@pytest.mark.parametrize("name", SUBSET)
def test_onnx_node_case(node_cases, name):
    status, detail = run_node_case(node_cases[name])
    assert status == "pass", detail


def test_onnx_backend_api(node_cases):
    case = node_cases["test_add"]
    inputs, outputs = case.data_sets[0]
    assert CorefwBackend.supports_device("cpu") and not CorefwBackend.supports_device("nope")
    got = CorefwBackend.run_model(case.model, list(inputs))
    np.testing.assert_allclose(got[0], outputs[0], rtol=1e-6)
    assert isinstance(onnx.load_from_string(case.model.SerializeToString()), onnx.ModelProto)


def test_the_core_does_not_import_onnx():
    import subprocess
    import sys

    code = ("import sys, corefw; corefw.zeros(2) + 1; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', "
            "'corefw_onnx')], sorted(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
