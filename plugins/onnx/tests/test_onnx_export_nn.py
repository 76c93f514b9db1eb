"""Every layer and loss of corefw.nn (the table in onnx_nn_table.py, which must list every
class) exports to ONNX, passes ``onnx.checker.check_model(full_check=True)`` and gives
corefw's outputs in onnxruntime (float32, 1e-5 relative) with a static and a dynamic batch
size; the few layers that draw random numbers in eval mode or compute on their targets' values
in Python raise UnsupportedOpError naming the op and the module (REFUSED says why)."""

from __future__ import annotations

import inspect
import io

import corefw_onnx
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx_nn_table import LAYERS, NOT_LAYERS, REFUSED

import corefw
from corefw import nn


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _outputs(y) -> list[np.ndarray]:
    if isinstance(y, corefw.Tensor):
        return [y.numpy()]
    return [a for o in y for a in _outputs(o)]


def _build(name):
    corefw.manual_seed(0)
    build, make = LAYERS[name]
    model = build()
    with corefw.no_grad():
        model(*_tuple(make(2)))  # lazy modules take their shapes
        for p in model.parameters():  # non-trivial weights, norms and biases
            p.copy_(corefw.randn(*p.shape) * 0.5)
        for _n, b in model.named_buffers():
            if b.dtype.is_floating_point:
                b.copy_(corefw.rand(*b.shape) + 0.5)
    return model.eval(), make


def _session(model, xs, names, dynamic):
    buf = io.BytesIO()
    axes = {n: {0: "batch"} for n in names} if dynamic else None
    corefw_onnx.export(model, xs, buf, input_names=names, dynamic_axes=axes)
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()), full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])


def _compare(sess, model, xs, names):
    got = sess.run(None, {n: x.numpy() for n, x in zip(names, xs)})
    with corefw.no_grad():
        ref = _outputs(model(*xs))
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        scale = max(1.0, float(np.abs(r).max())) if r.size else 1.0
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * scale)


def test_the_table_lists_every_layer_and_loss():
    classes = {n for n, c in vars(nn).items() if inspect.isclass(c) and issubclass(
        c, nn.Module)}
    listed = {n.split("_")[0] for n in LAYERS}
    assert classes - NOT_LAYERS - listed == set()
    assert set(REFUSED) <= listed


@pytest.mark.parametrize("name", sorted(set(LAYERS) - set(REFUSED)))
def test_layer_exports_and_matches_onnxruntime(name):
    model, make = _build(name)
    xs = _tuple(make(3))
    names = [f"x{i}" for i in range(len(xs))]
    _compare(_session(model, xs, names, dynamic=False), model, xs, names)
    sess = _session(model, xs, names, dynamic=True)
    for b in (3, 5, 1):
        _compare(sess, model, _tuple(make(b)), names)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unexportable_layers_are_refused_by_name(name):
    model, make = _build(name)
    with pytest.raises(corefw_onnx.UnsupportedOpError, match=rf"'{REFUSED[name]}'.*module") as e:
        corefw_onnx.export(model, _tuple(make(3)), None)
    assert e.value.op == REFUSED[name] and e.value.module and isinstance(e.value,
                                                                       NotImplementedError)
