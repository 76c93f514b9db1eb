"""Object collectives with a safe serialisation: JSON, never pickle.

What may be sent: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities too), ``str``,
``list``, ``tuple``, ``dict`` with ``str`` keys, and ``corefw.Tensor`` (sent as dtype, shape
and raw bytes, received on the CPU), nested freely. Anything else raises :class:`DistError`
naming the type, so a peer can never make this process build arbitrary objects (pickle
would run code on load).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

import corefw

from ._backend import DistError
from ._groups import _collective, _grank

__all__ = ["all_gather_object", "broadcast_object_list", "dumps", "loads"]


def _enc(obj: Any, where: str) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [_enc(v, where) for v in obj]
    if isinstance(obj, tuple):
        return {"__tuple__": [_enc(v, where) for v in obj]}
    if isinstance(obj, dict):
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise DistError(f"{where}: dict keys must be str to be sent, got {bad[0]!r}")
        if "__tuple__" in obj or "__tensor__" in obj:
            raise DistError(f"{where}: the dict keys '__tuple__' and '__tensor__' are reserved")
        return {k: _enc(v, where) for k, v in obj.items()}
    if isinstance(obj, corefw.Tensor):
        arr = np.ascontiguousarray(obj.detach().cpu().numpy())
        return {"__tensor__": [arr.dtype.name, list(arr.shape),
                               base64.b64encode(arr.tobytes()).decode("ascii")]}
    raise DistError(f"{where}: cannot send a {type(obj).__module__}.{type(obj).__qualname__}; "
                    f"object collectives send None, bool, int, float, str, list, tuple, dict "
                    f"with str keys and corefw tensors (a safe serialisation, no pickle)")


def _dec(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_dec(v) for v in obj]
    if isinstance(obj, dict):
        if "__tuple__" in obj:
            return tuple(_dec(v) for v in obj["__tuple__"])
        if "__tensor__" in obj:
            dtype, shape, data = obj["__tensor__"]
            arr = np.frombuffer(base64.b64decode(data), dtype=np.dtype(dtype)).reshape(shape)
            return corefw.tensor(arr.copy())
        return {k: _dec(v) for k, v in obj.items()}
    return obj


def dumps(obj: Any, where: str = "dumps") -> bytes:
    """The bytes object collectives send for ``obj``."""
    return json.dumps(_enc(obj, where), separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    """The object :func:`dumps` encoded."""
    return _dec(json.loads(data.decode()))


def broadcast_object_list(object_list: list, src: int = 0, group: Any = None,
                          device: Any = None) -> None:
    """Replace ``object_list``'s entries on every rank with those of rank ``src`` (in place)."""
    g = _collective(group, "broadcast_object_list")
    dev = getattr(g.pg, "buffer_device", "cpu")  # nccl: a GPU
    root = _grank(g, src, "broadcast_object_list", "src")
    payload = dumps(list(object_list), "broadcast_object_list") if g.rank() == root else b""
    size = corefw.tensor([len(payload)], dtype=corefw.int64, device=dev)
    g.pg.broadcast(size, root).wait()
    buf = corefw.tensor(np.frombuffer(payload, np.uint8).copy(), device=dev) \
        if g.rank() == root else corefw.zeros((int(size.item()),), dtype=corefw.uint8,
                                               device=dev)
    g.pg.broadcast(buf, root).wait()
    got = loads(buf.cpu().numpy().tobytes())
    if len(got) != len(object_list):
        raise DistError(f"broadcast_object_list: rank {src} sent {len(got)} objects, but this "
                        f"rank's list has {len(object_list)} entries; make the lists equal")
    object_list[:] = got


def all_gather_object(object_list: list, obj: Any, group: Any = None) -> None:
    """``object_list[i]`` gets rank i's ``obj``."""
    g = _collective(group, "all_gather_object")
    if not isinstance(object_list, list) or len(object_list) != g.size():
        raise DistError(f"all_gather_object: object_list must be a list of world_size="
                        f"{g.size()} entries")
    payload = dumps(obj, "all_gather_object")
    dev = getattr(g.pg, "buffer_device", "cpu")  # nccl: a GPU
    sizes = corefw.empty((g.size(),), dtype=corefw.int64, device=dev)
    g.pg.allgather(sizes, corefw.tensor([len(payload)], dtype=corefw.int64, device=dev)).wait()
    lengths = [int(n) for n in sizes.cpu().tolist()]
    width = max(lengths)
    mine = np.zeros(width, np.uint8)
    mine[:len(payload)] = np.frombuffer(payload, np.uint8)
    out = corefw.zeros((g.size() * width,), dtype=corefw.uint8, device=dev)
    g.pg.allgather(out, corefw.tensor(mine, device=dev)).wait()
    raw = out.cpu().numpy().tobytes()
    object_list[:] = [loads(raw[i * width:i * width + n]) for i, n in enumerate(lengths)]
