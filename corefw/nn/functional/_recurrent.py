"""Recurrent layers as functions: one-step cells and whole multi-layer sequences.

Gate layouts and equations are PyTorch's, so weights carry over:

* RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` (act tanh or relu).
* LSTM, gates ``(i, f, g, o)`` stacked in that order: ``c' = sigmoid(f) * c + sigmoid(i) *
  tanh(g)``, ``h' = sigmoid(o) * tanh(c')`` (then ``h' = W_hr h'`` with a projection).
* GRU, gates ``(r, z, n)``: ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z`` likewise,
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

The sequence functions (``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``) follow PyTorch's internal
``_VF`` signature: ``(input, hx, params, has_biases, num_layers, dropout, train,
bidirectional, batch_first)`` with ``params`` flat in PyTorch's order (for each layer, for each
direction: ``w_ih, w_hh[, b_ih, b_hh][, w_hr]``). The input projection of every time step is
one matrix product; the loop runs over time only.
"""

from __future__ import annotations

from ..._creation import zeros
from ...errors import ShapeError
from ...ops.elementwise import relu, sigmoid, tanh
from ...ops.linalg import linear
from ...ops.shape import cat, chunk, stack, transpose
from ._dropout import dropout as _dropout

__all__ = ["gru", "gru_cell", "lstm", "lstm_cell", "rnn_relu", "rnn_relu_cell", "rnn_tanh",
           "rnn_tanh_cell"]


# -- cells ----------------------------------------------------------------------------------
def _cell_input(fn: str, input):
    if input.ndim not in (1, 2):
        raise ShapeError(f"{fn}: expected input of shape (N, input_size) or (input_size,), "
                         f"got {input.shape}")
    batched = input.ndim == 2
    return batched, (input if batched else input.unsqueeze(0))


def _zeros_state(x, hidden: int):
    return zeros((x.shape[0], hidden), dtype=x.dtype, device=x.device)


def _simple_cell(fn, act, input, hx, w_ih, w_hh, b_ih, b_hh):
    batched, x = _cell_input(fn, input)
    h = _zeros_state(x, w_hh.shape[1]) if hx is None else (hx if batched else hx.unsqueeze(0))
    out = act(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh))
    return out if batched else out.squeeze(0)


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman RNN step with tanh: ``tanh(W_ih x + b_ih + W_hh h + b_hh)``."""
    return _simple_cell("rnn_tanh_cell", tanh, input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman RNN step with relu."""
    return _simple_cell("rnn_relu_cell", relu, input, hx, w_ih, w_hh, b_ih, b_hh)


def _lstm_gates(gates, c):
    i, f, g, o = chunk(gates, 4, -1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step; ``hx = (h, c)`` or None (zeros). Returns ``(h', c')``."""
    batched, x = _cell_input("lstm_cell", input)
    hidden = w_hh.shape[1]
    if hx is None:
        h = c = _zeros_state(x, hidden)
    else:
        h, c = hx if batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
    h, c = _lstm_gates(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh), c)
    return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


def _gru_gates(gx, gh, h):
    xr, xz, xn = chunk(gx, 3, -1)
    hr, hz, hn = chunk(gh, 3, -1)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    return n + z * (h - n)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step (PyTorch's gate order r, z, n)."""
    batched, x = _cell_input("gru_cell", input)
    h = _zeros_state(x, w_hh.shape[1]) if hx is None else (hx if batched else hx.unsqueeze(0))
    out = _gru_gates(linear(x, w_ih, b_ih), linear(h, w_hh, b_hh), h)
    return out if batched else out.squeeze(0)


# -- one layer, one direction, over time ----------------------------------------------------
def _steps(n: int, reverse: bool):
    return range(n - 1, -1, -1) if reverse else range(n)


def _run_simple(act, x, h, w_ih, w_hh, b_ih, b_hh, reverse):
    gx = linear(x, w_ih, b_ih)
    if b_hh is not None:
        gx = gx + b_hh
    w_hh_t = transpose(w_hh, 0, 1)
    gx = gx.unbind(0)  # one node for every step's slice (x[t] per step: O(T^2) backward)
    outs = [None] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        h = act(gx[t] + h @ w_hh_t)
        outs[t] = h
    return outs, (h,)


def _run_lstm(x, state, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    h, c = state
    gx = linear(x, w_ih, b_ih)
    if b_hh is not None:
        gx = gx + b_hh
    w_hh_t = transpose(w_hh, 0, 1)
    w_hr_t = transpose(w_hr, 0, 1) if w_hr is not None else None
    gx = gx.unbind(0)  # one node for every step's slice (x[t] per step: O(T^2) backward)
    outs = [None] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        h, c = _lstm_gates(gx[t] + h @ w_hh_t, c)
        if w_hr_t is not None:
            h = h @ w_hr_t
        outs[t] = h
    return outs, (h, c)


def _run_gru(x, h, w_ih, w_hh, b_ih, b_hh, reverse):
    gx = linear(x, w_ih, b_ih).unbind(0)  # one node for every step's slice
    outs = [None] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        h = _gru_gates(gx[t], linear(h, w_hh, b_hh), h)
        outs[t] = h
    return outs, (h,)


# -- whole sequences ------------------------------------------------------------------------
def _group(params, has_biases: bool, num_layers: int, num_dirs: int):
    n = len(params) // (num_layers * num_dirs)
    base = 4 if has_biases else 2
    if n not in (base, base + 1) or n * num_layers * num_dirs != len(params):
        raise ShapeError(f"recurrent layer: got {len(params)} weights for {num_layers} "
                         f"layer(s) x {num_dirs} direction(s) (expected {base} or {base + 1} "
                         f"each)")
    groups = []
    for i in range(num_layers * num_dirs):
        p = list(params[i * n:(i + 1) * n])
        w_ih, w_hh = p[0], p[1]
        b_ih, b_hh = (p[2], p[3]) if has_biases else (None, None)
        w_hr = p[-1] if n == base + 1 else None
        groups.append((w_ih, w_hh, b_ih, b_hh, w_hr))
    return groups


def _prepare(fn, input, batch_first):
    if input.ndim not in (2, 3):
        raise ShapeError(f"{fn}: expected input of 3 dims (batched) or 2 dims (unbatched), got "
                         f"shape {input.shape}")
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(1)
    if batched and batch_first:
        x = transpose(x, 0, 1)
    return batched, x


def _check_state(fn, name, h, expected, batched):
    got = tuple(h.shape) if batched else tuple(h.shape[:1]) + (expected[1],) + tuple(
        h.shape[1:])
    if h.ndim != (3 if batched else 2) or got != expected:
        want = expected if batched else (expected[0], expected[2])
        raise ShapeError(f"{fn}: expected {name} of shape {want}, got {tuple(h.shape)}")
    return h if batched else h.unsqueeze(1)


def _sequence(fn, kind, input, states, params, has_biases, num_layers, dropout, train,
              bidirectional, batch_first):
    """Shared driver: returns (output, final states...)."""
    num_dirs = 2 if bidirectional else 1
    groups = _group(params, has_biases, num_layers, num_dirs)
    batched, x = _prepare(fn, input, batch_first)
    if x.shape[-1] != groups[0][0].shape[1]:
        raise ShapeError(f"{fn}: input.size(-1) must be equal to input_size. Expected "
                         f"{groups[0][0].shape[1]}, got {x.shape[-1]}")
    n_batch = x.shape[1]
    w_hh0, w_hr0 = groups[0][1], groups[0][4]
    out_size = w_hh0.shape[1]
    hidden = w_hr0.shape[1] if w_hr0 is not None else out_size
    sizes = [out_size] + ([hidden] if kind == "lstm" else [])
    full = []
    for name, size, s in zip(("h_0", "c_0"), sizes, states):
        shape = (num_layers * num_dirs, n_batch, size)
        if s is None:
            full.append(zeros(shape, dtype=x.dtype, device=x.device))
        else:
            full.append(_check_state(fn, name, s, shape, batched))
    finals = [[] for _ in sizes]
    for layer in range(num_layers):
        outputs = []
        for d in range(num_dirs):
            k = layer * num_dirs + d
            w_ih, w_hh, b_ih, b_hh, w_hr = groups[k]
            start = tuple(s[k] for s in full)
            if kind == "lstm":
                outs, last = _run_lstm(x, start, w_ih, w_hh, b_ih, b_hh, w_hr, d == 1)
            elif kind == "gru":
                outs, last = _run_gru(x, start[0], w_ih, w_hh, b_ih, b_hh, d == 1)
            else:
                act = tanh if kind == "rnn_tanh" else relu
                outs, last = _run_simple(act, x, start[0], w_ih, w_hh, b_ih, b_hh, d == 1)
            outputs.append(stack(outs))
            for f, s in zip(finals, last):
                f.append(s)
        x = outputs[0] if num_dirs == 1 else cat(outputs, 2)
        if dropout and train and layer < num_layers - 1:
            x = _dropout(x, dropout, True)
    out = x
    if batched and batch_first:
        out = transpose(out, 0, 1)
    finals = [stack(f) for f in finals]
    if not batched:
        out = out.squeeze(1)
        finals = [f.squeeze(1) for f in finals]
    return (out, *finals)


def rnn_tanh(input, hx, params, has_biases: bool, num_layers: int, dropout: float,
             train: bool, bidirectional: bool, batch_first: bool):
    """Multi-layer Elman RNN (tanh) over a sequence; returns ``(output, h_n)``."""
    return _sequence("rnn_tanh", "rnn_tanh", input, (hx,), params, has_biases, num_layers,
                     dropout, train, bidirectional, batch_first)


def rnn_relu(input, hx, params, has_biases: bool, num_layers: int, dropout: float,
             train: bool, bidirectional: bool, batch_first: bool):
    """Multi-layer Elman RNN (relu) over a sequence; returns ``(output, h_n)``."""
    return _sequence("rnn_relu", "rnn_relu", input, (hx,), params, has_biases, num_layers,
                     dropout, train, bidirectional, batch_first)


def lstm(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,
         bidirectional: bool, batch_first: bool):
    """Multi-layer LSTM over a sequence; ``hx = (h_0, c_0)`` or None. Returns
    ``(output, h_n, c_n)``."""
    h0, c0 = (None, None) if hx is None else hx
    return _sequence("lstm", "lstm", input, (h0, c0), params, has_biases, num_layers, dropout,
                     train, bidirectional, batch_first)


def gru(input, hx, params, has_biases: bool, num_layers: int, dropout: float, train: bool,
        bidirectional: bool, batch_first: bool):
    """Multi-layer GRU over a sequence; returns ``(output, h_n)``."""
    return _sequence("gru", "gru", input, (hx,), params, has_biases, num_layers, dropout,
                     train, bidirectional, batch_first)
