"""Checkpoints: :func:`save` and :func:`load` in the safetensors format, without pickle.

A checkpoint is a safetensors file (docs/checkpoints.md has the full description):

* every tensor of the saved object is one safetensors tensor. A flat ``{str: Tensor}`` dict
  (a model's ``state_dict()``) keeps its keys as the tensor names, so the file is the one
  ``safetensors.torch.save_file(model.state_dict(), path)`` writes, and reads both ways; tensors
  of nested objects are named by their path joined with ``"."`` (``"optimizer.state.0.exp_avg"``),
  with ``#1``, ``#2``... appended where two paths spell the same name;
* the object's structure, with every non-tensor value (epoch, hyperparameters, int dict keys,
  tuples...), is a typed JSON tree in the metadata entry ``corefw.tree``, whose tensor leaves
  name the tensors they hold. Names are only labels; the tree decides where each tensor goes,
  so nested keys never collide, whatever characters they contain;
* ``corefw.sha256`` (the payload) and ``corefw.header_sha256`` (the header) are verified on
  load, after the header has been validated and before anything is returned.

A plain safetensors file without corefw metadata loads as a flat ``{name: Tensor}`` dict.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import numpy as np

from . import _checkpoint_files as files
from . import _safetensors_format as fmt
from ._device import device as _device
from ._device import get_default_device
from ._dtype import _BY_NAME, FROM_NP, dtype
from ._safetensors_dtypes import widen
from .errors import CheckpointError, CorefwError, DTypeError

__all__ = ["UnsupportedValueError", "load", "read_metadata", "save"]

FORMAT_KEY = "corefw.format"
TREE_KEY = "corefw.tree"
FORMAT_VERSION = "1"
_RESERVED_PREFIX = "corefw."

PathLike = str | os.PathLike
FileLike = PathLike | BinaryIO


class UnsupportedValueError(CorefwError, TypeError):
    """:func:`save` was given a value it cannot store without pickle (an arbitrary object)."""


def _tensor_type() -> type:
    import corefw  # the package is fully imported by the time save/load run

    return corefw.Tensor


# ---------------------------------------------------------------------------------------------
# encoding: Python object -> (named arrays, JSON tree)


def _float_node(x: float) -> dict:
    text = repr(x)
    if struct.pack("<d", float(text)) == struct.pack("<d", x):
        return {"float": text}
    return {"float_bits": struct.pack("<d", x).hex()}  # a NaN with a sign or payload


class _Encoder:
    def __init__(self, tensor_type: type) -> None:
        self.tensor_type = tensor_type
        self.arrays: list[tuple[str, np.ndarray]] = []
        self.used: set[str] = set()
        self.active: set[int] = set()  # ids of the containers being encoded (cycle check)

    def name(self, path: list[str]) -> str:
        base = ".".join(path) if path else "tensor"
        name, n = base, 0
        while name in self.used:
            n += 1
            name = f"{base}#{n}"
        self.used.add(name)
        return name

    def fail(self, x: object, path: list[str], what: str) -> UnsupportedValueError:
        where = ".".join(path) or "the top-level object"
        return UnsupportedValueError(
            f"corefw.save: cannot store {what} of type {type(x).__qualname__} at {where!r}; "
            f"a checkpoint holds Tensors, NumPy arrays, dicts, lists, tuples, int, float, bool, "
            f"str, None and corefw dtypes (never pickle); convert it to one of those first")

    def scalar(self, x: object) -> dict | None:
        if x is None:
            return {"none": None}
        if isinstance(x, np.bool_ | np.integer | np.floating):
            x = x.item()  # NumPy scalars are stored as the Python scalar of the same value
        if isinstance(x, bool):
            return {"bool": x}
        if isinstance(x, int):
            return {"int": int(x)}
        if isinstance(x, float):
            return _float_node(float(x))
        if isinstance(x, str):
            return {"str": str(x)}
        if isinstance(x, dtype):
            return {"dtype": x.name}
        return None

    def key(self, k: object, path: list[str]) -> dict:
        node = self.scalar(k)
        if node is None and isinstance(k, tuple):
            node = {"tuple": [self.key(e, path) for e in k]}
        if node is None:
            raise self.fail(k, path, "a dict key")
        return node

    def node(self, x: object, path: list[str]) -> dict:
        if isinstance(x, self.tensor_type):
            return {"tensor": self.add(_tensor_to_numpy(x, path), path)}
        if isinstance(x, np.ndarray):
            return {"ndarray": self.add(x, path)}
        node = self.scalar(x)
        if node is not None:
            return node
        if not isinstance(x, dict | list | tuple):
            raise self.fail(x, path, "a value")
        if id(x) in self.active:
            raise self.fail(x, path, "a container that contains itself")
        self.active.add(id(x))
        try:
            if isinstance(x, dict):
                items = [[self.key(k, path), self.node(v, [*path, _segment(k)])]
                         for k, v in x.items()]
                return {"odict" if isinstance(x, OrderedDict) else "dict": items}
            tag = "tuple" if isinstance(x, tuple) else "list"
            return {tag: [self.node(v, [*path, str(i)]) for i, v in enumerate(x)]}
        finally:
            self.active.discard(id(x))

    def add(self, arr: np.ndarray, path: list[str]) -> str:
        if arr.dtype.newbyteorder("=") not in fmt.CODES and arr.dtype.name != "bfloat16":
            where = ".".join(path) or "the top-level object"
            raise DTypeError(f"corefw.save: the array at {where!r} has dtype {arr.dtype}, which "
                             f"a checkpoint cannot hold; convert it to one of bool, uint8, int8, "
                             f"int16, int32, int64, float16, bfloat16, float32, float64")
        name = self.name(path)
        self.arrays.append((name, arr))
        return name


def _segment(key: object) -> str:
    return key if isinstance(key, str) else str(key)


def _tensor_to_numpy(t: Any, path: list[str]) -> np.ndarray:
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    arr = t.numpy()
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # 0-d stays 0-d


# ---------------------------------------------------------------------------------------------
# decoding: JSON tree + arrays -> Python object


class _Decoder:
    def __init__(self, path: str, arrays: dict[str, np.ndarray],
                 make_tensor: Callable[[np.ndarray], Any]) -> None:
        self.path, self.arrays, self.make_tensor = path, arrays, make_tensor
        self.seen: set[str] = set()

    def fail(self, where: list[str], what: str) -> CheckpointError:
        at = ".".join(where) or "the root"
        return CheckpointError(
            f"checkpoint {self.path!r} has a malformed corefw.tree at {at!r}: {what}; the file "
            f"was not written by corefw.save or was altered; re-save it")

    def array(self, name: object, where: list[str]) -> np.ndarray:
        if not isinstance(name, str) or name not in self.arrays:
            raise self.fail(where, f"it references tensor {name!r}, which the file lacks")
        if name in self.seen:
            raise self.fail(where, f"tensor {name!r} is referenced twice")
        self.seen.add(name)
        return self.arrays[name]

    def node(self, node: object, where: list[str], key: bool = False) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            raise self.fail(where, f"expected a one-entry object, found {node!r:.60}")
        ((tag, val),) = node.items()
        check = _CHECKS.get(tag)
        if check is None or not check(val) or (key and tag not in _KEY_TAGS):
            kind = "dict key" if key else "node"
            raise self.fail(where, f"invalid {kind} {{{tag!r}: {val!r:.60}}}")
        if tag in ("none", "bool", "int", "str"):
            return val
        if tag == "float":
            return float(val)
        if tag == "float_bits":
            return struct.unpack("<d", bytes.fromhex(val))[0]
        if tag == "dtype":
            return _BY_NAME[val]
        if tag == "tensor":
            return self.make_tensor(self.array(val, where))
        if tag == "ndarray":
            return self.array(val, where)
        if tag in ("list", "tuple"):
            items = [self.node(v, [*where, str(i)], key) for i, v in enumerate(val)]
            return tuple(items) if tag == "tuple" else items
        out = OrderedDict() if tag == "odict" else {}
        for pair in val:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise self.fail(where, f"a dict item must be [key, value], found {pair!r:.60}")
            k = self.node(pair[0], where, key=True)
            if k in out:
                raise self.fail(where, f"the dict key {k!r:.60} appears twice")
            out[k] = self.node(pair[1], [*where, _segment(k)])
        return out


def _is_float_text(v: object) -> bool:
    try:
        return isinstance(v, str) and isinstance(float(v), float)
    except ValueError:
        return False


def _is_hex8(v: object) -> bool:
    try:
        return isinstance(v, str) and len(bytes.fromhex(v)) == 8
    except ValueError:
        return False


_CHECKS: dict[str, Callable[[object], bool]] = {
    "none": lambda v: v is None,
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: type(v) is int,
    "float": _is_float_text,
    "float_bits": _is_hex8,
    "str": fmt.is_text,
    "dtype": lambda v: isinstance(v, str) and v in _BY_NAME,
    "tensor": lambda v: isinstance(v, str),
    "ndarray": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list),
    "tuple": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, list),
    "odict": lambda v: isinstance(v, list),
}
_KEY_TAGS = frozenset(("none", "bool", "int", "float", "float_bits", "str", "dtype", "tuple"))


# ---------------------------------------------------------------------------------------------
# public API


def save(obj: Any, f: FileLike, *, metadata: Mapping[str, str] | None = None) -> None:
    """Save ``obj`` to ``f`` in the safetensors format, atomically and without pickle.

    Args:
        obj: a Tensor, NumPy array, int, float, bool, str, None or corefw dtype, or a dict,
            list or tuple nesting any of these: a ``state_dict()``, or a training checkpoint
            like ``{"model": ..., "optimizer": ..., "scheduler": ..., "epoch": 3}``. Tensors
            are saved detached, as contiguous host copies, whatever their device. Dict keys
            may be str, int, float, bool, None or tuples of them; they load with their types.
        f: a file path, or a binary file object open for writing (``open(p, "wb")``,
            ``io.BytesIO()``), written from its current position. A path is written through a
            temporary file ``.<name>.<host>.<pid>.<random>.tmp`` in the same directory as the
            target, flushed, fsync'ed and renamed onto it, so a crash or an error mid-save
            leaves any previous file as it was; the next save to the same path removes the
            temporaries that killed writers left. A symlink's target is replaced (the link
            stays). A file object is written in place, without those guarantees.
        metadata: extra str -> str entries for the safetensors ``__metadata__`` (for other
            tools; e.g. ``{"format": "pt"}``); keys starting with ``"corefw."`` are reserved.
            :func:`read_metadata` reads them back.

    Raises:
        UnsupportedValueError: ``obj`` holds a value a checkpoint cannot represent (any other
            object, or a container that contains itself); nothing is written.
        DTypeError: a NumPy array of a dtype corefw does not have.
        ValueError: a ``metadata`` key is reserved or an entry is not a str.
        CheckpointError: the path is a FIFO, device or socket (nothing is written).
        OSError: the file could not be written (``IsADirectoryError`` for a directory); the
            previous file is untouched.

    Example:
        >>> corefw.save({"model": model.state_dict(), "epoch": 3}, "ckpt.safetensors")
    """
    extra = dict(metadata or {})
    for k, v in extra.items():
        if not (isinstance(k, str) and isinstance(v, str)) or k.startswith(_RESERVED_PREFIX):
            raise ValueError(f"corefw.save: metadata entries must be str -> str with keys not "
                             f"starting with {_RESERVED_PREFIX!r}, got {k!r}: {v!r:.60}")
    encoder = _Encoder(_tensor_type())
    tree = encoder.node(obj, [])
    meta = {**extra, FORMAT_KEY: FORMAT_VERSION,
            TREE_KEY: json.dumps(tree, separators=(",", ":"), ensure_ascii=False)}
    if files.is_file_object(f):
        if isinstance(f, io.TextIOBase) or not hasattr(f, "write"):
            raise TypeError(f"corefw.save: {f!r:.60} is not a binary file open for writing; "
                            f"open it with 'wb' or pass a path")
        fmt.write(f, encoder.arrays, meta)  # type: ignore[arg-type]
        if hasattr(f, "flush"):
            f.flush()
        return
    files.atomic_write(os.fspath(f), lambda fh: fmt.write(fh, encoder.arrays, meta))


def load(f: FileLike, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None,
         verify: bool | None = None) -> Any:
    """Load what :func:`save` stored in ``f``, or a plain safetensors file; never unpickles.

    Args:
        f: a file path, or a binary file object open for reading (``open(p, "rb")``,
            ``io.BytesIO``), read from its current position. A path that is not a regular
            file (a FIFO, a device) is refused before it is opened.
        map_location: where tensors are created, as in ``torch.load``: a device or its name
            (``"cpu"``), a dict such as ``{"cuda:0": "cpu"}`` (checkpoints record no device, so
            its ``"cpu"`` entry is used if any), or a callable ``(tensor, "cpu") -> tensor``
            (``lambda storage, loc: storage`` keeps tensors on the host). ``None``: the
            default device (:func:`corefw.set_default_device`).
        pickle_module: must be None; corefw never unpickles (PyTorch's parameter, accepted
            so that calls read the same).
        weights_only: accepted for ``torch.load`` compatibility, with no effect: corefw loads
            only tensors and plain values whatever it is; ``weights_only=False`` does *not*
            enable pickle (a pickle file is refused either way).
        mmap: map the file instead of reading it (``torch.load(..., mmap=True)``): tensors are
            copy-on-write views of the file, read only when used, so opening a file larger
            than memory and using one tensor reads about that tensor's bytes. Needs a path or
            a file opened from disk. The header is validated (and its hash checked) as usual;
            the payload hash is checked only with ``verify=True`` (which reads the file once).
        verify: ``None`` (default): corefw's SHA-256 hashes are checked where the file has
            them, and a file with corefw's entries must have them (a corefw checkpoint whose
            hashes were stripped is refused); a plain safetensors file is checked for
            structure only. ``True``: the hashes are required (a file without them is
            refused) and always checked. ``False``: the hashes are not checked (structure
            still is), to salvage a damaged file.

    Returns:
        The saved object, with its types (int dict keys, tuples, OrderedDicts, float values
        bit-exact, including nan and inf). A safetensors file without corefw metadata (from
        ``safetensors.torch.save_file(model.state_dict(), ...)``) gives a flat
        ``{name: Tensor}`` dict, ready for ``model.load_state_dict``; its BF16 tensors are
        bfloat16 where ml_dtypes is installed and the backends declare bfloat16 (else float32,
        exactly), U16, U32 and U64 tensors are widened exactly to int32, int64 and int64
        (float8 to float32 with ``ml_dtypes``). Without ``mmap``, tensors are fresh copies
        (nothing stays mapped to the file) and do not require grad; NumPy arrays that were
        saved come back as NumPy arrays.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: from opening the path.
        CheckpointError: the file is not a regular file, or is truncated or corrupt: too
            short, a header length beyond the file or over 100,000,000 bytes, a header that is
            not a JSON object, an unknown dtype, a shape or offsets that do not match the
            bytes, a SHA-256 mismatch, a malformed ``corefw.tree``; or a valid file of a
            dtype corefw cannot hold, or a PyTorch pickle checkpoint (the message says how
            to convert it). The message names the file and the fault; nothing is loaded.
    """
    if pickle_module is not None:
        raise TypeError("corefw.load: pickle_module must be None; corefw never unpickles "
                        "(checkpoints are safetensors files)")
    for name, flag in (("weights_only", weights_only), ("mmap", mmap), ("verify", verify)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"corefw.load: {name} must be True, False or None, got {flag!r}")
    make_tensor = _tensor_factory(map_location)
    with files.open_source(f) as src:
        if mmap and src.mappable is None:
            raise ValueError(f"corefw.load: mmap=True needs a file path or a file opened from "
                             f"disk, not {src.label!r}; drop mmap=True for in-memory streams")
        try:
            header = fmt.read_header(src.fh, src.label, src.size, verify)
        except CheckpointError:
            foreign = files.diagnose_foreign(src)
            if foreign is not None:
                raise foreign from None
            raise
        if mmap:
            arrays = fmt.map_payload(src.mappable, src.start, header, verify=verify is True)
        else:
            arrays = fmt.read_payload(src.fh, header, src.label, verify=verify is not False)
    path = src.label
    holdable = _holdable(map_location)
    for spec in header.specs:
        if spec.code not in fmt.DTYPES:
            arrays[spec.name] = widen(path, spec, arrays[spec.name], holdable)
    meta = header.metadata or {}
    if FORMAT_KEY not in meta and TREE_KEY not in meta:
        return {name: make_tensor(arr) for name, arr in arrays.items()}
    if meta.get(FORMAT_KEY) != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has corefw format {meta.get(FORMAT_KEY)!r:.40}, but this "
            f"corefw reads format {FORMAT_VERSION!r}; load it with the corefw version that "
            f"wrote it")
    if TREE_KEY not in meta:
        raise CheckpointError(f"checkpoint {path!r} lacks its {TREE_KEY!r} metadata entry; "
                              f"the file was altered; re-save it")
    try:
        tree = json.loads(meta[TREE_KEY], object_pairs_hook=fmt.unique_keys)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"checkpoint {path!r}: {TREE_KEY} is not valid JSON ({e}); "
                              f"the file was altered; re-save it") from None
    decoder = _Decoder(path, arrays, make_tensor)
    try:
        obj = decoder.node(tree, [])
    except RecursionError:
        raise decoder.fail([], "it is nested too deeply") from None
    unused = [name for name in arrays if name not in decoder.seen]
    if unused:
        raise CheckpointError(f"checkpoint {path!r} holds tensors {unused[:5]} that its "
                              f"corefw.tree does not reference; the file was altered; re-save it")
    return obj


def read_metadata(f: FileLike) -> dict[str, str]:
    """The safetensors ``__metadata__`` of ``f`` (a path or a binary file object; ``{}`` if it
    has none), read from its validated header without reading the tensors. corefw's own
    entries start with ``"corefw."``; the rest are the ``metadata`` passed to :func:`save` or
    another tool's."""
    with files.open_source(f) as src:
        return dict(fmt.read_header(src.fh, src.label, src.size).metadata or {})


def _target_device(map_location: Any) -> _device | Callable[[Any], Any]:
    if map_location is None:
        return get_default_device()
    if isinstance(map_location, Mapping):
        return _target_device(map_location.get("cpu"))
    if callable(map_location) and not isinstance(map_location, str | _device):
        return lambda t: _mapped(map_location, t)
    try:
        return _device(map_location)
    except (TypeError, ValueError) as e:
        raise type(e)(f"corefw.load: map_location {map_location!r:.40} is not a device: {e}; "
                      f"pass a device such as 'cpu', a dict or a callable") from None


def _mapped(fn: Callable[[Any, str], Any], t: Any) -> Any:
    out = fn(t, "cpu")
    if not isinstance(out, _tensor_type()):
        raise TypeError(f"corefw.load: map_location returned {type(out).__name__}, not a "
                        f"Tensor; it is called as map_location(tensor, 'cpu')")
    return out


def _holdable(map_location: Any) -> set:
    """NumPy dtypes a loaded tensor may have: corefw's, and ml_dtypes' bfloat16 where it is
    installed and the host backend (and a target device's) declares bfloat16; else a BF16
    tensor is widened to float32 (exactly: bfloat16 is float32's upper half)."""
    import corefw

    from .dispatch import device_of

    held = {k for k, d in FROM_NP.items() if d is not corefw.bfloat16}
    try:
        devices = [device_of("cpu")]
        target = _target_device(map_location)
        if isinstance(target, _device):
            devices.append(device_of(target))
        if all("bfloat16" in d.backend.dtypes for d in devices):
            held.add(corefw.bfloat16.np)  # imports ml_dtypes; DTypeError when it is missing
    except CorefwError:
        pass
    return held


def _tensor_factory(map_location: Any) -> Callable[[np.ndarray], Any]:
    import corefw

    target = _target_device(map_location)
    if not isinstance(target, _device):
        return lambda arr: target(corefw.from_numpy(arr))

    def make(arr: np.ndarray) -> Any:
        t = corefw.from_numpy(arr)  # arr is a fresh array (or a private map) owned by no one
        return t if t.device == target else t.to(target)

    return make
