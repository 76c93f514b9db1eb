"""Variable-length sequences for the recurrent layers (PyTorch's ``torch.nn.utils.rnn``).

A :class:`PackedSequence` stores a batch of sequences of different lengths without padding:
``data`` holds, time step after time step, the entries of the sequences still running at that
step (longest first), and ``batch_sizes[t]`` says how many there are. ``RNN``, ``LSTM`` and
``GRU`` accept one as input and return one, with ``h_n`` taken at each sequence's own last
step. Every function here is differentiable (indexing, ``cat`` and ``stack`` only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import corefw
from corefw.errors import ShapeError

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]


class _PackedFields(NamedTuple):
    data: Any
    batch_sizes: Any
    sorted_indices: Any
    unsorted_indices: Any


class PackedSequence(_PackedFields):
    """A packed batch of variable-length sequences (build one with
    :func:`pack_padded_sequence` or :func:`pack_sequence`, not directly).

    Attributes:
        data: ``(sum of lengths, *features)``, time-major.
        batch_sizes: int64 host tensor, the number of sequences at each time step.
        sorted_indices: the batch order used inside (longest first), or None if the input
            was already sorted.
        unsorted_indices: its inverse permutation, or None.
    """

    def __new__(cls, data: Any, batch_sizes: Any = None, sorted_indices: Any = None,
                unsorted_indices: Any = None) -> PackedSequence:
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` (and the index tensors, for a device move) converted like ``Tensor.to``."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        device = data.device

        def move(t: Any) -> Any:
            return None if t is None else t.to(device)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def cpu(self) -> PackedSequence:
        """On the host device."""
        return self.to("cpu")

    def float(self) -> PackedSequence:
        """``data`` as float32."""
        return self.to(corefw.float32)

    def double(self) -> PackedSequence:
        """``data`` as float64."""
        return self.to(corefw.float64)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a ``cuda`` device."""
        return self.data.device.type == "cuda"

    def is_pinned(self) -> bool:
        """Always False (corefw has no pinned host memory)."""
        return False


def _invert(permutation: Any) -> Any:
    perm = np.asarray(permutation.tolist(), dtype=np.int64)
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size)
    return corefw.tensor(inverse, device=permutation.device)


def _lengths_list(lengths: Any) -> list[int]:
    if isinstance(lengths, corefw.Tensor):
        if lengths.dim() != 1:
            raise ShapeError(f"pack_padded_sequence: lengths must be 1-D, got shape "
                             f"{tuple(lengths.shape)}")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose sequence
    ``b`` is ``lengths[b]`` long.

    Raises:
        ValueError: ``lengths`` not in decreasing order while ``enforce_sorted``, a length
            <= 0 or longer than ``T``, or a number of lengths that is not the batch size.
    """
    lens = _lengths_list(lengths)
    batch_dim = 0 if batch_first else 1
    if len(lens) != input.shape[batch_dim]:
        raise ValueError(f"pack_padded_sequence: got {len(lens)} lengths for a batch of "
                         f"{input.shape[batch_dim]} sequences")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lens, lens[1:])):
            raise ValueError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability.")
    else:
        order = np.argsort(-np.asarray(lens), kind="stable")
        lens = [lens[i] for i in order]
        sorted_indices = corefw.tensor(order.astype(np.int64), device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
    if lens and lens[-1] <= 0:
        raise ValueError("Length of all samples has to be greater than 0, but found an element "
                         "in 'lengths' that is <= 0")
    if batch_first:
        input = input.transpose(0, 1)
    if lens and lens[0] > input.shape[0]:
        raise ValueError(f"pack_padded_sequence: the longest length {lens[0]} exceeds the "
                         f"padded length {input.shape[0]}")
    steps = lens[0] if lens else 0
    sizes = [sum(1 for n in lens if n > t) for t in range(steps)]
    data = corefw.cat([input[t, :bs] for t, bs in enumerate(sizes)], 0)
    return PackedSequence(data, corefw.tensor(sizes, dtype=corefw.int64), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Any, Any]:
    """Inverse of :func:`pack_padded_sequence`: ``(padded, lengths)`` in the original batch
    order, ``padded`` ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) where ``T`` is the
    longest length or ``total_length``.

    Raises:
        ValueError: ``total_length`` shorter than the longest sequence.
    """
    sizes = [int(v) for v in sequence.batch_sizes.tolist()]
    steps = len(sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}")
        steps = total_length
    data = sequence.data
    batch = sizes[0] if sizes else 0
    feat = tuple(data.shape[1:])
    rows, offset = [], 0
    for t in range(steps):
        bs = sizes[t] if t < len(sizes) else 0
        part = data[offset:offset + bs]
        offset += bs
        if bs < batch:
            pad = corefw.full((batch - bs, *feat), padding_value, dtype=data.dtype,
                              device=data.device)
            part = corefw.cat([part, pad], 0)
        rows.append(part)
    padded = corefw.stack(rows, 0)
    lengths = [sum(1 for bs in sizes if bs > b) for b in range(batch)]
    lengths_t = corefw.tensor(lengths, dtype=corefw.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths_t = lengths_t[sequence.unsorted_indices.cpu()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths_t


def pad_sequence(sequences: Sequence[Any], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Any:
    """Stack tensors ``(L_i, *)`` of different lengths into ``(max L, B, *)`` (``(B, max L,
    *)`` with ``batch_first``), padded with ``padding_value`` on the ``padding_side``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = corefw.full((missing, *s.shape[1:]), padding_value, dtype=s.dtype,
                              device=s.device)
            s = corefw.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return corefw.stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors ``(L_i, *)`` (longest first unless ``enforce_sorted=False``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list:
    """The list of sequences ``padded[b, :lengths[b]]`` (inverse of :func:`pad_sequence`)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[b, :n] for b, n in enumerate(_lengths_list(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences in a :class:`PackedSequence` (inverse of :func:`pack_sequence`)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def run_packed(fn: Any, packed: PackedSequence, hx: Any, args: tuple) -> tuple:
    """Run the recurrent function ``fn(input, hx, *args, batch_first=False)`` on each
    sequence of ``packed`` over its own length (exact final states, also backwards), and
    return ``(PackedSequence output, *final states)`` in the original batch order.

    ``hx`` is None, a tensor or a tuple of tensors with the batch on dimension 1. ``args``
    ends with ``bidirectional``: one-directional networks step through time once with the
    shrinking batch of ``packed.batch_sizes`` (as cuDNN does); bidirectional ones run each
    sequence on its own, since the backward direction starts at each sequence's own end.
    """
    sorted_idx, unsorted_idx = packed.sorted_indices, packed.unsorted_indices
    states = None if hx is None else (tuple(hx) if isinstance(hx, (tuple, list)) else (hx,))
    if states is not None and sorted_idx is not None:
        states = tuple(s.index_select(1, sorted_idx) for s in states)
    run = _run_per_sequence if args[-1] else _run_time_steps
    data, out_states = run(fn, packed, states, isinstance(hx, (tuple, list)), args)
    if unsorted_idx is not None:
        out_states = [s.index_select(1, unsorted_idx) for s in out_states]
    return (PackedSequence(data, packed.batch_sizes, sorted_idx, unsorted_idx), *out_states)


def _run_time_steps(fn: Any, packed: PackedSequence, states: Any, as_tuple: bool,
                    args: tuple) -> tuple:
    """One pass over time; at step ``t`` the first ``batch_sizes[t]`` sequences advance (the
    batch is sorted longest first). A sequence's final state is taken when it ends."""
    sizes = [int(v) for v in packed.batch_sizes.tolist()]
    steps = corefw.split(packed.data, sizes, 0)  # one node (a slice per step: O(T^2) backward)
    outs, ended = [], None
    for t, bs in enumerate(sizes):
        h = None if states is None else (states if as_tuple else states[0])
        res = fn(steps[t].unsqueeze(0), h, *args, False)
        outs.append(res[0][0])
        nxt = sizes[t + 1] if t + 1 < len(sizes) else 0
        new = res[1:]
        as_tuple = len(new) > 1
        if ended is None:
            ended = [[] for _ in new]
        if nxt < bs:  # the sequences nxt..bs-1 end here
            for k, s in enumerate(new):
                ended[k].append(s[:, nxt:bs])
        states = tuple(s[:, :nxt] for s in new)
    finals = [corefw.cat(parts[::-1], 1) if len(parts) > 1 else parts[0] for parts in ended]
    return corefw.cat(outs, 0), finals


def _run_per_sequence(fn: Any, packed: PackedSequence, states: Any, as_tuple: bool,
                      args: tuple) -> tuple:
    """Each sequence on its own over its own length (for bidirectional networks)."""
    padded, lengths = pad_packed_sequence(PackedSequence(packed.data, packed.batch_sizes))
    outs, finals = [], []
    for b, n in enumerate(lengths.tolist()):
        h_b = None
        if states is not None:
            h_b = tuple(s[:, b:b + 1] for s in states)
            h_b = h_b if as_tuple else h_b[0]
        res = fn(padded[:n, b:b + 1], h_b, *args, False)
        outs.append(res[0].unbind(0))  # its steps, as one node
        finals.append(res[1:])
    sizes = [int(v) for v in packed.batch_sizes.tolist()]
    data = corefw.cat([outs[b][t] for t, bs in enumerate(sizes) for b in range(bs)], 0)
    return data, [corefw.cat([f[k] for f in finals], 1) for k in range(len(finals[0]))]
