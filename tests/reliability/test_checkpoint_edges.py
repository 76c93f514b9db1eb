"""Checkpoint edges a careless or hostile input reaches (issue 13): malformed headers, verify=,
special files, the header limit, foreign dtypes and pickles, file objects and torch.load's
keywords."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import stat
import threading

import numpy as np
import pytest
import safetensors.numpy as stnp
from checkpoint_helpers import entry, host, raw_file

import corefw
from corefw import _safetensors_dtypes as fdt
from corefw import _safetensors_format as fmt
from corefw import serialization as ser
from corefw.errors import CheckpointError


def _fault(path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        ser.load(path)
    return info.value


# ---------------------------------------------------------------------------------------------
# malformed headers


@pytest.mark.parametrize("header, payload, match", [
    ({"a": entry(dtype=["F32"])}, bytes(8), "unknown dtype"),
    ({"a": entry(dtype={"F32": 1})}, bytes(8), "unknown dtype"),
    ({"a": entry(dtype=None)}, bytes(8), "unknown dtype"),
    ({"a": entry(shape=(0, 2**70), offsets=(0, 0))}, b"", "shape"),
    ({"a": entry(shape=(0, 2**62, 2**62), offsets=(0, 0))}, b"", "too large for any array"),
    ({"a": entry(shape=(0,) * 65, offsets=(0, 0))}, b"", "65 dimensions"),
    ({"a": entry(shape=(1,) * 65, offsets=(0, 4))}, bytes(4), "65 dimensions"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "shape": [2]}}',
     bytes(8), "duplicate key 'shape'"),
    (b'{"\\ud800": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', bytes(8),
     "not valid UTF-8"),
    (b'{"__metadata__": {"k": "\\udfff"}}', b"", "valid UTF-8"),
    ({"a": entry(dtype="F4", shape=(2,), offsets=(0, 1))}, bytes(1),
     "valid safetensors file, but dtype F4"),
])
def test_malformed_headers_are_checkpoint_errors(tmp_path, header, payload, match):
    _fault(raw_file(tmp_path / "h.safetensors", header, payload), match)


def test_a_zero_sized_tensor_with_large_dims_loads(tmp_path):
    # the control: zero elements and dims that fit are fine, as in numpy and PyTorch
    out = ser.load(raw_file(tmp_path / "z.safetensors", {"a": entry(shape=(0, 2**40),
                                                                      offsets=(0, 0))}))
    assert tuple(out["a"].shape) == (0, 2**40)
    out = ser.load(raw_file(tmp_path / "d.safetensors", {"a": entry(shape=(1,) * 64,
                                                                      offsets=(0, 4))}, bytes(4)))
    assert out["a"].dim() == 64


def _with_tree(tmp_path, tree_json: str):
    path = tmp_path / "t.safetensors"
    with open(path, "wb") as f:
        fmt.write(f, [("w", np.zeros(2, np.float32))],
                  {ser.FORMAT_KEY: "1", ser.TREE_KEY: tree_json})
    return path


@pytest.mark.parametrize("tree, match", [
    ('{"tensor": "w", "tensor": "w"}', "duplicate key"),
    ('{"dict": [[{"str": "k"}, {"tensor": "w"}], [{"str": "k"}, {"int": 1}]]}', "twice"),
    ('{"list": [{"tensor": "w"}, {"str": "\\ud800"}]}', "invalid node"),
    ('{"dict": [[{"str": "\\udc80"}, {"tensor": "w"}]]}', "invalid dict key"),
])
def test_malformed_trees_are_checkpoint_errors(tmp_path, tree, match):
    _fault(_with_tree(tmp_path, tree), match)


def test_loaded_names_can_be_saved_again(tmp_path):
    path = tmp_path / "u.safetensors"
    corefw.save({"\u00e9t\u00e9": corefw.ones(2), "\U0001f600": corefw.zeros(1)}, path)
    corefw.save(corefw.load(path), tmp_path / "again.safetensors")


# ---------------------------------------------------------------------------------------------
# verify=


def _strip(path, keep=lambda k: not k.startswith("corefw.")):
    """Rewrite a corefw file without (some of) its corefw metadata entries."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = {k: v for k, v in header["__metadata__"].items() if keep(k)}
    return raw_file(path, header, raw[8 + n:])


def test_verify(tmp_path):
    path = tmp_path / "c.safetensors"
    state = {"w": corefw.arange(6.0).reshape(2, 3)}
    corefw.save(state, path)
    assert ser.load(path, verify=True)["w"].tolist() == state["w"].tolist()
    # hashes stripped, the rest of corefw's entries kept: refused by default
    _strip(path, keep=lambda k: k not in (fmt.SHA_KEY, fmt.HEADER_SHA_KEY))
    _fault(path, "lacks")
    assert ser.load(path, verify=False)["w"].tolist() == state["w"].tolist()
    # every corefw entry stripped: a plain file; verify=True refuses it
    _strip(path)
    assert ser.load(path)["w"].tolist() == state["w"].tolist()
    with pytest.raises(CheckpointError, match="no corefw hashes"):
        ser.load(path, verify=True)


def test_verify_false_salvages_a_damaged_payload(tmp_path):
    path = tmp_path / "c.safetensors"
    corefw.save({"w": corefw.zeros(4)}, path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    _fault(path, "SHA-256")
    assert ser.load(path, verify=False)["w"].shape == (4,)


# ---------------------------------------------------------------------------------------------
# paths that are not regular files


def _returns_within(fn, seconds: float = 20.0):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the call blocked"
    return box


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    box = _returns_within(lambda: ser.load(fifo))
    assert isinstance(box.get("error"), CheckpointError), box
    assert "FIFO" in str(box["error"]) and "regular file" in str(box["error"])
    box = _returns_within(lambda: corefw.save({"a": 1}, fifo))
    assert isinstance(box.get("error"), CheckpointError), box
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # untouched
    with pytest.raises(CheckpointError, match="FIFO"):
        ser.read_metadata(fifo)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_devices_are_refused():
    with pytest.raises(CheckpointError, match="character device"):
        ser.load("/dev/zero")


def test_directories_are_os_errors(tmp_path):
    with pytest.raises(IsADirectoryError):
        ser.load(tmp_path)
    with pytest.raises(IsADirectoryError):
        corefw.save({"a": 1}, tmp_path)


# ---------------------------------------------------------------------------------------------
# the header size limit


def test_header_limit_is_the_formats_100_000_000_bytes(tmp_path):
    assert fmt.MAX_HEADER_SIZE == 100_000_000
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:  # sparse: costs no disk
        f.write((100_000_001).to_bytes(8, "little"))
        f.truncate(8 + 100_000_001 + 16)
    _fault(path, "exceeds the safetensors limit of 100,000,000 bytes")
    with open(path, "r+b") as f:  # exactly the limit passes the size check, then is parsed
        f.write((100_000_000).to_bytes(8, "little"))
    _fault(path, "not valid JSON")


# ---------------------------------------------------------------------------------------------
# dtypes corefw has no dtype for


def test_unsigned_files_load_widened_exactly(tmp_path):
    path = tmp_path / "u.safetensors"
    arrays = {"u16": np.array([0, 65535], np.uint16), "u32": np.array([0, 2**32 - 1], np.uint32),
              "u64": np.array([0, 2**63 - 1], np.uint64)}
    stnp.save_file(arrays, str(path))
    out = ser.load(path)
    assert out["u16"].dtype is corefw.int32 and out["u16"].tolist() == [0, 65535]
    assert out["u32"].dtype is corefw.int64 and out["u32"].tolist() == [0, 2**32 - 1]
    assert out["u64"].dtype is corefw.int64 and out["u64"].tolist() == [0, 2**63 - 1]
    stnp.save_file({"u64": np.array([2**63], np.uint64)}, str(path))
    err = _fault(path, "valid safetensors file, but dtype U64")
    assert "9223372036854775808" in str(err)


def test_bf16_loads_as_bfloat16_or_as_float32_exactly(tmp_path, monkeypatch):
    values = np.array([1.0, -2.5, np.inf, 3.140625, 0.0], np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")  # exact bf16 values
    path = raw_file(tmp_path / "b.safetensors",
                    {"b": entry("BF16", (5,), (0, 10))}, bits.tobytes())
    out = ser.load(path)["b"]  # corefw-cpu declares bfloat16 (through ml_dtypes)
    assert out.dtype is corefw.bfloat16
    np.testing.assert_array_equal(host(out.float()), values)
    cpu = corefw.dispatch.device_of("cpu").backend  # a host backend without bfloat16: widened
    monkeypatch.setattr(type(cpu), "dtypes", cpu.dtypes - {"bfloat16"})
    out = ser.load(path)["b"]
    assert out.dtype is corefw.float32
    np.testing.assert_array_equal(host(out), values)


def test_complex_and_float8_without_ml_dtypes_are_named(tmp_path, monkeypatch):
    _fault(raw_file(tmp_path / "c.safetensors", {"c": entry("C64", (1,), (0, 8))}, bytes(8)),
           r"valid safetensors file, but dtype C64 \(tensor 'c'\) is not supported")
    monkeypatch.setattr(fdt, "_ml_dtype", lambda name: None)
    _fault(raw_file(tmp_path / "f.safetensors", {"f": entry("F8_E4M3", (2,), (0, 2))},
                    bytes(2)), "dtype F8_E4M3 .* not supported without the ml_dtypes package")


def test_float8_with_ml_dtypes(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")  # optional: only where it is installed
    values = np.array([1.0, -0.5, 448.0], np.float32)
    raw = values.astype(ml_dtypes.float8_e4m3fn).view(np.uint8).tobytes()
    out = ser.load(raw_file(tmp_path / "f.safetensors", {"f": entry("F8_E4M3", (3,), (0, 3))},
                            raw))["f"]
    np.testing.assert_array_equal(host(out), values)


# ---------------------------------------------------------------------------------------------
# PyTorch pickle checkpoints


@pytest.mark.parametrize("data, what", [
    (b"PK\x03\x04\x00\x00\x08\x00" + bytes(200), "zip format"),
    (pickle.dumps({"w": [1.0, 2.0]}, protocol=2), "pickle"),
    (pickle.dumps({"w": [1.0, 2.0]}, protocol=4), "pickle"),
])
def test_torch_pickle_checkpoints_are_recognised(tmp_path, data, what):
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    err = _fault(path, what)
    assert "never unpickles" in str(err) and "safetensors.torch" in str(err)
    with pytest.raises(CheckpointError, match=what):
        ser.load(path, weights_only=False)  # weights_only=False does not enable pickle


# ---------------------------------------------------------------------------------------------
# file objects and torch.load's keywords


def test_file_objects(tmp_path):
    obj = {"model": {"w": corefw.randn(3, 2)}, "epoch": 4}
    buf = io.BytesIO()
    corefw.save(obj, buf)
    buf.seek(0)
    back = corefw.load(buf)
    assert back["epoch"] == 4 and back["model"]["w"].tolist() == obj["model"]["w"].tolist()
    path = tmp_path / "f.safetensors"
    with open(path, "wb") as f:
        corefw.save(obj, f)
    with open(path, "rb") as f:
        assert corefw.load(f)["epoch"] == 4
    # read from the current position: a checkpoint after other bytes in the same stream
    stream = io.BytesIO(b"prefix" + path.read_bytes())
    stream.seek(6)
    assert corefw.load(stream)["epoch"] == 4
    assert ser.read_metadata(io.BytesIO(path.read_bytes()))[ser.FORMAT_KEY] == "1"


class _Stream(io.RawIOBase):
    """A readable, non-seekable stream (like a pipe or a socket)."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        return self.data.readinto(b)


def test_non_seekable_streams_and_bad_file_objects(tmp_path):
    buf = io.BytesIO()
    corefw.save({"a": corefw.ones(2)}, buf)
    assert corefw.load(_Stream(buf.getvalue()))["a"].tolist() == [1.0, 1.0]
    with pytest.raises(CheckpointError, match="outside the payload"):
        corefw.load(io.BytesIO(buf.getvalue()[:-3]))
    with open(tmp_path / "t.txt", "w+") as f, pytest.raises(TypeError, match="text mode"):
        corefw.load(f)
    with pytest.raises(TypeError, match="binary file"):
        corefw.save({"a": 1}, io.StringIO())


def test_torch_load_keywords(tmp_path):
    path = tmp_path / "k.safetensors"
    corefw.save({"w": corefw.ones(2)}, path)
    for kw in ({"weights_only": True}, {"weights_only": False}, {"map_location": "cpu"},
               {"map_location": corefw.device("cpu")}, {"map_location": {"cuda:0": "cpu"}},
               {"map_location": lambda storage, loc: storage}):
        out = corefw.load(path, **kw)
        assert out["w"].device == corefw.device("cpu") and out["w"].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="never unpickles"):
        corefw.load(path, pickle_module=pickle)
    with pytest.raises(TypeError, match="weights_only"):
        corefw.load(path, weights_only="yes")
    with pytest.raises(TypeError, match="map_location returned"):
        corefw.load(path, map_location=lambda storage, loc: "cpu")
    with pytest.raises(ValueError, match=re.escape("mmap=True needs a file path")):
        corefw.load(io.BytesIO(path.read_bytes()), mmap=True)
