"""Tests of corefw.save / corefw.load (corefw/serialization.py, corefw/_safetensors_format.py).

Values are checked against the NumPy arrays they were made from, byte for byte; interop is
checked against the safetensors package's own NumPy reader and writer (what PyTorch uses).
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy as stnp
from safetensors import safe_open

import corefw
from corefw import _safetensors_format as fmt
from corefw import serialization as ser
from corefw._dtype import ALL_DTYPES
from corefw.errors import CheckpointError, CorefwError, DTypeError

RNG = np.random.default_rng(0)


def _array(np_dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Random values of the dtype; floats include nan, inf, -inf and -0.0 where there is room."""
    if np_dtype == np.bool_:
        return np.asarray(RNG.random(shape) < 0.5)
    if np_dtype.kind in "iu":
        info = np.iinfo(np_dtype)
        return np.asarray(RNG.integers(info.min, info.max, size=shape, dtype=np_dtype,
                                       endpoint=True))
    arr = np.asarray(RNG.standard_normal(shape), dtype=np_dtype)
    flat = arr.reshape(-1)
    for i, v in enumerate([np.nan, np.inf, -np.inf, -0.0][: flat.size]):
        flat[i] = v
    return arr


def _host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def assert_same(a, b, where: str = "root") -> None:
    """Deep equality with exact types; tensors and floats compared bit for bit."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, corefw.Tensor):
        assert a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape), where
        assert _host(a).tobytes() == _host(b).tobytes(), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for (ka, va), kb in zip(a.items(), b):
            assert type(ka) is type(kb), f"{where}: key {ka!r}"
            assert_same(va, b[kb], f"{where}.{ka}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def roundtrip(obj, tmp_path, **kw):
    path = tmp_path / "ckpt.safetensors"
    ser.save(obj, path)
    return ser.load(path, **kw)


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.name)
def test_tensors_of_every_dtype_and_edge_shape_round_trip(dt, tmp_path):
    arrays = {f"s{i}": _array(dt.np, shape)
              for i, shape in enumerate([(), (0,), (2, 0, 3), (5,), (3, 4), (2, 3, 4)])}
    sd = {k: corefw.from_numpy(a.copy()) for k, a in arrays.items()}
    sd["noncontig"] = corefw.from_numpy(arrays["s4"].copy()).transpose(0, 1)
    arrays["noncontig"] = arrays["s4"].T
    out = roundtrip(sd, tmp_path)
    assert list(out) == list(sd)
    for k, ref in arrays.items():
        t = out[k]
        assert isinstance(t, corefw.Tensor) and t.dtype is dt and tuple(t.shape) == ref.shape
        assert _host(t).tobytes() == np.ascontiguousarray(ref).tobytes(), k
        assert not t.requires_grad and t.is_leaf


def test_loaded_tensors_are_fresh_writable_copies(tmp_path):
    p = corefw.nn.Parameter(corefw.from_numpy(np.arange(6.0, dtype=np.float32)))
    out = roundtrip({"w": p, "b": corefw.zeros(3)}, tmp_path)
    w = out["w"]
    assert type(w) is corefw.Tensor and not w.requires_grad and w.grad_fn is None
    w.add_(1.0)  # writable; the saved parameter does not change
    np.testing.assert_array_equal(_host(w), np.arange(6.0) + 1)
    np.testing.assert_array_equal(_host(p), np.arange(6.0))
    assert w.numpy().flags.writeable and w.numpy().flags.c_contiguous
    assert not np.shares_memory(w.numpy(), out["b"].numpy())
    os.remove(tmp_path / "ckpt.safetensors")  # nothing keeps the file open or mapped
    np.testing.assert_array_equal(_host(w), np.arange(6.0) + 1)


def _optimizer_like():
    t = lambda *s: corefw.from_numpy(RNG.standard_normal(s).astype(np.float32))  # noqa: E731
    return {
        "state": {0: {"step": corefw.tensor(3.0), "exp_avg": t(2, 3), "exp_avg_sq": t(2, 3)},
                  1: {"step": 3, "exp_avg": t(3), "exp_avg_sq": t(3)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                          "amsgrad": False, "foreach": None, "maximize": False,
                          "params": [0, 1]}],
    }


def test_training_checkpoint_round_trips_with_types(tmp_path):
    model = OrderedDict(
        [("fc.weight", corefw.randn(4, 3)), ("fc.bias", corefw.zeros(4)),
         ("bn.num_batches_tracked", corefw.tensor(7))])
    ckpt = {
        "model": model,
        "optimizer": _optimizer_like(),
        "scheduler": {"last_epoch": 4, "base_lrs": [0.1, 0.01], "_step_count": 5,
                      "gamma": 0.1, "verbose": False, "milestones": {30: 1, 80: 1}},
        "epoch": 4,
        "metadata": {"name": "run-ü", "hparams": {"dropout": 0.25, "sizes": (3, 4)},
                     "dtype": corefw.float16, "rng": np.arange(4, dtype=np.uint8)},
    }
    out = roundtrip(ckpt, tmp_path)
    assert_same(ckpt, out)
    assert list(out["optimizer"]["state"]) == [0, 1]  # int keys stay ints
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert type(out["model"]) is OrderedDict


def test_real_optimizer_resumes_identically(tmp_path):
    def make():
        ps = [corefw.nn.Parameter(corefw.from_numpy(RNG.standard_normal((4, 3)).astype("f4"))),
              corefw.nn.Parameter(corefw.zeros(4))]
        return ps, corefw.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99))

    def step(ps, opt):
        opt.zero_grad()
        ((ps[0] * ps[0]).sum() + ps[0].sum() * ps[1].sum()).backward()
        opt.step()

    ps, opt = make()
    for _ in range(3):
        step(ps, opt)
    ser.save({"params": list(ps), "optimizer": opt.state_dict()}, tmp_path / "c.safetensors")
    ckpt = ser.load(tmp_path / "c.safetensors")
    ps2, opt2 = make()
    with corefw.no_grad():
        for p, q in zip(ps2, ckpt["params"]):
            p.copy_(q)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[0]["betas"] == (0.8, 0.99)
    step(ps, opt)
    step(ps2, opt2)
    for p, q in zip(ps, ps2):  # the resumed run continues bit for bit
        assert _host(p).tobytes() == _host(q).tobytes()


def test_scalars_are_exact(tmp_path):
    nan_payload = struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0]
    neg_nan = struct.unpack("<d", bytes.fromhex("000000000000f8ff"))[0]
    values = [0.1, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308,
              nan_payload, neg_nan, 1 / 3, 0, -1, 2**63, -(2**100), True, False, None,
              "", "a.b#1 \x00 \"q\" ü", [], (), {}, [()], ((1, 2), [3]),
              {1: "i", 2.5: "f", None: "n", (1, "x"): "t", "1": "s", False: "b"}]
    out = roundtrip(values, tmp_path)
    assert_same(values, out)


def test_numpy_scalars_are_stored_as_python_scalars(tmp_path):
    out = roundtrip({"i": np.int64(3), "f": np.float32(0.1), "b": np.bool_(True)}, tmp_path)
    assert_same(out, {"i": 3, "f": float(np.float32(0.1)), "b": True})


def test_keys_containing_the_separator_never_collide(tmp_path):
    t1, t2, t3, t4, t5 = (corefw.full((2,), float(i)) for i in range(1, 6))
    obj = {"a.b": t1, "a": {"b": t2}, "a.b#1": t3, 1: t4, "1": t5}
    path = tmp_path / "c.safetensors"
    ser.save(obj, path)
    names = list(stnp.load_file(str(path)))
    assert len(names) == 5 and len(set(names)) == 5
    out = ser.load(path)
    assert_same(obj, out)
    assert _host(out["a.b"])[0] == 1 and _host(out["a"]["b"])[0] == 2
    assert _host(out[1])[0] == 4 and _host(out["1"])[0] == 5


def test_nested_tensor_names_are_dotted_paths(tmp_path):
    path = tmp_path / "c.safetensors"
    ser.save({"model": {"fc.weight": corefw.ones(2)}, "optimizer": _optimizer_like()}, path)
    names = set(stnp.load_file(str(path)))
    assert {"model.fc.weight", "optimizer.state.0.exp_avg", "optimizer.state.0.step",
            "optimizer.state.1.exp_avg_sq"} <= names
    assert not any("param_groups" in n for n in names)  # non-tensors live in the tree only


def test_top_level_values_that_are_not_dicts(tmp_path):
    t = corefw.arange(5)
    assert_same(roundtrip(t, tmp_path), t)
    assert_same(roundtrip([1, t, "x"], tmp_path), [1, t, "x"])
    assert roundtrip({}, tmp_path) == {}
    assert roundtrip(None, tmp_path) is None


def test_map_location(tmp_path):
    ser.save({"w": corefw.ones(2, 2)}, tmp_path / "c.safetensors")
    for loc in ("cpu", corefw.device("cpu"), None):
        t = ser.load(tmp_path / "c.safetensors", map_location=loc)["w"]
        assert t.device == corefw.device("cpu")
        np.testing.assert_array_equal(_host(t), np.ones((2, 2)))


def test_public_names():
    assert corefw.save is ser.save and corefw.load is ser.load
    assert issubclass(ser.UnsupportedValueError, CorefwError)
    assert issubclass(ser.UnsupportedValueError, TypeError)
    assert issubclass(CheckpointError, ValueError)


# ---------------------------------------------------------------------------------------------
# interop with the safetensors package (what PyTorch writes and reads)


def test_flat_state_dict_is_a_plain_safetensors_file(tmp_path):
    arrays = {"fc.weight": _array(np.dtype(np.float32), (4, 3)),
              "fc.bias": _array(np.dtype(np.float64), (4,)),
              "bn.num_batches_tracked": np.array(3, dtype=np.int64)}
    path = tmp_path / "m.safetensors"
    ser.save({k: corefw.from_numpy(a.copy()) for k, a in arrays.items()}, path)
    loaded = stnp.load_file(str(path))
    assert set(loaded) == set(arrays)
    for k, a in arrays.items():
        assert loaded[k].dtype == a.dtype and loaded[k].tobytes() == a.tobytes()
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta[fmt.SHA_KEY] == ser.read_metadata(path)[fmt.SHA_KEY]


def test_file_from_safetensors_save_file_loads_as_flat_dict(tmp_path):
    arrays = {f"layer{i}.{d.name}": _array(d.np, (2, i)) for i, d in enumerate(ALL_DTYPES)}
    arrays["scalar"] = np.array(2.5, dtype=np.float32)
    path = tmp_path / "torch.safetensors"
    stnp.save_file(arrays, str(path), metadata={"format": "pt"})
    out = ser.load(path)
    assert set(out) == set(arrays)
    for k, a in arrays.items():
        assert out[k].dtype.np == a.dtype and _host(out[k]).tobytes() == a.tobytes(), k
    assert ser.read_metadata(path) == {"format": "pt"}


def test_user_metadata(tmp_path):
    path = tmp_path / "c.safetensors"
    ser.save({"w": corefw.ones(1)}, path, metadata={"format": "pt", "note": "x"})
    meta = ser.read_metadata(path)
    assert meta["format"] == "pt" and meta["note"] == "x" and meta[ser.FORMAT_KEY] == "1"
    with pytest.raises(ValueError, match="reserved|corefw"):
        ser.save({}, path, metadata={"corefw.tree": "{}"})
    with pytest.raises(ValueError):
        ser.save({}, path, metadata={"n": 1})


# ---------------------------------------------------------------------------------------------
# values that cannot be saved


class _Thing:
    pass


@pytest.mark.parametrize("bad", [_Thing(), {1, 2}, b"raw", 1 + 2j, print,
                                 {"a": [1, {"deep": object()}]}, {frozenset(): 1}],
                         ids=["object", "set", "bytes", "complex", "function", "nested", "key"])
def test_unrepresentable_values_are_refused_and_nothing_is_written(bad, tmp_path):
    path = tmp_path / "c.safetensors"
    with pytest.raises(ser.UnsupportedValueError, match="corefw.save: cannot store"):
        ser.save(bad, path)
    assert os.listdir(tmp_path) == []


def test_self_containing_container_is_refused(tmp_path):
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(ser.UnsupportedValueError, match="contains itself"):
        ser.save({"x": loop}, tmp_path / "c.safetensors")
    shared = [1, 2]
    assert_same(roundtrip({"a": shared, "b": shared}, tmp_path), {"a": [1, 2], "b": [1, 2]})


@pytest.mark.parametrize("arr", [np.zeros(2, np.complex64), np.zeros(2, np.uint16),
                                 np.array(["a"], dtype=object)])
def test_arrays_of_unsupported_dtype_are_refused(arr, tmp_path):
    with pytest.raises(DTypeError, match="dtype"):
        ser.save({"a": arr}, tmp_path / "c.safetensors")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# atomic save


def _checkpoint(tmp_path):
    path = tmp_path / "c.safetensors"
    ser.save({"w": corefw.ones(1000), "epoch": 1}, path)
    return path, path.read_bytes()


def test_failure_midway_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path, before = _checkpoint(tmp_path)
    real = fmt._write_bytes
    calls = []

    def write_half_then_fail(f, data):
        calls.append(len(data))
        if len(calls) == 2:  # the first tensor's bytes: write half, then the disk is full
            real(f, memoryview(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")
        real(f, data)

    monkeypatch.setattr(fmt, "_write_bytes", write_half_then_fail)
    with pytest.raises(OSError, match="No space"):
        ser.save({"w": corefw.zeros(2000), "epoch": 2}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.safetensors"]  # the temporary file is gone
    assert ser.load(path)["epoch"] == 1


def test_failing_fsync_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path, before = _checkpoint(tmp_path)

    def fail(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="I/O error"):
        ser.save({"epoch": 2}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.safetensors"]


def test_save_replaces_and_keeps_file_mode(tmp_path):
    path, _ = _checkpoint(tmp_path)
    os.chmod(path, 0o640)
    ser.save({"epoch": 2}, path)
    assert ser.load(path) == {"epoch": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["c.safetensors"]


@pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
def test_new_file_gets_the_umask_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        ser.save({}, tmp_path / "new.safetensors")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "new.safetensors").st_mode & 0o777 == 0o644


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
