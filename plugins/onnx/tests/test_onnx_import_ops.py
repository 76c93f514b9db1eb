"""The operators real models need beyond the basics: ONNX's own node cases for Resize, TopK,
If/Loop/Scan, 3-D and auto-padded convolution and pooling, the normalisations, losses and
indexing operators (forward against ONNX's reference outputs), and gradients through the
imported graph by finite differences (float64) for Resize, Loop, Scan, If, ConvTranspose and
3-D pooling."""

from __future__ import annotations

import corefw_onnx
import corefw_onnx.backend
import numpy as np
import pytest
from corefw_onnx.backend import run_node_case
from onnx import TensorProto, helper

import corefw
from corefw.autograd import gradcheck

CASES = {
    "resize": ("test_resize_upsample_scales_cubic_align_corners",
               "test_resize_downsample_scales_linear_align_corners",
               "test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric",
               "test_resize_tf_crop_and_resize", "test_resize_downsample_sizes_cubic",
               "test_resize_upsample_sizes_nearest_not_larger",
               "test_resize_upsample_scales_linear_half_pixel_symmetric",
               "test_resize_upsample_sizes_nearest_axes_3_2"),
    "upsample": ("test_upsample_nearest",),
    "topk": ("test_top_k", "test_top_k_smallest", "test_top_k_negative_axis"),
    "if_": ("test_if",), "loop": ("test_loop11",), "scan": ("test_scan9_sum",),
    "conv": ("test_conv_with_autopad_same",),
    "convtranspose": ("test_convtranspose_3d", "test_convtranspose_autopad_same",
                      "test_convtranspose_output_shape", "test_convtranspose_pads"),
    "maxpool": ("test_maxpool_3d_default", "test_maxpool_with_argmax_2d_precomputed_pads",
                "test_maxpool_2d_same_lower", "test_maxpool_3d_dilations_use_ref_impl_large"),
    "averagepool": ("test_averagepool_3d_default", "test_averagepool_2d_same_upper",
                    "test_averagepool_2d_dilations",
                    "test_averagepool_3d_dilations_small"),
    "lppool": ("test_lppool_2d_dilations",),
    "maxunpool": ("test_maxunpool_export_with_output_shape",),
    "gathernd": ("test_gathernd_example_int32_batch_dim1",),
    "scatternd": ("test_scatternd_multiply",), "onehot": ("test_onehot_with_axis",),
    "depthtospace": ("test_depthtospace_crd_mode_example",),
    "rmsnormalization": ("test_rms_normalization_4d_axis_negative_2",),
    "groupnormalization": ("test_group_normalization_example",), "lrn": ("test_lrn",),
    "negativeloglikelihoodloss": ("test_nllloss_NCd1d2d3_none_no_weight_negative_ii",),
    "softmax_cross_entropy_loss": ("test_sce_mean_weight_ii_4d",),
    "cumprod": ("test_cumprod_1d_reverse_exclusive",), "hardmax": ("test_hardmax_one_hot",),
    "pad": ("test_reflect_pad", "test_edge_pad", "test_wrap_pad"),
    "gridsample": ("test_gridsample_bilinear",), "reversesequence": (
        "test_reversesequence_batch",), "eyelike": ("test_eyelike_with_dtype",),
}


@pytest.fixture(scope="module")
def node_cases():
    return corefw_onnx.backend.node_cases(sorted(CASES))


@pytest.mark.parametrize("name", sorted(n for names in CASES.values() for n in names))
def test_onnx_node_case(node_cases, name):
    status, detail = run_node_case(node_cases[name])
    assert status == "pass", detail


def _vi(name, shape, dtype=TensorProto.DOUBLE):
    return helper.make_tensor_value_info(name, dtype, shape)


def _model(nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return corefw_onnx.load(model)


def _check_grad(module, *shapes):
    rng = np.random.default_rng(0)
    xs = [corefw.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda *a: module(*a), xs)


def _i64(name, values):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_gradients(mode):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                            coordinate_transformation_mode="half_pixel")
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 1.5, 0.75])
    m = _model([node], [_vi("x", [1, 2, 3, 4])], [_vi("y", [1, 2, 4, 3])], [scales])
    _check_grad(m, (1, 2, 3, 4))


def test_loop_gradients_and_values():
    """y = x * 2**3 and the scan output of every step, through a Loop of 3 iterations."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "v_in"], ["v_out"]),
         helper.make_node("Mul", ["v_out", "w"], ["scan"])],
        "body", [_vi("i", [], TensorProto.INT64), _vi("cond_in", [], TensorProto.BOOL),
                 _vi("v_in", [2])],
        [_vi("cond_out", [], TensorProto.BOOL), _vi("v_out", [2]), _vi("scan", [2])])
    trips = helper.make_tensor("trips", TensorProto.INT64, [], [3])
    cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
    node = helper.make_node("Loop", ["trips", "cond", "x"], ["y", "ys"], body=body)
    m = _model([node], [_vi("x", [2]), _vi("w", [2])], [_vi("y", [2]), _vi("ys", [3, 2])],
               [trips, cond])
    x, w = corefw.tensor([1.0, -2.0]), corefw.tensor([0.5, 3.0])
    y, ys = m(x, w)
    np.testing.assert_allclose(y.numpy(), [8.0, -16.0])
    np.testing.assert_allclose(ys.numpy(), [[1.0, -12.0], [2.0, -24.0], [4.0, -48.0]])
    _check_grad(lambda a, b: m(a, b)[1].sum() + m(a, b)[0].sum(), (2,), (2,))


def test_scan_gradients_and_values():
    """A running sum over the sequence axis, read backwards: state and scan outputs."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Tanh", ["s_out"], ["y_t"])],
        "body", [_vi("s_in", [2]), _vi("x_t", [2])], [_vi("s_out", [2]), _vi("y_t", [2])])
    node = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1,
                            scan_input_directions=[1])
    m = _model([node], [_vi("s0", [2]), _vi("xs", [3, 2])], [_vi("s", [2]), _vi("ys", [3, 2])])
    xs = np.arange(6.0).reshape(3, 2)
    s, ys = m(corefw.zeros(2, dtype=corefw.float64), corefw.tensor(xs))
    np.testing.assert_allclose(s.numpy(), xs.sum(0))
    np.testing.assert_allclose(ys.numpy(), np.tanh(np.cumsum(xs[::-1], 0)))
    _check_grad(lambda a, b: m(a, b)[1], (2,), (3, 2))


def test_if_reads_the_outer_scope_and_is_differentiable():
    then = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["t"])], "then", [],
                             [_vi("t", [3])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                              [_vi("e", [3])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    m = _model([node], [_vi("c", [], TensorProto.BOOL), _vi("x", [3])], [_vi("y", [3])])
    x = corefw.tensor([1.0, -2.0, 3.0])
    np.testing.assert_allclose(m(corefw.tensor(True), x).numpy(), [1.0, 4.0, 9.0])
    np.testing.assert_allclose(m(corefw.tensor(False), x).numpy(), [-1.0, 2.0, -3.0])
    _check_grad(lambda a: m(corefw.tensor(True), a), (3,))


def test_conv_transpose_and_3d_pool_gradients():
    w = np.random.default_rng(1).standard_normal((2, 3, 2, 3))
    ct = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 1],
                          pads=[0, 1, 1, 0], output_padding=[1, 0])
    winit = helper.make_tensor("w", TensorProto.DOUBLE, list(w.shape), w.ravel().tolist())
    m = _model([ct], [_vi("x", [1, 2, 3, 3])], [_vi("y", [1, 3, 6, 4])], [winit])
    _check_grad(m, (1, 2, 3, 3))
    pool = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2, 2],
                            auto_pad="SAME_UPPER", dilations=[1, 2, 1])
    _check_grad(_model([pool], [_vi("x", [1, 1, 3, 4, 3])], [_vi("y", [1, 1, 3, 4, 3])],
                            opset=19), (1, 1, 3, 4, 3))


def test_subgraph_operators_are_checked_at_load():
    then = helper.make_graph([helper.make_node("Bernoulli", ["x"], ["t"], name="rnd")], "then",
                             [], [_vi("t", [3])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=then)
    graph = helper.make_graph([node], "g", [_vi("c", [], TensorProto.BOOL), _vi("x", [3])],
                              [_vi("y", [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(corefw_onnx.UnsupportedOnnxError, match="'rnd'.*Bernoulli"):
        corefw_onnx.load(model)
