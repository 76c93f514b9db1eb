"""A bounded property-based fuzzer of the checkpoint loader (issue 13).

Inputs: corefw-written checkpoints with random byte flips, truncations, insertions and header
rewrites; headers built from random JSON (dtypes, shapes and offsets of every JSON type and
size); and random bytes. Property: ``corefw.load`` returns, or raises ``CheckpointError``;
nothing else, no hang, and no allocation much beyond the input's size (a header that claims
a huge tensor allocates nothing). Derandomized with fixed ``max_examples``, so CI runs the same
few thousand cases in seconds.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corefw
from corefw.errors import CheckpointError

_SETTINGS = settings(max_examples=1000, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))


def _template(kind: int) -> bytes:
    buf = io.BytesIO()
    if kind == 0:
        obj = {"w": corefw.arange(6.0).reshape(2, 3), "b": corefw.tensor([True, False])}
    elif kind == 1:
        obj = {"model": {"w": corefw.ones(3, dtype=corefw.float16)},
               "opt": {"state": {0: {"step": corefw.tensor(3.0)}}, "lr": 0.1},
               "epoch": 3, "t": (1, None, "x")}
    else:
        obj = {"a": corefw.zeros(0, 2, dtype=corefw.int64), "i8": corefw.tensor([1, -2],
                                                                               dtype=corefw.int8)}
    corefw.save(obj, buf)
    return buf.getvalue()


_TEMPLATES = [_template(k) for k in range(3)]
_SLACK = 4 * 1024 * 1024  # parsing a JSON header builds Python objects: a constant allowance


_COUNT = [0]
OUTCOMES = {"loaded": 0, "CheckpointError": 0}  # printed at the end with pytest -s


def teardown_module() -> None:
    print(f"\nloader fuzzer: {sum(OUTCOMES.values())} cases, {OUTCOMES}")


def _load_only_checkpoint_errors(data: bytes) -> None:
    """Load ``data``; only CheckpointError may escape. Every 8th case also runs under
    tracemalloc (which slows everything, hypothesis too, several fold) to bound its peak."""
    _COUNT[0] += 1
    traced = _COUNT[0] % 8 == 0
    if traced:
        tracemalloc.start()
    try:
        corefw.load(io.BytesIO(data))
        OUTCOMES["loaded"] += 1
    except CheckpointError:
        OUTCOMES["CheckpointError"] += 1
    finally:
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    if traced:
        assert peak <= 64 * len(data) + _SLACK, f"{peak} bytes allocated for {len(data)} bytes"


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(_TEMPLATES[draw(st.integers(0, len(_TEMPLATES) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "length"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "length" and len(data) >= 8:
            data[:8] = struct.pack("<Q", draw(st.one_of(
                st.integers(0, 2**64 - 1), st.integers(0, len(data) + 16))))
    return bytes(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=6)
_DTYPES = st.sampled_from(["F32", "F64", "F16", "I64", "I8", "U8", "BOOL", "BF16", "U16",
                           "U32", "U64", "C64", "F8_E4M3", "F8_E5M2", "F4", "Q7", ""])
_DIM = st.one_of(st.integers(0, 4), st.integers(0, 2**64), st.just(2**62), st.just(-1))


# Strategies are built once: building them inside a draw costs hypothesis far more than the
# loads themselves.
_SHAPE = st.one_of(st.lists(_DIM, max_size=5), st.sampled_from([[0] * 65, [1] * 64]), _JSON)
_DTYPE = st.one_of(_DTYPES, _JSON)
_BAD_OFFSETS = st.one_of(_JSON, st.lists(st.integers(-2, 2**64), max_size=3))
_NAME = st.text(max_size=6)
_META = st.one_of(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
                  _JSON.map(lambda tree: {"corefw.format": "1", "corefw.tree": json.dumps(tree)}),
                  _JSON)
_CHOICE = st.integers(0, 3)


@st.composite
def crafted(draw) -> bytes:
    header: dict = {}
    offset = 0
    for k in range(draw(_CHOICE)):
        size = draw(st.integers(0, 64))
        offsets = [offset, offset + size] if draw(_CHOICE) else draw(_BAD_OFFSETS)
        offset += size
        entry = {"dtype": draw(_DTYPE), "shape": draw(_SHAPE), "data_offsets": offsets}
        name = f"t{k}" if draw(_CHOICE) else draw(_NAME)
        header[name] = entry if draw(_CHOICE) else draw(_JSON)
    if draw(_CHOICE) == 0:
        header["__metadata__"] = draw(_META)
    raw = json.dumps(header).encode()
    if draw(_CHOICE) == 0:  # escapes JSON decodes into lone surrogates
        raw = raw.replace(b'"t0"', b'"\\ud800"')
    payload = draw(st.binary(max_size=offset + 8))
    return struct.pack("<Q", len(raw)) + raw + payload


@_SETTINGS
@given(mutated())
def test_mutated_checkpoints(data):
    _load_only_checkpoint_errors(data)


@_SETTINGS
@given(crafted())
def test_crafted_headers(data):
    _load_only_checkpoint_errors(data)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    _load_only_checkpoint_errors(data)


def test_templates_load():
    # the control: the unmutated templates are valid checkpoints
    for data in _TEMPLATES:
        assert isinstance(corefw.load(io.BytesIO(data)), dict)
    assert np.array_equal(corefw.load(io.BytesIO(_TEMPLATES[0]))["w"].numpy(),
                          np.arange(6.0, dtype=np.float32).reshape(2, 3))
