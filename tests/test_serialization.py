"""Tests of corefw.save / corefw.load (corefw/serialization.py, corefw/_safetensors_format.py).

Values are checked against the NumPy arrays they were made from, byte for byte; interop is
checked against the safetensors package's own NumPy reader and writer (what PyTorch uses). Corrupt
files: test_serialization_corrupt.py.
"""

from __future__ import annotations

import math
import os
import struct
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy as stnp
from _serialization_helpers import RNG, assert_same, roundtrip
from _serialization_helpers import host as _host
from _serialization_helpers import random_array as _array
from _serialization_helpers import small_checkpoint as _checkpoint
from safetensors import safe_open

import corefw
from corefw import _safetensors_format as fmt
from corefw import serialization as ser
from corefw._dtype import ALL_DTYPES
from corefw.errors import CheckpointError, CorefwError, DTypeError

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
