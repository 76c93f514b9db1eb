"""RNN, LSTM, GRU and their cells against NumPy step equations written from PyTorch's
documentation (gate orders i,f,g,o and r,z,n), in float64: several layers, both directions,
batch_first, initial states, projections, inter-layer dropout; gradients by finite differences;
PyTorch's parameter names, shapes and initialisation."""

import math

import numpy as np
import pytest

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.autograd import gradcheck as _gradcheck
from corefw.errors import ShapeError


def gradcheck(fn, inputs):
    """Finite differences in float64, with tolerances tight enough to catch a 1e-4 error."""
    return _gradcheck(fn, inputs, atol=1e-7, rtol=1e-6)


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def sig(x):
    return 1 / (1 + np.exp(-x))


# ---- NumPy step equations -----------------------------------------------------------------
def lstm_step(x, h, c, p, sfx):
    g = x @ p["weight_ih" + sfx].T + h @ p["weight_hh" + sfx].T
    if "bias_ih" + sfx in p:
        g = g + p["bias_ih" + sfx] + p["bias_hh" + sfx]
    n = c.shape[-1]
    i, f, gg, o = g[:, :n], g[:, n:2 * n], g[:, 2 * n:3 * n], g[:, 3 * n:]
    c = sig(f) * c + sig(i) * np.tanh(gg)
    h = sig(o) * np.tanh(c)
    if "weight_hr" + sfx in p:
        h = h @ p["weight_hr" + sfx].T
    return h, c


def gru_step(x, h, p, sfx):
    n = h.shape[-1]
    wi, wh = p["weight_ih" + sfx], p["weight_hh" + sfx]
    bi = p.get("bias_ih" + sfx, np.zeros(3 * n))
    bh = p.get("bias_hh" + sfx, np.zeros(3 * n))
    part = lambda w, b, k, v: v @ w[k * n:(k + 1) * n].T + b[k * n:(k + 1) * n]  # noqa: E731
    r = sig(part(wi, bi, 0, x) + part(wh, bh, 0, h))
    z = sig(part(wi, bi, 1, x) + part(wh, bh, 1, h))
    cand = np.tanh(part(wi, bi, 2, x) + r * part(wh, bh, 2, h))
    return (1 - z) * cand + z * h


def rnn_step(x, h, p, sfx, act):
    a = x @ p["weight_ih" + sfx].T + h @ p["weight_hh" + sfx].T
    if "bias_ih" + sfx in p:
        a = a + p["bias_ih" + sfx] + p["bias_hh" + sfx]
    return np.tanh(a) if act == "tanh" else np.maximum(a, 0)


def ref_sequence(kind, module, x, h0=None, c0=None, zero_between_layers=False):
    """Sequence-first (T, N, I) input; returns (output, h_n[, c_n])."""
    p = {k: npy(v) for k, v in module.state_dict().items()}
    dirs = 2 if module.bidirectional else 1
    n_b = x.shape[1]
    h_size = module.proj_size or module.hidden_size
    h0 = np.zeros((module.num_layers * dirs, n_b, h_size)) if h0 is None else h0
    c0 = np.zeros((module.num_layers * dirs, n_b, module.hidden_size)) if c0 is None else c0
    hs, cs = [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            h, c = h0[layer * dirs + d], c0[layer * dirs + d]
            seq = np.zeros((x.shape[0], n_b, h_size))
            steps = range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0])
            for t in steps:
                if kind == "lstm":
                    h, c = lstm_step(x[t], h, c, p, sfx)
                elif kind == "gru":
                    h = gru_step(x[t], h, p, sfx)
                else:
                    h = rnn_step(x[t], h, p, sfx, kind)
                seq[t] = h
            outs.append(seq)
            hs.append(h)
            cs.append(c)
        x = np.concatenate(outs, axis=2)
        if zero_between_layers and layer < module.num_layers - 1:
            x = np.zeros_like(x)
    return (x, np.stack(hs)) + ((np.stack(cs),) if kind == "lstm" else ())


# ---- parameters ---------------------------------------------------------------------------
def test_lstm_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    expected = []
    for layer, in_size in ((0, 3), (1, 10)):
        for sfx in ("", "_reverse"):
            expected += [(f"weight_ih_l{layer}{sfx}", (20, in_size)),
                         (f"weight_hh_l{layer}{sfx}", (20, 5)),
                         (f"bias_ih_l{layer}{sfx}", (20,)), (f"bias_hh_l{layer}{sfx}", (20,))]
    assert [(k, tuple(v.shape)) for k, v in lstm.state_dict().items()] == expected
    proj = nn.LSTM(3, 6, proj_size=2, bias=False)
    assert [(k, tuple(v.shape)) for k, v in proj.state_dict().items()] == [
        ("weight_ih_l0", (24, 3)), ("weight_hh_l0", (24, 2)), ("weight_hr_l0", (2, 6))]
    assert [(k, tuple(v.shape)) for k, v in nn.GRU(4, 3).state_dict().items()] == [
        ("weight_ih_l0", (9, 4)), ("weight_hh_l0", (9, 3)), ("bias_ih_l0", (9,)),
        ("bias_hh_l0", (9,))]
    assert tuple(nn.RNN(4, 3).weight_ih_l0.shape) == (3, 4)
    assert [k for k in nn.LSTMCell(4, 3).state_dict()] == ["weight_ih", "weight_hh", "bias_ih",
                                                           "bias_hh"]
    assert repr(lstm) == "LSTM(3, 5, num_layers=2, bidirectional=True)"


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell])
def test_initialisation_is_uniform_one_over_sqrt_hidden(cls, device):
    m = cls(30, 100, device=device)
    bound = 1 / math.sqrt(100)
    w = np.concatenate([npy(p).ravel() for p in m.parameters()])
    assert np.abs(w).max() <= bound
    assert np.std(w) == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * w.size)


# ---- forward ------------------------------------------------------------------------------
CONFIGS = {
    "1layer": dict(),
    "2layers": dict(num_layers=2),
    "bidir": dict(bidirectional=True),
    "2layers_bidir_batch_first": dict(num_layers=2, bidirectional=True, batch_first=True),
    "no_bias": dict(bias=False),
}


def _run(module, kind, x, states, device=None):
    xt = t64(x.transpose(1, 0, 2) if module.batch_first else x, device=device)
    if kind == "lstm":
        out, (h, c) = module(xt, None if states is None else
                             tuple(t64(s, device=device) for s in states))
        finals = (h, c)
    else:
        out, h = module(xt, None if states is None else t64(states[0], device=device))
        finals = (h,)
    out = npy(out)
    return (out.transpose(1, 0, 2) if module.batch_first else out), [npy(f) for f in finals]


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh", "relu"])
@pytest.mark.parametrize("with_states", [False, True])
def test_sequence_forward_matches_step_equations(rng, config, kind, with_states, device):
    kw = CONFIGS[config]
    if kind == "lstm":
        module = nn.LSTM(3, 4, **kw)
    elif kind == "gru":
        module = nn.GRU(3, 4, **kw)
    else:
        module = nn.RNN(3, 4, nonlinearity=kind, **kw)
    module = module.double().to(device)
    x = rng.normal(size=(5, 2, 3))
    n_states = module.num_layers * (2 if module.bidirectional else 1)
    states = None
    if with_states:
        states = [rng.normal(size=(n_states, 2, 4))] * (2 if kind == "lstm" else 1)
        states = [rng.normal(size=s.shape) for s in states]
    out, finals = _run(module, kind, x, states, device=device)
    ref = ref_sequence(kind, module, x, *(states or ()))
    np.testing.assert_allclose(out, ref[0], rtol=1e-12, atol=1e-13)
    for got, want in zip(finals, ref[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_lstm_projection(rng, device):
    lstm = nn.LSTM(3, 6, num_layers=2, proj_size=2, bidirectional=True).double().to(device)
    x = rng.normal(size=(4, 2, 3))
    h0, c0 = rng.normal(size=(4, 2, 2)), rng.normal(size=(4, 2, 6))
    out, (h, c) = lstm(t64(x, device=device), (t64(h0, device=device), t64(c0, device=device)))
    ref_out, ref_h, ref_c = ref_sequence("lstm", lstm, x, h0, c0)
    assert out.shape == (4, 2, 4) and h.shape == (4, 2, 2) and c.shape == (4, 2, 6)
    np.testing.assert_allclose(npy(out), ref_out, rtol=1e-12)
    np.testing.assert_allclose(npy(h), ref_h, rtol=1e-12)
    np.testing.assert_allclose(npy(c), ref_c, rtol=1e-12)


def test_unbatched_input(rng, device):
    lstm = nn.LSTM(3, 4, num_layers=2).double().to(device)
    x = rng.normal(size=(5, 3))
    out, (h, c) = lstm(t64(x, device=device))
    ref_out, ref_h, ref_c = ref_sequence("lstm", lstm, x[:, None])
    assert out.shape == (5, 4) and h.shape == (2, 4)
    np.testing.assert_allclose(npy(out), ref_out[:, 0], rtol=1e-12)
    np.testing.assert_allclose(npy(c), ref_c[:, 0], rtol=1e-12)
    gru = nn.GRU(3, 4, batch_first=True).double().to(device)  # batch_first does not apply unbatched
    h0 = rng.normal(size=(1, 4))
    out, h = gru(t64(x, device=device), t64(h0, device=device))
    ref_out, ref_h = ref_sequence("gru", gru, x[:, None], h0[:, None])
    np.testing.assert_allclose(npy(out), ref_out[:, 0], rtol=1e-12)


def test_dropout_between_layers_only_while_training(rng, device):
    x = rng.normal(size=(4, 2, 3))
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.5)
    lstm = nn.LSTM(3, 4, num_layers=3, dropout=1.0).double().to(device)
    out, (h, _) = lstm(t64(x, device=device))  # training: every layer after the first sees zeros
    ref_out, ref_h, _ = ref_sequence("lstm", lstm, x, zero_between_layers=True)
    np.testing.assert_allclose(npy(out), ref_out, rtol=1e-12)
    np.testing.assert_allclose(npy(h), ref_h, rtol=1e-12)
    lstm.eval()
    out, _ = lstm(t64(x, device=device))
    np.testing.assert_allclose(npy(out), ref_sequence("lstm", lstm, x)[0], rtol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh", "relu"])
def test_cells_match_step_equations(rng, kind, device):
    cls = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}.get(kind)
    cell = (cls(3, 4) if cls else nn.RNNCell(3, 4, nonlinearity=kind)).double().to(device)
    p = {k + "_l0": npy(v) for k, v in cell.state_dict().items()}
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    tx, th = t64(x, device=device), t64(h, device=device)
    if kind == "lstm":
        c = rng.normal(size=(2, 4))
        got_h, got_c = cell(tx, (th, t64(c, device=device)))
        want_h, want_c = lstm_step(x, h, c, p, "_l0")
        np.testing.assert_allclose(npy(got_c), want_c, rtol=1e-12)
        zero_h, _ = cell(t64(x[0], device=device))  # unbatched, zero state
        np.testing.assert_allclose(npy(zero_h), lstm_step(x[:1], 0 * h[:1], 0 * c[:1], p,
                                                          "_l0")[0][0], rtol=1e-12)
    elif kind == "gru":
        got_h, want_h = cell(tx, th), gru_step(x, h, p, "_l0")
    else:
        got_h, want_h = cell(tx, th), rnn_step(x, h, p, "_l0", kind)
    np.testing.assert_allclose(npy(got_h), want_h, rtol=1e-12)


# ---- backward -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sequence_gradcheck(rng, kind, device):
    module = (nn.LSTM if kind == "lstm" else nn.GRU)(2, 2, num_layers=2,
                                                      bidirectional=True).double().to(device)
    x = t64(rng.normal(size=(3, 1, 2)), requires_grad=True, device=device)
    h0 = t64(rng.normal(size=(4, 1, 2)), requires_grad=True, device=device)
    c0 = t64(rng.normal(size=(4, 1, 2)), requires_grad=True, device=device)
    params = module._flat_weights
    w_hh = params[1]
    fn_seq = F.lstm if kind == "lstm" else F.gru

    def fn(x, h0, c0, w_hh):
        ps = [w_hh if i == 1 else p for i, p in enumerate(params)]
        hx = (h0, c0) if kind == "lstm" else h0
        outs = fn_seq(x, hx, ps, True, 2, 0.0, False, True, False)
        return outs[0], outs[-1]

    assert gradcheck(fn, (x, h0, c0, w_hh))


def test_lstm_module_backward_reaches_every_parameter(rng, device):
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, device=device)
    out, (h, c) = lstm(corefw.randn(2, 5, 3, device=device))
    (out.sum() + h.sum() + c.sum()).backward()
    for name, p in lstm.named_parameters():
        assert p.grad is not None and np.abs(npy(p.grad)).sum() > 0, name


# ---- errors -------------------------------------------------------------------------------
def test_shape_errors(device):
    lstm = nn.LSTM(3, 4, num_layers=2, device=device)
    with pytest.raises(ShapeError, match="input_size. Expected 3, got 5"):
        lstm(corefw.randn(4, 2, 5, device=device))
    with pytest.raises(ShapeError, match=r"h_0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        lstm(corefw.randn(4, 2, 3, device=device),
             (corefw.zeros(1, 2, 4, device=device), corefw.zeros(2, 2, 4, device=device)))
    with pytest.raises(ShapeError, match="expected input of 3 dims"):
        nn.GRU(3, 4, device=device)(corefw.randn(4, 2, 3, 1, device=device))
    with pytest.raises(ShapeError, match=r"GRUCell: expected input of shape \(N, 3\)"):
        nn.GRUCell(3, 4, device=device)(corefw.randn(2, 5, device=device))
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.RNNBase("GRU", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
