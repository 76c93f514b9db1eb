"""The safetensors file format, read and written with NumPy, validated before anything is allocated.

Layout (https://github.com/huggingface/safetensors, "Format"): 8 bytes little-endian unsigned
header length ``N``; ``N`` bytes of UTF-8 JSON, an object mapping each tensor name to
``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`` plus an optional
``"__metadata__"`` object of str -> str; then the payload, the tensors' little-endian bytes, in
which ``data_offsets`` are relative to the start of the payload and cover it exactly, without gaps
or overlaps.

corefw adds two integrity entries to ``__metadata__`` (see docs/checkpoints.md):
``corefw.sha256``, the SHA-256 of the payload, and ``corefw.header_sha256``, the SHA-256 of the
canonical JSON of the header without these two entries. A file with either entry, or with any
other ``corefw.`` entry, must have both and both must match. Files without them (written by
PyTorch, ``safetensors.numpy``...) are validated structurally only.

Everything here works on NumPy arrays; :mod:`corefw.serialization` converts at the boundary.
Every fault raises :class:`~corefw.errors.CheckpointError` naming the file and the fault.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

from .errors import CheckpointError

# safetensors dtype code -> NumPy dtype (little-endian), for the dtypes corefw supports.
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("|b1"), "U8": np.dtype("|u1"), "I8": np.dtype("|i1"),
    "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
}
CODES: dict[np.dtype, str] = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
# Valid safetensors dtypes corefw has no dtype of its own for: the storage dtype their bytes are
# read as; :mod:`._safetensors_dtypes` widens them, exactly, to one corefw holds, or refuses.
EXTRA_DTYPES: dict[str, np.dtype] = {
    "BF16": np.dtype("<u2"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"), "C64": np.dtype("<c8"), "F8_E4M3": np.dtype("|u1"),
    "F8_E5M2": np.dtype("|u1"), "F8_E8M0": np.dtype("|u1"),
}
# Valid codes whose elements are not whole bytes: refused by name.
_SUBBYTE_CODES = ("F6_E2M3", "F6_E3M2", "F4")
MAX_DIMS = 64  # NumPy's limit
_MAX_BYTES = 2**63 - 1

SHA_KEY = "corefw.sha256"
HEADER_SHA_KEY = "corefw.header_sha256"
_PREFIX = "corefw."
MAX_HEADER_SIZE = 100_000_000  # the safetensors format's limit (safetensors/src/tensor.rs)
_FIX = "the file is truncated or corrupt; re-save it, or load an intact copy"


class TensorSpec:
    """A validated header entry: name, dtype, shape and payload byte range."""

    __slots__ = ("name", "code", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, code: str, dtype: np.dtype, shape: tuple[int, ...],
                 begin: int, end: int) -> None:
        self.name, self.code, self.dtype, self.shape = name, code, dtype, shape
        self.begin, self.end = begin, end


def _fault(path: str, what: str, fix: str = _FIX) -> CheckpointError:
    return CheckpointError(f"checkpoint {path!r} is not a valid safetensors file: {what}; {fix}")


# ---------------------------------------------------------------------------------------------
# writing


def _code_and_bytes(arr: np.ndarray) -> tuple[str, memoryview]:
    """The array's safetensors dtype code and its bytes (C order, little-endian); no copy where
    the array already is laid out so."""
    code = CODES.get(arr.dtype.newbyteorder("="))
    if code is None and arr.dtype.name == "bfloat16":  # ml_dtypes' (corefw.bfloat16)
        arr = np.ascontiguousarray(arr).view(np.uint16).astype("<u2", copy=False).reshape(-1)
        return "BF16", memoryview(arr.view(np.uint8))
    if code is None:
        supported = ", ".join(str(dt.newbyteorder("=")) for dt in DTYPES.values())
        raise TypeError(f"cannot store an array of dtype {arr.dtype}; supported: {supported}")
    arr = np.asarray(arr, dtype=DTYPES[code]).reshape(-1)  # copies only if not C order or LE
    return code, memoryview(arr.view(np.uint8))


def _canonical(header: dict) -> bytes:
    """The header as compact, key-sorted JSON, without the two hash entries."""
    meta = header.get("__metadata__")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in (SHA_KEY, HEADER_SHA_KEY)}
        header = {**header, "__metadata__": meta}
    return json.dumps(header, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _write_bytes(f: BinaryIO, data: bytes | memoryview) -> None:
    """Write all of ``data`` (one seam, so that tests can make a save fail midway)."""
    f.write(data)


def write(f: BinaryIO, arrays: Iterable[tuple[str, np.ndarray]],
          metadata: dict[str, str] | None = None, checksum: bool = True) -> None:
    """Write named arrays and str -> str ``metadata`` to the binary file ``f``.

    Tensors are laid out by decreasing itemsize, then name, as the safetensors package does, so
    each one is aligned to its itemsize (the header is padded with spaces to 8 bytes). With
    ``checksum``, the payload and header SHA-256 entries are added to the metadata.
    """
    entries = []
    for name, arr in arrays:
        code, data = _code_and_bytes(arr)
        entries.append((-arr.dtype.itemsize, name, code, tuple(arr.shape), data))
    entries.sort(key=lambda e: (e[0], e[1]))
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    header: dict = {"__metadata__": meta} if (meta or checksum) else {}
    offset = 0
    for _, name, code, shape, data in entries:
        if name in header:
            raise ValueError(f"duplicate tensor name {name!r}")
        header[name] = {"dtype": code, "shape": list(shape),
                        "data_offsets": [offset, offset + data.nbytes]}
        offset += data.nbytes
    if checksum:
        sha = hashlib.sha256()
        for *_, data in entries:
            sha.update(data)
        meta[SHA_KEY] = sha.hexdigest()
        meta[HEADER_SHA_KEY] = hashlib.sha256(_canonical(header)).hexdigest()
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    _write_bytes(f, struct.pack("<Q", len(raw)) + raw)
    for *_, data in entries:
        _write_bytes(f, data)


# ---------------------------------------------------------------------------------------------
# reading


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {dup!r}")
    return out


def is_text(s: object) -> bool:
    """Whether ``s`` is a str that is valid Unicode (JSON's ``\\ud800`` escapes give lone
    surrogates, which no UTF-8 file can hold: such a name could never be saved again)."""
    if not isinstance(s, str):
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_count(x: object) -> bool:
    return type(x) is int and 0 <= x <= _MAX_BYTES


def _spec(path: str, name: str, entry: object, payload_size: int) -> TensorSpec:
    where = f"tensor {name!r}" if is_text(name) else f"tensor {name.encode('utf-8', 'replace')!r}"
    if not is_text(name):
        raise _fault(path, f"{where} has a name that is not valid UTF-8 (a lone surrogate)")
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise _fault(path, f"{where} must be an object with exactly 'dtype', 'shape' and "
                           f"'data_offsets', found {keys}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or (code not in DTYPES and code not in EXTRA_DTYPES):
        if isinstance(code, str) and code in _SUBBYTE_CODES:
            raise unsupported(path, name, code)
        raise _fault(path, f"{where} has unknown dtype {code!r:.60}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise _fault(path, f"{where} has shape {shape!r:.80}; a shape is a list of integers "
                           f"from 0 to 2**63-1")
    if len(shape) > MAX_DIMS:
        raise _fault(path, f"{where} has {len(shape)} dimensions; at most {MAX_DIMS} are "
                           f"supported")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_count(o) for o in offsets)):
        raise _fault(path, f"{where} has data_offsets {offsets!r:.80}; expected [begin, end], "
                           f"integers >= 0")
    begin, end = offsets
    dtype = DTYPES[code] if code in DTYPES else EXTRA_DTYPES[code]
    if math.prod(max(d, 1) for d in shape) * dtype.itemsize > _MAX_BYTES:
        raise _fault(path, f"{where} has shape {shape}, too large for any array (even with a "
                           f"zero dimension, the others must fit in 2**63 bytes)")
    nbytes = math.prod(shape) * dtype.itemsize
    if end > payload_size or begin > end:
        raise _fault(path, f"{where} has data_offsets [{begin}, {end}] outside the payload "
                           f"of {payload_size} bytes")
    if end - begin != nbytes:
        raise _fault(path, f"{where} of dtype {code} and shape {shape} needs {nbytes} bytes, "
                           f"but its data_offsets [{begin}, {end}] hold {end - begin}")
    return TensorSpec(name, code, dtype, tuple(shape), begin, end)


def unsupported(path: str, name: str, code: str, why: str = "") -> CheckpointError:
    """The error for a well-formed tensor of a dtype corefw cannot hold."""
    return CheckpointError(
        f"checkpoint {path!r} is a valid safetensors file, but dtype {code} (tensor {name!r}) "
        f"is not supported{why}; convert the tensor to one of {', '.join(DTYPES)} where it was "
        f"written (e.g. tensor.float() in PyTorch) and save again")


class Header:
    """A validated header: tensor specs in payload order, metadata, where the payload starts."""

    __slots__ = ("specs", "names", "metadata", "payload_start", "payload_size", "sha256",
                 "header_verified")

    def __init__(self, specs: list[TensorSpec], names: list[str], metadata: dict | None,
                 payload_start: int, payload_size: int, sha256: str | None) -> None:
        self.specs, self.names, self.metadata = specs, names, metadata
        self.payload_start, self.payload_size, self.sha256 = payload_start, payload_size, sha256
        self.header_verified = sha256 is not None


def read_header(f: BinaryIO, path: str, size: int, verify: bool | None = None) -> Header:
    """Read and validate the header of ``f``, positioned at the start of a checkpoint that is
    ``size`` bytes long; reads nothing of the payload and allocates nothing in proportion to
    it. ``verify``: None checks corefw's hashes where the file has any ``corefw.`` entry, True
    requires them, False skips them (the structure is always validated)."""
    if size < 8:
        raise _fault(path, f"the file is {size} bytes long, shorter than the 8-byte header length")
    head = f.read(8)
    if len(head) != 8:
        raise _fault(path, "the file shrank while it was read", "retry once it is written")
    (n,) = struct.unpack("<Q", head)
    if n > size - 8:
        raise _fault(path, f"the header length {n} runs beyond the end of the file "
                           f"({size} bytes)")
    if n > MAX_HEADER_SIZE:
        raise _fault(path, f"the header length {n} exceeds the safetensors limit of "
                           f"{MAX_HEADER_SIZE:,} bytes")
    raw = f.read(n)
    if len(raw) != n:
        raise _fault(path, "the file shrank while it was read", "retry once it is written")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=unique_keys)
    except UnicodeDecodeError as e:
        where = f"{e.reason} at byte {e.start + 8}"
        raise _fault(path, f"the header is not valid UTF-8 ({where})") from None
    except (ValueError, RecursionError) as e:
        raise _fault(path, f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _fault(path, f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.get("__metadata__")
    if metadata is not None and not (
            isinstance(metadata, dict)
            and all(is_text(k) and is_text(v) for k, v in metadata.items())):
        raise _fault(path, "'__metadata__' must be an object mapping strings to strings "
                           "(valid UTF-8)")
    payload_size = size - 8 - n
    specs = [_spec(path, k, v, payload_size) for k, v in header.items() if k != "__metadata__"]
    names = [s.name for s in specs]
    specs.sort(key=lambda s: (s.begin, s.end))
    pos = 0
    for s in specs:
        if s.begin != pos:
            fault = "overlaps the tensor before it" if s.begin < pos else "leaves a gap before it"
            raise _fault(path, f"tensor {s.name!r} at data_offsets [{s.begin}, {s.end}] {fault} "
                               f"(previous tensor ends at {pos})")
        pos = s.end
    if pos != payload_size:
        raise _fault(path, f"the tensors cover {pos} bytes but the payload holds "
                           f"{payload_size}")
    sha = None
    if verify is True and not (metadata and SHA_KEY in metadata):
        raise CheckpointError(
            f"checkpoint {path!r} has no corefw hashes (corefw.sha256), so its contents cannot "
            f"be verified: it was not written by corefw.save, or its hash entries were "
            f"removed; load it with verify=None to accept a plain safetensors file (checked "
            f"for structure only), or re-save it with corefw.save")
    if verify is not False and metadata and any(k.startswith(_PREFIX) for k in metadata):
        missing = [k for k in (SHA_KEY, HEADER_SHA_KEY) if k not in metadata]
        if missing:
            raise _fault(path, f"the corefw metadata lacks {missing}")
        if hashlib.sha256(_canonical(header)).hexdigest() != metadata[HEADER_SHA_KEY]:
            raise _fault(path, "the header does not match its SHA-256 (corefw.header_sha256)")
        sha = metadata[SHA_KEY]
    return Header(specs, names, metadata, 8 + n, payload_size, sha)


def _read_exact(f: BinaryIO, buf: memoryview, path: str) -> None:
    got = 0
    while got < len(buf):
        k = f.readinto(buf[got:])
        if not k:
            raise _fault(path, "the file ended before the payload did",
                         "it shrank while it was read; retry once it is written")
        got += k


def _check_bool(path: str, s: TensorSpec, arr: np.ndarray) -> None:
    if s.dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
        raise _fault(path, f"bool tensor {s.name!r} holds bytes other than 0 and 1")


def _payload_mismatch(path: str) -> CheckpointError:
    return _fault(path, "the payload does not match its SHA-256 (corefw.sha256): some bytes "
                        "changed after it was written")


def read_payload(f: BinaryIO, header: Header, path: str,
                 verify: bool = True) -> dict[str, np.ndarray]:
    """Read the payload of ``f`` (positioned just after the header) into fresh, writable NumPy
    arrays in the header's order; with ``verify`` and corefw's hashes, the payload SHA-256 is
    checked before anything is returned."""
    sha = hashlib.sha256() if verify and header.sha256 is not None else None
    arrays: dict[str, np.ndarray] = {}
    for s in header.specs:
        arr = np.empty(s.shape, s.dtype)
        data = memoryview(arr.reshape(-1).view(np.uint8))
        _read_exact(f, data, path)
        if sha is not None:
            sha.update(data)
        _check_bool(path, s, arr)
        arrays[s.name] = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    if sha is not None and sha.hexdigest() != header.sha256:
        raise _payload_mismatch(path)
    return {name: arrays[name] for name in header.names}


def map_payload(path: str, start: int, header: Header,
                verify: bool = False) -> dict[str, np.ndarray]:
    """The tensors of the file at ``path`` (whose checkpoint begins at byte ``start``) as
    copy-on-write memory maps: nothing is read until a tensor's values are used, and writes
    never reach the file. With ``verify`` and corefw's hashes, the payload is hashed through
    the map first (reading the whole file once)."""
    arrays: dict[str, np.ndarray] = {}
    buf = None
    if header.payload_size:
        buf = np.memmap(path, dtype=np.uint8, mode="c", offset=start + header.payload_start,
                        shape=(header.payload_size,))
    if verify and header.sha256 is not None and buf is not None:
        sha = hashlib.sha256()
        for i in range(0, header.payload_size, 1 << 24):
            sha.update(memoryview(buf[i:i + (1 << 24)]))
        if sha.hexdigest() != header.sha256:
            raise _payload_mismatch(path)
    for s in header.specs:
        if buf is None or s.end == s.begin:
            arr = np.empty(s.shape, s.dtype)
        else:
            arr = buf[s.begin:s.end].view(s.dtype).reshape(s.shape)
        _check_bool(path, s, arr)
        arrays[s.name] = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    return {name: arrays[name] for name in header.names}
