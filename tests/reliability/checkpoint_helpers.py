"""Helpers shared by the reliability tests of checkpoints: raw files with a chosen header."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np


def raw_file(path: Path, header: dict | bytes, payload: bytes = b"") -> Path:
    """Write a safetensors file with exactly this header (a dict dumped as JSON, or raw bytes)
    and payload; returns ``path``."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + payload)
    return path


def entry(dtype: str = "F32", shape: tuple = (2,), offsets: tuple = (0, 8)) -> dict:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def host(t) -> np.ndarray:
    return t.detach().cpu().numpy()
