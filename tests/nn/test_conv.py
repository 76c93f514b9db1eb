"""Convolution layers: parameters and initialisation, padding modes, chained layouts, the cpu
kernels' thread blocks, PyTorch state dicts, and the error messages. The functions' values and
gradients are rows of the op table (corefw.testing, run by tests/ops/test_op_table.py)."""

import functools
import math

import numpy as np
import pytest
from nn_helpers import npy, t64

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.errors import DTypeError, ShapeError
from corefw.testing import reference_nn as RN


# ---- references: corefw.testing's, in the layer tests' argument order --------------------
def ref_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    return RN.conv2d(x, w, b, stride, pads, dilation, groups)


def ref_conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                         groups=1, dilation=(1, 1)):
    return RN.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)


# F.conv2d, F.conv1d and F.conv_transpose2d over strides, paddings ("same", "valid", ints),
# dilations and groups, forward, backward and double backward, through the kernels and the
# decompositions: rows of the op table (corefw.testing.cases_nn_functions, test_op_table.py).
def test_conv2d_chained_layout_and_unbatched(rng, device):
    """The cpu kernels return a channel-major view; feeding it to the next conv (and pooling,
    relu, flatten) must not change the numbers."""
    x = rng.standard_normal((3, 2, 8, 8))
    w1, w2 = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((5, 4, 3, 3))
    h = F.conv2d(t64(x, device=device), t64(w1, device=device), padding=1)
    out = F.conv2d(F.relu(h), t64(w2, device=device), stride=2)
    ref = ref_conv2d(np.maximum(ref_conv2d(x, w1, pads=((1, 1), (1, 1))), 0), w2, stride=(2, 2))
    np.testing.assert_allclose(npy(out), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(npy(out.flatten(1)), ref.reshape(3, -1), rtol=1e-10, atol=1e-10)
    single = F.conv2d(t64(x[0], device=device), t64(w1, device=device), padding=1)
    assert single.shape == (4, 8, 8)
    np.testing.assert_allclose(npy(single), npy(h)[0], rtol=1e-12, atol=1e-12)


def test_conv1d_same_padding_keeps_the_length(rng, device):
    x, w = t64(rng.standard_normal((2, 4, 11)), device=device), t64(
        rng.standard_normal((6, 2, 2)), device=device)
    assert F.conv1d(x, w, None, padding="same", groups=2).shape == (2, 6, 11)


# ---- layers -------------------------------------------------------------------------------
def test_conv2d_layer_parameters_and_init(device):
    conv = nn.Conv2d(64, 32, 3, padding=1, device=device)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.weight.shape == (32, 64, 3, 3) and conv.bias.shape == (32,)
    assert list(conv.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(64 * 9)  # kaiming_uniform_(a=sqrt(5)) on fan_in = 576
    w = npy(conv.weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.05 * bound ** 2 / 3  # uniform variance
    assert abs(w.mean()) < 0.02 * bound
    assert np.abs(npy(conv.bias)).max() <= bound
    grouped = nn.Conv2d(4, 6, (3, 2), groups=2, bias=False)
    assert grouped.weight.shape == (6, 2, 3, 2) and grouped.bias is None
    assert list(grouped.state_dict()) == ["weight"]
    assert repr(grouped) == "Conv2d(4, 6, kernel_size=(3, 2), stride=(1, 1), groups=2, bias=False)"
    assert repr(conv) == "Conv2d(64, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"


def test_conv_layers_forward_and_shapes(rng, device):
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=corefw.float64, device=device)
    x = rng.standard_normal((2, 3, 9, 9))
    ref = ref_conv2d(x, npy(conv.weight), npy(conv.bias), (2, 2), ((1, 1), (1, 1)))
    np.testing.assert_allclose(npy(conv(t64(x, device=device))), ref, rtol=1e-10, atol=1e-10)
    c1 = nn.Conv1d(3, 5, 4, padding="same", device=device)
    assert c1.weight.shape == (5, 3, 4)
    assert c1(corefw.randn(2, 3, 10, device=device)).shape == (2, 5, 10)
    ct = nn.ConvTranspose2d(3, 6, 3, stride=2, padding=1, output_padding=1, groups=3,
                            device=device)
    assert ct.weight.shape == (3, 2, 3, 3) and ct.bias.shape == (6,)
    assert abs(npy(ct.weight)).max() <= 1 / math.sqrt(2 * 9)
    assert ct(corefw.randn(1, 3, 4, 4, device=device)).shape == (1, 6, 8, 8)
    ct2 = nn.ConvTranspose2d(2, 2, 3, stride=2, device=device)
    assert ct2(corefw.randn(1, 2, 4, 4, device=device),
               output_size=(10, 10)).shape == (1, 2, 10, 10)
    with pytest.raises(ShapeError, match="output_size"):
        ct2(corefw.randn(1, 2, 4, 4, device=device), output_size=(12, 12))
    ct1 = nn.ConvTranspose1d(2, 3, 3, stride=2, device=device)
    assert ct1.weight.shape == (2, 3, 3)
    assert ct1(corefw.randn(1, 2, 5, device=device)).shape == (1, 3, 11)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes(rng, mode, device):
    conv = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode, dtype=corefw.float64,
                     device=device)
    x = rng.standard_normal((1, 2, 5, 6))
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode=np_mode)
    ref = ref_conv2d(xp, npy(conv.weight), npy(conv.bias))
    np.testing.assert_allclose(npy(conv(t64(x, device=device))), ref, rtol=1e-10, atol=1e-10)
    assert f"padding_mode={mode}" in repr(conv)


# ---- errors -------------------------------------------------------------------------------
def test_conv_errors(device):
    conv = nn.Conv2d(1, 16, 3, device=device)
    randn = functools.partial(corefw.randn, device=device)
    with pytest.raises(ShapeError, match=r"Conv2d\(1, 16.*in_channels=1.*\(64, 3, 28, 28\)"):
        conv(randn(64, 3, 28, 28))
    with pytest.raises(ShapeError, match="4-D input"):
        conv(randn(28, 28))
    with pytest.raises(ShapeError, match=r"expected input\[2, 3, 8, 8\] to have 4 channels"):
        F.conv2d(randn(2, 3, 8, 8), randn(6, 2, 3, 3), groups=2)
    with pytest.raises(DTypeError, match="same floating point dtype"):
        F.conv2d(randn(1, 1, 4, 4, dtype=corefw.float64), randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(randn(1, 1, 4, 4), randn(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ShapeError, match="output of size"):
        F.conv2d(randn(1, 1, 2, 2), randn(1, 1, 3, 3))
    with pytest.raises(ShapeError, match="bias"):
        F.conv2d(randn(1, 1, 4, 4), randn(2, 1, 3, 3), randn(3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 3, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(randn(1, 1, 3, 3), randn(1, 1, 3, 3), stride=2,
                           output_padding=2)


def test_cpu_kernels_split_into_thread_blocks_exactly(rng, monkeypatch):
    """The corefw-cpu kernels run channel (or sample) blocks on worker threads, convolve big
    batches in chunks and reuse idle result buffers; forcing all three on small inputs (3
    workers, uneven blocks, a tiny scratch limit, every result cached) must give the plain
    single-thread results."""
    kernels = pytest.importorskip("corefw_cpu._conv")
    x = t64(rng.standard_normal((2, 5, 7, 6)))
    w = t64(rng.standard_normal((4, 5, 3, 3)))
    one = t64(rng.standard_normal((7, 1, 6, 5)))  # one channel: split over samples
    w1 = t64(rng.standard_normal((2, 1, 2, 2)))

    def run():
        xs, ws = x.detach().requires_grad_(), w.detach().requires_grad_()
        outs = [F.conv2d(xs, ws, None, 2, 1), F.conv2d(one, w1, padding=1),
                F.max_pool2d(xs, 3, 2, 1, ceil_mode=True), F.avg_pool2d(xs, 2, 1, 1),
                F.max_pool2d(one, 2), F.avg_pool2d(xs, 3, 2, 1, ceil_mode=True),
                F.max_pool2d(xs, 2, 3, dilation=2), F.max_pool2d(xs, (1, 2), (1, 2))]
        total = sum((o * t64(np.cos(np.arange(o.numel())).reshape(o.shape))).sum()
                    for o in outs)
        total.backward()
        return outs + [xs.grad, ws.grad]

    monkeypatch.setitem(kernels._THREADS, "n", 1)
    serial = [npy(t) for t in run()]
    monkeypatch.setitem(kernels._THREADS, "n", 3)
    monkeypatch.setattr(kernels, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels, "_CONV_PARALLEL_MIN", 0)
    monkeypatch.setattr(kernels, "_SCRATCH_MAX", 2000)  # im2col in batch chunks too
    monkeypatch.setattr(kernels, "_OUTPUT_MIN", 0)  # results from reused (dirty) buffers
    monkeypatch.setitem(kernels._THREADS, "outputs", [])
    run()
    for a, b in zip(serial, run()):  # chunked weight gradients add partial GEMMs: rounding
        np.testing.assert_allclose(a, npy(b), rtol=1e-13, atol=1e-13)


def test_pytorch_style_state_dict_carries_over(rng):
    """A state dict keyed and shaped as PyTorch's (plain arrays) loads into the same layers and
    gives the reference outputs: names, shapes and the int64 batch counter all line up."""
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.ConvTranspose2d(3, 2, 2, stride=2))
    state = {"0.weight": rng.standard_normal((3, 2, 3, 3)), "0.bias": rng.standard_normal(3),
             "1.weight": rng.standard_normal(3), "1.bias": rng.standard_normal(3),
             "1.running_mean": rng.standard_normal(3), "1.running_var": rng.uniform(1, 2, 3),
             "1.num_batches_tracked": np.array(7, dtype=np.int64),
             "3.weight": rng.standard_normal((3, 2, 2, 2)), "3.bias": rng.standard_normal(2)}
    assert list(model.state_dict()) == list(state)
    model.load_state_dict({k: corefw.tensor(v) for k, v in state.items()})
    model.eval()
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    h = ref_conv2d(x, state["0.weight"], state["0.bias"], pads=((1, 1), (1, 1)))
    s = (1, 3, 1, 1)
    h = (h - state["1.running_mean"].reshape(s)) / np.sqrt(state["1.running_var"].reshape(s)
                                                          + 1e-5)
    h = np.maximum(h * state["1.weight"].reshape(s) + state["1.bias"].reshape(s), 0)
    ref = ref_conv_transpose2d(h, state["3.weight"], state["3.bias"], stride=(2, 2))
    np.testing.assert_allclose(npy(model(corefw.tensor(x))), ref, rtol=1e-4, atol=1e-4)
    assert model[1].num_batches_tracked.dtype == corefw.int64
    assert int(model[1].num_batches_tracked.item()) == 7
