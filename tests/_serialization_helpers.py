"""Helpers shared by the serialization tests (test_serialization.py,
test_serialization_corrupt.py): random arrays of every dtype, exact deep comparison, a
save/load round trip, a small checkpoint file."""

from __future__ import annotations

import struct

import numpy as np

import corefw
from corefw import serialization as ser

__all__ = ["RNG", "assert_same", "host", "random_array", "roundtrip", "small_checkpoint"]

RNG = np.random.default_rng(0)


def random_array(np_dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
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


def host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def assert_same(a, b, where: str = "root") -> None:
    """Deep equality with exact types; tensors and floats compared bit for bit."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, corefw.Tensor):
        assert a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape), where
        assert host(a).tobytes() == host(b).tobytes(), where
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


def small_checkpoint(tmp_path):
    path = tmp_path / "c.safetensors"
    ser.save({"w": corefw.ones(1000), "epoch": 1}, path)
    return path, path.read_bytes()
