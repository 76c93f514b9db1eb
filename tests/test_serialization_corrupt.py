"""Tests of corefw.load on corrupt files (corefw/serialization.py, corefw/_safetensors_format.py):
every fault is a CheckpointError naming the file, and nothing is loaded. The other save/load
tests are in test_serialization.py.
"""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
from _serialization_helpers import assert_same
from _serialization_helpers import host as _host

import corefw
from corefw import _safetensors_format as fmt
from corefw import serialization as ser
from corefw.errors import CheckpointError

# ---------------------------------------------------------------------------------------------
# corrupt files: every fault is a CheckpointError naming the file, and nothing is loaded


def _expect_fault(path, match: str = "") -> CheckpointError:
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
        ser.load(path)
    assert re.search(match, str(info.value)), str(info.value)
    return info.value


def _good_file(tmp_path):
    path = tmp_path / "c.safetensors"
    ser.save({"model": {"w": corefw.randn(3, 4), "b": corefw.arange(3)},
              "epoch": 3, "flags": corefw.tensor([True, False])}, path)
    data = path.read_bytes()
    return path, data, 8 + struct.unpack("<Q", data[:8])[0]


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        ser.load(tmp_path / "nope.safetensors")


def test_truncated_files(tmp_path):
    path, data, hend = _good_file(tmp_path)
    cuts = {0: "shorter than the 8-byte", 3: "shorter than the 8-byte",
            7: "shorter than the 8-byte", 8: "beyond the end", 20: "beyond the end",
            hend - 1: "beyond the end", hend: "outside the payload",
            hend + 5: "outside the payload", len(data) - 1: "outside the payload"}
    for cut, match in cuts.items():
        path.write_bytes(data[:cut])
        _expect_fault(path, match)


def test_header_length_beyond_the_file(tmp_path):
    path, data, _ = _good_file(tmp_path)
    for n in (len(data), len(data) - 7, 2**63, 2**64 - 1):
        path.write_bytes(struct.pack("<Q", n) + data[8:])
        _expect_fault(path, "beyond the end of the file")


def test_bit_flips_in_the_payload_fail_the_sha256(tmp_path):
    path, data, hend = _good_file(tmp_path)
    for pos in (hend, hend + 1, (hend + len(data)) // 2, len(data) - 1):
        for mask in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[pos] ^= mask
            path.write_bytes(bytes(flipped))
            _expect_fault(path, "SHA-256|bool tensor")


def test_every_single_bit_flip_anywhere_is_caught(tmp_path):
    # header (length, JSON, padding) and payload alike: the two SHA-256 entries and the
    # structural checks leave no single flipped bit (or fully inverted byte) unnoticed
    path, data, hend = _good_file(tmp_path)
    assert hend > 300 and len(data) > hend
    for pos in range(len(data)):
        for mask in (1, 2, 4, 8, 16, 32, 64, 128, 0xFF):
            flipped = bytearray(data)
            flipped[pos] ^= mask
            path.write_bytes(bytes(flipped))
            with pytest.raises(CheckpointError, match=re.escape(str(path))):
                ser.load(path)


def _raw(tmp_path, header, payload: bytes = b"", name: str = "raw.safetensors"):
    """A file with exactly this header (a dict, dumped as JSON, or raw bytes) and payload."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)
    return path


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize("header, payload, match", [
    (b"\xff\xfe{}", b"", "not valid UTF-8"),
    (b"{\"a\": ", b"", "not valid JSON"),
    (b"[1, 2]", b"", "not an object"),
    (b"\"text\"", b"", "not an object"),
    (b"{\"a\": 1, \"a\": 2}", b"", "duplicate key"),
    ({"__metadata__": {"k": 1}}, b"", "__metadata__"),
    ({"__metadata__": ["k"]}, b"", "__metadata__"),
    ({"a": _entry(dtype="Q7")}, bytes(8), "unknown dtype 'Q7'"),
    ({"a": _entry(dtype="C64", shape=(1,))}, bytes(8), "valid safetensors file, but dtype C64"),
    ({"a": _entry(shape=(-2,))}, bytes(8), "shape"),
    ({"a": _entry(shape=(2.0,))}, bytes(8), "shape"),
    ({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, bytes(8), "shape"),
    ({"a": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, bytes(8), "shape"),
    ({"a": _entry(offsets=(0, 16))}, bytes(8), "outside the payload"),
    ({"a": _entry(offsets=(8, 0))}, bytes(8), "outside the payload"),
    ({"a": _entry(offsets=(0, 8, 16))}, bytes(16), "data_offsets"),
    ({"a": _entry(offsets=(0, -8))}, bytes(8), "data_offsets"),
    ({"a": _entry(shape=(3,))}, bytes(8), "needs 12 bytes"),
    ({"a": _entry(dtype="F64")}, bytes(8), "needs 16 bytes"),
    ({"a": _entry(shape=(2**31, 2**31), dtype="F64")}, bytes(8), "too large for any array"),
    ({"a": _entry(), "b": _entry(offsets=(4, 12))}, bytes(12), "overlaps"),
    ({"a": _entry(), "b": _entry(offsets=(12, 20))}, bytes(20), "gap"),
    ({"a": _entry(offsets=(4, 12))}, bytes(12), "gap"),
    ({"a": _entry()}, bytes(12), "cover 8 bytes but the payload holds 12"),
    ({"a": {"dtype": "F32", "shape": [2]}}, bytes(8), "exactly 'dtype'"),
    ({"a": {**_entry(), "extra": 1}}, bytes(8), "exactly 'dtype'"),
    ({"a": [1]}, bytes(8), "exactly 'dtype'"),
    ({"a": _entry(dtype="BOOL", shape=(2,), offsets=(0, 2))}, b"\x01\x02", "bool tensor"),
])
def test_malformed_headers(tmp_path, header, payload, match):
    path = _raw(tmp_path, header, payload)
    _expect_fault(path, match)


def test_a_valid_raw_file_loads(tmp_path):
    # the control for test_malformed_headers: the same construction, without a fault
    payload = np.array([1.5, -2.0], np.float32).tobytes() + b"\x01\x00"
    header = {"a": _entry(), "m": _entry(dtype="BOOL", offsets=(8, 10))}
    out = ser.load(_raw(tmp_path, header, payload))
    np.testing.assert_array_equal(_host(out["a"]), [1.5, -2.0])
    np.testing.assert_array_equal(_host(out["m"]), [True, False])


def _rewrite(tmp_path, arrays, meta, checksum=True):
    path = tmp_path / "t.safetensors"
    with open(path, "wb") as f:
        fmt.write(f, list(arrays.items()), meta, checksum=checksum)
    return path


def test_header_edited_consistently_fails_the_header_sha256(tmp_path):
    path, data, hend = _good_file(tmp_path)
    header = json.loads(data[8:hend])
    header["model.x"] = header.pop("model.w")  # rename a tensor, keep the JSON valid
    edited = _raw(tmp_path, json.dumps(header).encode(), data[hend:], "edited.safetensors")
    _expect_fault(edited, "header does not match its SHA-256")
    del header["__metadata__"][fmt.SHA_KEY]
    edited = _raw(tmp_path, json.dumps(header).encode(), data[hend:], "edited.safetensors")
    _expect_fault(edited, "lacks")


@pytest.mark.parametrize("tree, match", [
    ({"tensor": "missing"}, "lacks"),
    ({"list": [{"tensor": "w"}, {"tensor": "w"}]}, "referenced twice"),
    ({"list": []}, "does not reference"),
    ({"pickle": "x"}, "invalid node"),
    ({"int": "3", "str": "x"}, "one-entry"),
    ({"int": 3.5}, "invalid node"),
    ({"float": "abc"}, "invalid node"),
    ({"dict": [[{"list": []}, {"int": 1}]]}, "invalid dict key"),
    ({"dict": [[{"tensor": "w"}, {"int": 1}]]}, "invalid dict key"),
    ({"dict": [[{"int": 1}]]}, r"\[key, value\]"),
    ({"dtype": "float128"}, "invalid node"),
])
def test_malformed_tree(tmp_path, tree, match):
    meta = {ser.FORMAT_KEY: "1", ser.TREE_KEY: json.dumps(tree)}
    path = _rewrite(tmp_path, {"w": np.zeros(2, np.float32)}, meta)
    _expect_fault(path, match)


def test_tree_not_json_and_unknown_format_version(tmp_path):
    w = {"w": np.zeros(2, np.float32)}
    _expect_fault(_rewrite(tmp_path, w, {ser.FORMAT_KEY: "1", ser.TREE_KEY: "{"}), "not valid")
    _expect_fault(_rewrite(tmp_path, w, {ser.FORMAT_KEY: "9", ser.TREE_KEY: "{}"}), "format '9'")
    _expect_fault(_rewrite(tmp_path, w, {ser.FORMAT_KEY: "1"}), "lacks")
    # corefw entries without the hashes are refused: a stripped or altered corefw file
    _expect_fault(_rewrite(tmp_path, w, {ser.FORMAT_KEY: "1"}, checksum=False), "lacks")
    deep = json.dumps({"list": [{"list": []}]}).replace("[]", "[" * 5000 + "]" * 5000)
    _expect_fault(_rewrite(tmp_path, w, {ser.FORMAT_KEY: "1", ser.TREE_KEY: deep}), "")


def test_a_failed_load_returns_nothing_and_raises_only_checkpoint_error(tmp_path):
    path, data, hend = _good_file(tmp_path)
    ok = ser.load(path)
    flipped = bytearray(data)
    flipped[-3] ^= 0x10
    path.write_bytes(bytes(flipped))
    result = None
    with pytest.raises(CheckpointError):
        result = ser.load(path)
    assert result is None
    path.write_bytes(data)  # the intact file still loads as before
    assert_same(ser.load(path), ok)
