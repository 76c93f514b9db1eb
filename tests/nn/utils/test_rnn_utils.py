"""corefw.nn.utils.rnn (packing, padding) against hand-built layouts, and the recurrent layers
on PackedSequence input against running each sequence alone; parameters_to_vector."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
import corefw.nn as nn
from corefw.autograd import gradcheck
from corefw.nn.utils import parameters_to_vector, vector_to_parameters
from corefw.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)


def _seqs(lengths, feat=2, seed=0):
    rng = np.random.default_rng(seed)
    return [corefw.tensor(rng.standard_normal((n, feat))) for n in lengths]


def test_pack_layout_by_hand():
    a = corefw.tensor([[1.0], [2.0], [3.0]])
    b = corefw.tensor([[4.0], [5.0]])
    c = corefw.tensor([[6.0]])
    packed = pack_sequence([a, b, c])
    # time-major: step 0 of a, b, c; step 1 of a, b; step 2 of a
    assert packed.data.reshape(-1).tolist() == [1.0, 4.0, 6.0, 2.0, 5.0, 3.0]
    assert packed.batch_sizes.tolist() == [3, 2, 1] and packed.batch_sizes.dtype == corefw.int64
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    unsorted = pack_sequence([b, a, c], enforce_sorted=False)
    assert unsorted.sorted_indices.tolist() == [1, 0, 2]
    assert unsorted.unsorted_indices.tolist() == [1, 0, 2]
    assert unsorted.data.reshape(-1).tolist() == [1.0, 4.0, 6.0, 2.0, 5.0, 3.0]
    assert isinstance(unsorted, tuple) and unsorted._fields == (
        "data", "batch_sizes", "sorted_indices", "unsorted_indices")


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_pack_round_trip_unsorted(batch_first):
    seqs = _seqs([2, 5, 1, 3])
    padded = pad_sequence(seqs, batch_first=batch_first, padding_value=-1.0)
    assert tuple(padded.shape) == ((4, 5, 2) if batch_first else (5, 4, 2))
    pb = padded if batch_first else padded.transpose(0, 1)
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(pb[i, :s.shape[0]].numpy(), s.numpy())
        assert (pb[i, s.shape[0]:].numpy() == -1.0).all()
    packed = pack_padded_sequence(padded, corefw.tensor([2, 5, 1, 3]), batch_first=batch_first,
                                  enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [4, 3, 2, 1, 1]
    back, lengths = pad_packed_sequence(packed, batch_first=batch_first, padding_value=-1.0,
                                        total_length=5)
    assert lengths.tolist() == [2, 5, 1, 3]
    np.testing.assert_array_equal(back.numpy(), padded.numpy())
    for got, s in zip(unpad_sequence(back, lengths, batch_first=batch_first), seqs):
        np.testing.assert_array_equal(got.numpy(), s.numpy())
    for got, s in zip(unpack_sequence(packed), seqs):
        np.testing.assert_array_equal(got.numpy(), s.numpy())


def test_pad_sequence_left_and_errors():
    left = pad_sequence([corefw.tensor([1.0, 2.0]), corefw.tensor([3.0])], batch_first=True,
                        padding_side="left")
    assert left.tolist() == [[1.0, 2.0], [0.0, 3.0]]
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack_sequence(_seqs([1, 2]))
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(corefw.zeros(3, 2, 1), [3, 0])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(pack_sequence(_seqs([3, 1])), total_length=2)


def test_pack_and_pad_are_differentiable():
    x = corefw.tensor(np.random.default_rng(1).standard_normal((4, 3, 2)), requires_grad=True)

    def f(x):
        packed = pack_padded_sequence(x, [4, 2, 1])
        return pad_packed_sequence(packed)[0] * 2.0

    assert gradcheck(f, (x,))
    packed = pack_padded_sequence(x, [4, 2, 1])
    packed.data.sum().backward()
    mask = np.zeros((4, 3, 2))
    for b, n in enumerate([4, 2, 1]):
        mask[:n, b] = 1
    np.testing.assert_array_equal(x.grad.numpy(), mask)  # padding gets no gradient


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_take_packed_sequences(cls, bidirectional):
    corefw.manual_seed(0)
    layer = cls(2, 3, num_layers=2, bidirectional=bidirectional).double()
    seqs = _seqs([3, 5, 2], seed=2)
    n_states = 2 * (2 if bidirectional else 1)
    h0 = corefw.tensor(np.random.default_rng(3).standard_normal((n_states, 3, 3)))
    hx = (h0, h0 * 0.5) if cls is nn.LSTM else h0
    packed = pack_sequence(seqs, enforce_sorted=False)
    out, h = layer(packed, hx)
    assert isinstance(out, PackedSequence)
    assert out.batch_sizes.tolist() == packed.batch_sizes.tolist()
    outs = unpack_sequence(out)
    for i, s in enumerate(seqs):  # each sequence alone, with its own initial state
        hx_i = (h0[:, i:i + 1], 0.5 * h0[:, i:i + 1]) if cls is nn.LSTM else h0[:, i:i + 1]
        o_i, h_i = layer(s.unsqueeze(1), hx_i)
        np.testing.assert_allclose(outs[i].detach().numpy(), o_i[:, 0].detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
        for got, exp in zip(h if cls is nn.LSTM else (h,), h_i if cls is nn.LSTM else (h_i,)):
            np.testing.assert_allclose(got[:, i:i + 1].detach().numpy(), exp.detach().numpy(),
                                       rtol=1e-12, atol=1e-12)
    out.data.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_packed_run_gradients_match_per_sequence_runs(cls):
    """The one-directional packed path steps through time with a shrinking batch; its outputs,
    final states (hx=None) and parameter gradients equal running each sequence alone."""
    corefw.manual_seed(0)
    layer = cls(2, 3, num_layers=2).double()
    seqs = _seqs([2, 5, 5, 1], seed=4)
    out, states = layer(pack_sequence(seqs, enforce_sorted=False))
    h = states[0] if cls is nn.LSTM else states
    (out.data.pow(2).sum() + h.sum()).backward()
    packed_grads = [p.grad.numpy().copy() for p in layer.parameters()]
    layer.zero_grad()
    total = 0
    for i, s in enumerate(seqs):
        o_i, st_i = layer(s.unsqueeze(1))
        h_i = st_i[0] if cls is nn.LSTM else st_i
        np.testing.assert_allclose(h[:, i:i + 1].detach().numpy(), h_i.detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
        total = total + o_i.pow(2).sum() + h_i.sum()
    total.backward()
    for got, p in zip(packed_grads, layer.parameters()):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_parameters_vector_round_trip():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    params = list(model.parameters())
    vec = parameters_to_vector(params)
    assert tuple(vec.shape) == (sum(p.numel() for p in params),)
    np.testing.assert_array_equal(
        vec.detach().numpy(), np.concatenate([p.detach().numpy().ravel() for p in params]))
    new = corefw.arange(vec.numel()).float()
    vector_to_parameters(new, params)
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * 4
    assert model[0].weight.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert model[1].bias.tolist() == [10.0]  # after 6 + 2 + 2 entries
    with pytest.raises(TypeError, match="expected corefw.Tensor"):
        vector_to_parameters([1.0], params)
    with pytest.raises(ValueError, match="hold 11 elements"):
        vector_to_parameters(corefw.zeros(4), params)
