"""A numpy-only PNG writer and reader (8-bit grayscale, RGB, RGBA), so pictures need no
plotting library."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

__all__ = ["encode_png", "read_png", "read_png_text", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _text_chunks(text: dict | None) -> bytes:
    """tEXt chunks (keyword, Latin-1 value) for ``text``; other characters become '?'."""
    out = b""
    for key, value in (text or {}).items():
        k = str(key).encode("latin-1", "replace")[:79]
        v = str(value).encode("latin-1", "replace")
        out += _chunk(b"tEXt", k + b"\0" + v)
    return out


def encode_png(image: np.ndarray, text: dict | None = None) -> bytes:
    """PNG bytes of a uint8 image (H, W), (H, W, 3) or (H, W, 4); ``text`` is stored as tEXt
    metadata (``{"Title": ..., "Description": ...}``)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"encode_png: expected a uint8 image, got {img.dtype}; scale to 0..255 "
                        f"and cast with .astype(np.uint8)")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in _COLOR_TYPES or 0 in img.shape[:2]:
        raise ValueError(f"encode_png: expected shape (H, W), (H, W, 3) or (H, W, 4) with "
                         f"H, W > 0, got {np.asarray(image).shape}")
    h, w, c = img.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * c)], 1)
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header) + _text_chunks(text) +
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b""))


def write_png(path, image: np.ndarray, text: dict | None = None) -> str:
    """Write ``image`` (see :func:`encode_png`) to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    data = encode_png(image, text)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _chunks(data: bytes):
    if not data.startswith(_SIGNATURE):
        raise ValueError("read_png: not a PNG file")
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack(
                ">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError(f"read_png: bad CRC in chunk {kind!r}")
        yield kind, body
        pos += 12 + length


def read_png_text(path_or_bytes) -> dict[str, str]:
    """The tEXt metadata of a PNG (as written by :func:`encode_png` or matplotlib)."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes,
                                                                        "rb").read()
    out = {}
    for kind, body in _chunks(data):
        if kind == b"tEXt":
            k, _, v = body.partition(b"\0")
            out[k.decode("latin-1")] = v.decode("latin-1")
    return out


def read_png(path_or_bytes) -> np.ndarray:
    """Decode an 8-bit non-interlaced grayscale/RGB/RGBA PNG into a uint8 array."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes,
                                                                        "rb").read()
    idat, header = b"", None
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    w, h, depth, ctype, _, _, interlace = header
    channels = {v: k for k, v in _COLOR_TYPES.items()}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("read_png: only 8-bit, non-interlaced gray/RGB/RGBA is supported")
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    out = np.zeros((h, w * channels), np.int64)
    bpp = channels
    for y in range(h):
        ftype, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        prev = out[y - 1] if y else np.zeros(w * channels, np.int64)
        if ftype == 0:
            out[y] = line
            continue
        if ftype == 1:  # sub: a running sum per channel (vectorised)
            out[y] = np.cumsum(line.reshape(w, channels), 0).reshape(-1) & 0xFF
            continue
        if ftype == 2:  # up
            out[y] = (line + prev) & 0xFF
            continue
        cur = out[y]
        for x in range(w * channels):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ftype] if ftype <= 4 else None
            if pred is None:
                raise ValueError(f"read_png: unknown filter type {ftype}")
            cur[x] = (line[x] + pred) & 0xFF
    img = out.astype(np.uint8).reshape(h, w, channels)
    return img[:, :, 0] if channels == 1 else img
