"""Layers of the nn tests and random programs, compiled (``replay`` and corefw-cpu's
``cpu_fuse``), equal eager bit for bit, forward and backward (inputs' and parameters'
gradients); the demo trains the same compiled."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

import corefw
from corefw import nn


def _np(t):
    return None if t is None else t.detach().numpy().copy()


LAYERS = [
    (lambda: nn.Linear(6, 4), (3, 6)),
    (lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2), (2, 2, 7, 7)),
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), (2, 2, 4, 4)),
    (lambda: nn.Conv1d(2, 3, 3), (2, 2, 9)),
    (lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
    (lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm1d(5), (6, 5)),
    (lambda: nn.LayerNorm(6), (3, 4, 6)),
    (lambda: nn.GroupNorm(2, 4), (3, 4, 5)),
    (lambda: nn.Embedding(10, 4), None),
    (lambda: nn.Dropout(0.4), (5, 6)),
    (lambda: nn.GELU(), (4, 5)),
    (lambda: nn.Softmax(dim=1), (4, 5)),
    (lambda: nn.LSTM(4, 5, batch_first=True), (2, 3, 4)),
    (lambda: nn.GRU(4, 5), (3, 2, 4)),
    (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8)),
    (lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True),
     (2, 5, 8)),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Tanh()), (2, 3, 4)),
]


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("backend", ["replay", "cpu_fuse"])
@pytest.mark.parametrize("make,shape", LAYERS, ids=lambda v: "" if v is None or
                         isinstance(v, tuple) else type(v()).__name__)
def test_layer_compiled_equals_eager_forward_backward(make, shape, backend):
    corefw.manual_seed(0)
    layer = make()
    if shape is None:
        x = corefw.randint(0, 10, (3, 4))
        args = (x,)
    else:
        x = corefw.randn(*shape, requires_grad=True)
        args = (x, x, x) if isinstance(layer, nn.MultiheadAttention) else (x,)
    compiled = corefw.compile(layer, backend=backend)
    for train in (True, False):
        layer.train(train)
        for _ in range(2):
            corefw.manual_seed(3)
            got = _first(compiled(*args))
            got.sum().backward()
            g_got = [_np(p.grad) for p in layer.parameters()] + (
                [_np(x.grad)] if x.requires_grad else [])
            layer.zero_grad()
            x.grad = None
            corefw.manual_seed(3)
            want = _first(layer(*args))
            want.sum().backward()
            g_want = [_np(p.grad) for p in layer.parameters()] + (
                [_np(x.grad)] if x.requires_grad else [])
            layer.zero_grad()
            x.grad = None
            assert np.array_equal(_np(got), _np(want))
            for a, b in zip(g_got, g_want):
                assert np.array_equal(a, b)
    assert compiled._compiled.cache, "nothing was captured"


_UNARY = ["exp", "tanh", "relu", "sigmoid", "neg", "abs", "sin"]
_BINARY = ["add", "sub", "mul", "maximum"]


def _program(seed):
    rng = random.Random(seed)
    steps = []
    for _ in range(rng.randint(3, 12)):
        kind = rng.random()
        if kind < 0.45:
            steps.append(("u", rng.choice(_UNARY)))
        elif kind < 0.8:
            steps.append(("b", rng.choice(_BINARY), rng.randrange(3)))
        elif kind < 0.9:
            steps.append(("s", rng.choice([0.5, -2.0, 3.0])))
        else:
            steps.append(("r",))

    def run(a, b, c):
        vals = [a, b, c]
        h = a
        for st in steps:
            if st[0] == "u":
                h = getattr(corefw, st[1])(h)
            elif st[0] == "b":
                h = getattr(corefw, st[1])(h, vals[st[2]])
            elif st[0] == "s":
                h = h * st[1]
            else:
                h = h.sum(1, keepdim=True) + h.mean()
            vals.append(h)
        return h.sum(), h
    return run


@pytest.mark.parametrize("backend", ["replay", "cpu_fuse"])
@pytest.mark.parametrize("seed", range(25))
def test_random_program_compiled_equals_eager(seed, backend):
    corefw.manual_seed(seed)
    a, b = corefw.randn(4, 5, requires_grad=True), corefw.randn(4, 5, requires_grad=True)
    c = corefw.randn(5)
    prog = _program(seed)
    compiled = corefw.compile(prog, backend=backend)
    for _ in range(2):
        (loss, h) = compiled(a, b, c)
        loss.backward()
        got = (_np(loss), _np(h), _np(a.grad), _np(b.grad))
        a.grad = b.grad = None
        (loss, h) = prog(a, b, c)
        loss.backward()
        want = (_np(loss), _np(h), _np(a.grad), _np(b.grad))
        a.grad = b.grad = None
        for x, y in zip(got, want):
            assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True)
    assert compiled.cache


def test_demo_trains_the_same_compiled_and_reports_the_speed_up(tmp_path):
    from corefw import demo

    outs = []
    for extra in ([], ["--compile"]):
        buf = io.StringIO()
        args = demo._parser().parse_args(["--epochs", "1", "--limit", "200", "--no-explain",
                                          "--quiet", "--model", "mlp", "--output",
                                          str(tmp_path / str(len(extra)))] + extra)
        assert demo._run(args, buf) == 0
        outs.append(buf.getvalue())
    assert "speed-up" in outs[1]
    accuracy = [o.split("test accuracy ")[1].split(" ")[0] for o in outs]
    assert accuracy[0] == accuracy[1]
