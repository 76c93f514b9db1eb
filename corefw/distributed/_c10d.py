"""The process group state and the collectives (PyTorch's ``torch.distributed`` API).

Every call checks its arguments here and hands contiguous tensors to the backend's process
group (a plugin, :mod:`corefw.distributed._backend`). Ranks passed by the user (``src``,
``dst``) are global ranks, as in PyTorch, translated to the group's own ranks here.
With ``COREFW_DISTRIBUTED_DEBUG=DETAIL`` every collective first compares its op, shapes and
dtypes across the ranks and raises :class:`DistError` naming the ranks that differ.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import corefw

from ._backend import PROVIDERS, DistBackendError, DistError, ReduceOp
from ._debug import check_same, detail, read_setting
from ._groups import _STATE, GroupMember, ProcessGroup, _collective, _grank, _group, is_initialized

__all__ = ["all_gather", "all_gather_into_tensor", "all_reduce",
           "all_to_all", "all_to_all_single", "barrier", "broadcast", "destroy_process_group",
           "gather", "get_backend", "get_rank", "get_world_size", "init_process_group",
           "irecv", "is_available", "isend", "new_group", "recv", "reduce",
           "reduce_scatter", "reduce_scatter_tensor", "scatter", "send"]

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


def is_available() -> bool:
    """True: corefw.distributed is always importable (backends are plugins)."""
    return True


def _backends() -> dict:
    from ..plugins import catalogue, load

    load()
    return catalogue.PROCESS_GROUPS


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: datetime.timedelta | float | None = None,
                       world_size: int = -1, rank: int = -1, store: Any = None,
                       group_name: str = "") -> None:
    """Join the job's default process group, as in PyTorch.

    ``backend``: a registered process-group backend (``"mpi"``, ``"nccl"``; default ``"mpi"``).
    ``rank``/``world_size``: default from ``RANK``/``WORLD_SIZE`` (set by ``corefw run``) or
    from the backend (MPI knows them). ``timeout``: how long a collective waits for the others
    before raising :class:`DistBackendError` (default 30 minutes). ``init_method`` is passed
    to the backend (MPI wires itself up and accepts ``None`` or ``"env://"``).
    """
    if is_initialized():
        raise DistError("init_process_group: the default process group is already "
                        "initialized; call destroy_process_group() first")
    name = (backend or "mpi").lower()
    table = _backends()
    impl = table.get(name)
    if impl is None:
        where = PROVIDERS.get(name, "a plugin that registers it (register_process_groups)")
        raise DistError(f"init_process_group: no process-group backend {name!r} is installed "
                        f"(installed: {', '.join(sorted(table)) or 'none'}); it is provided "
                        f"by {where}")
    if not impl.is_available():
        raise DistError(f"init_process_group: backend {name!r} is unavailable: "
                        f"{impl.unavailable_reason()}")
    seconds = _seconds(timeout if timeout is not None else DEFAULT_TIMEOUT)
    rank = _env_int("RANK") if rank is None or rank < 0 else rank
    world_size = _env_int("WORLD_SIZE") if world_size is None or world_size < 0 else world_size
    read_setting()
    pg = impl.create(rank, world_size, seconds, init_method)
    _STATE["world"] = ProcessGroup(pg, list(range(pg.size)), name, seconds)
    if _STATE["hook"] is None:
        _STATE["hook"] = sys.excepthook
        sys.excepthook = _excepthook


def _excepthook(tp, value, tb) -> None:
    """An uncaught error on one rank: print it, tell the other ranks, stop the job."""
    prev = _STATE["hook"] or sys.__excepthook__
    prev(tp, value, tb)
    world = _STATE["world"]
    if world is not None:
        # Ctrl-C reaches every rank at once, and a peer's failure is already known: stop now.
        quiet = issubclass(tp, KeyboardInterrupt) or (
            isinstance(value, DistBackendError) and getattr(value, "from_peer", False))
        world.pg.abort(None if quiet else f"{tp.__name__}: {value}")


def _seconds(timeout: datetime.timedelta | float) -> float:
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout)
    raise DistError(f"init_process_group: timeout must be a datetime.timedelta or seconds > 0, "
                    f"got {timeout!r}")


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else None


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Leave the default group (or forget ``group``); collectives need a new init after."""
    if group is None or group is _STATE["world"]:
        world, _STATE["world"] = _STATE["world"], None
        if world is not None:
            world.pg.shutdown()
        if _STATE["hook"] is not None:
            sys.excepthook, _STATE["hook"] = _STATE["hook"], None
    elif group is not GroupMember.NON_GROUP_MEMBER:
        group.pg.shutdown()


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank in ``group`` (default: the world); -1 outside the group."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _group(group, "get_rank").rank()


def get_world_size(group: ProcessGroup | None = None) -> int:
    """The number of ranks in ``group`` (default: the world); -1 outside the group."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _group(group, "get_world_size").size()


def get_backend(group: ProcessGroup | None = None) -> str:
    """The backend name of ``group`` (default: the world)."""
    return _group(group, "get_backend").backend


def new_group(ranks: Sequence[int] | None = None, timeout: Any = None,
              backend: str | None = None) -> ProcessGroup | object:
    """A group of the given global ``ranks`` (all ranks must call it, in the same order).
    Ranks outside it get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _group(None, "new_group")
    ranks = sorted(set(range(world.size()) if ranks is None else ranks))
    bad = [r for r in ranks if not 0 <= r < world.size()]
    if bad:
        raise DistError(f"new_group: ranks {bad} are outside the world of {world.size()} ranks")
    pg = world.pg.split(ranks)
    if pg is None:
        return GroupMember.NON_GROUP_MEMBER
    seconds = world.timeout if timeout is None else _seconds(timeout)
    return ProcessGroup(pg, ranks, world.backend, seconds)


# -- helpers ----------------------------------------------------------------------------------
class _Done:
    """A Work whose result needs a last step (copy into a list, divide) after the backend's."""

    def __init__(self, work: Any, then: Callable[[], None] | None = None) -> None:
        self.work, self.then, self.done = work, then, False

    def wait(self, timeout: float | None = None) -> bool:
        if not self.done:
            self.work.wait(timeout)
            self.done = True
            if self.then is not None:
                with corefw.no_grad():
                    self.then()
        return True

    def is_completed(self) -> bool:
        return self.done or self.work.is_completed()

    @property
    def source(self) -> int | None:
        return getattr(self.work, "source", None)


def _finish(work: Any, async_op: bool, then: Callable[[], None] | None = None):
    if async_op:
        return _Done(work, then)
    work.wait()
    if then is not None:
        with corefw.no_grad():
            then()
    return None


def _tensor(fn: str, t: Any, what: str = "tensor") -> Any:
    if not isinstance(t, corefw.Tensor):
        raise DistError(f"{fn}: {what} must be a corefw.Tensor, got {type(t).__name__}")
    return t.detach() if t.requires_grad else t


def _op(op: Any, t: Any, fn: str) -> ReduceOp:
    if not isinstance(op, ReduceOp):
        raise DistError(f"{fn}: op must be a corefw.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and not t.dtype.is_floating_point:
        raise DistError(f"{fn}: ReduceOp.AVG needs a floating-point tensor, got {t.dtype}; "
                        f"use ReduceOp.SUM and divide")
    return op


def _check(g: ProcessGroup, fn: str, *tensors: Any, force: bool = False) -> None:
    if force or detail():
        check_same(g, fn, tensors)


def _flat(tensors: Sequence[Any], fn: str, like: Any = None) -> Any:
    ts = [_tensor(fn, t, "each tensor of the list") for t in tensors]
    ref = like if like is not None else ts[0]
    for i, t in enumerate(ts):
        if tuple(t.shape) != tuple(ref.shape) or t.dtype != ref.dtype:
            raise DistError(f"{fn}: list entry {i} is {t.dtype} {tuple(t.shape)}, but every "
                            f"entry must match {ref.dtype} {tuple(ref.shape)}")
    return corefw.stack(ts)


def _unstack(src: Any, targets: Sequence[Any]) -> Callable[[], None]:
    def then() -> None:
        for i, t in enumerate(targets):
            t.copy_(src[i])
    return then


# -- collectives ------------------------------------------------------------------------------
def barrier(group: ProcessGroup | None = None, async_op: bool = False, device_ids=None):
    """Wait until every rank of the group has called barrier."""
    g = _collective(group, "barrier")
    return _finish(g.pg.barrier(async_op=async_op), async_op)


def broadcast(tensor, src: int, group: ProcessGroup | None = None, async_op: bool = False):
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every rank."""
    g = _collective(group, "broadcast")
    t = _tensor("broadcast", tensor)
    _check(g, "broadcast", t)
    return _finish(g.pg.broadcast(t, _grank(g, src, "broadcast", "src"),
                                   async_op=async_op), async_op)


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None,
               async_op: bool = False):
    """Combine ``tensor`` across ranks with ``op``; every rank gets the result in place."""
    g = _collective(group, "all_reduce")
    t = _tensor("all_reduce", tensor)
    _check(g, "all_reduce", t)
    return _finish(g.pg.allreduce(t, _op(op, t, "all_reduce"), async_op=async_op), async_op)


def reduce(tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None,
           async_op: bool = False):
    """Combine ``tensor`` across ranks into ``tensor`` of rank ``dst`` (others unchanged)."""
    g = _collective(group, "reduce")
    t = _tensor("reduce", tensor)
    _check(g, "reduce", t)
    return _finish(g.pg.reduce(t, _grank(g, dst, "reduce", "dst"), _op(op, t, "reduce"),
                               async_op=async_op),
                   async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group: ProcessGroup | None = None,
                           async_op: bool = False):
    """``output_tensor`` (world_size times ``input_tensor`` along dim 0) gets every rank's
    ``input_tensor``, in rank order."""
    g = _collective(group, "all_gather_into_tensor")
    out = _tensor("all_gather_into_tensor", output_tensor, "output_tensor")
    t = _tensor("all_gather_into_tensor", input_tensor, "input_tensor")
    _need_numel(out, t.numel() * g.size(), "all_gather_into_tensor", "output_tensor", t)
    _check(g, "all_gather_into_tensor", t)
    return _finish(g.pg.allgather(out, t, async_op=async_op), async_op)


def all_gather(tensor_list: list, tensor, group: ProcessGroup | None = None,
               async_op: bool = False):
    """``tensor_list[i]`` gets rank i's ``tensor``."""
    g = _collective(group, "all_gather")
    t = _tensor("all_gather", tensor)
    _need_len(tensor_list, g.size(), "all_gather", "tensor_list")
    _flat(tensor_list, "all_gather", like=t)
    _check(g, "all_gather", t)
    out = corefw.empty((g.size(), *t.shape), dtype=t.dtype, device=t.device)
    return _finish(g.pg.allgather(out, t, async_op=async_op), async_op,
                   _unstack(out, tensor_list))


def reduce_scatter_tensor(output, input, op: ReduceOp = ReduceOp.SUM,
                          group: ProcessGroup | None = None, async_op: bool = False):
    """Reduce ``input`` (world_size chunks along dim 0) across ranks; rank i gets chunk i."""
    g = _collective(group, "reduce_scatter_tensor")
    out = _tensor("reduce_scatter_tensor", output, "output")
    t = _tensor("reduce_scatter_tensor", input, "input")
    _need_numel(t, out.numel() * g.size(), "reduce_scatter_tensor", "input", out)
    _check(g, "reduce_scatter_tensor", t)
    return _finish(g.pg.reduce_scatter(out, t, _op(op, t, "reduce_scatter_tensor"),
                                       async_op=async_op), async_op)


def reduce_scatter(output, input_list: list, op: ReduceOp = ReduceOp.SUM,
                   group: ProcessGroup | None = None, async_op: bool = False):
    """Reduce ``input_list[i]`` across ranks into ``output`` of rank i."""
    g = _collective(group, "reduce_scatter")
    out = _tensor("reduce_scatter", output, "output")
    _need_len(input_list, g.size(), "reduce_scatter", "input_list")
    flat = _flat(input_list, "reduce_scatter", like=out)
    _check(g, "reduce_scatter", flat)
    return _finish(g.pg.reduce_scatter(out, flat, _op(op, out, "reduce_scatter"),
                                       async_op=async_op), async_op)


def gather(tensor, gather_list: list | None = None, dst: int = 0,
           group: ProcessGroup | None = None, async_op: bool = False):
    """Rank ``dst`` gets every rank's ``tensor`` in ``gather_list`` (None on the others)."""
    g = _collective(group, "gather")
    t = _tensor("gather", tensor)
    root = _grank(g, dst, "gather", "dst")
    out, then = None, None
    if g.rank() == root:
        _need_len(gather_list, g.size(), "gather", "gather_list on the dst rank")
        _flat(gather_list, "gather", like=t)
        out = corefw.empty((g.size(), *t.shape), dtype=t.dtype, device=t.device)
        then = _unstack(out, gather_list)
    _check(g, "gather", t)
    return _finish(g.pg.gather(out, t, root, async_op=async_op), async_op, then)


def scatter(tensor, scatter_list: list | None = None, src: int = 0,
            group: ProcessGroup | None = None, async_op: bool = False):
    """``tensor`` of rank i gets ``scatter_list[i]`` of rank ``src``."""
    g = _collective(group, "scatter")
    t = _tensor("scatter", tensor)
    root = _grank(g, src, "scatter", "src")
    flat = None
    if g.rank() == root:
        _need_len(scatter_list, g.size(), "scatter", "scatter_list on the src rank")
        flat = _flat(scatter_list, "scatter", like=t)
    _check(g, "scatter", t)
    return _finish(g.pg.scatter(t, flat, root, async_op=async_op), async_op)


def all_to_all_single(output, input, group: ProcessGroup | None = None,
                      async_op: bool = False):
    """Chunk i (along dim 0) of ``input`` goes to rank i; ``output`` chunk j comes from j."""
    g = _collective(group, "all_to_all_single")
    out = _tensor("all_to_all_single", output, "output")
    t = _tensor("all_to_all_single", input, "input")
    if t.shape[0] % g.size() or tuple(out.shape) != tuple(t.shape) or out.dtype != t.dtype:
        raise DistError(f"all_to_all_single: input {t.dtype} {tuple(t.shape)} must split into "
                        f"{g.size()} equal chunks along dim 0 and match output {out.dtype} "
                        f"{tuple(out.shape)}")
    _check(g, "all_to_all_single", t)
    return _finish(g.pg.alltoall(out, t, async_op=async_op), async_op)


def all_to_all(output_tensor_list: list, input_tensor_list: list,
               group: ProcessGroup | None = None, async_op: bool = False):
    """``input_tensor_list[i]`` goes to rank i; ``output_tensor_list[j]`` comes from rank j
    (equal shapes)."""
    g = _collective(group, "all_to_all")
    _need_len(input_tensor_list, g.size(), "all_to_all", "input_tensor_list")
    _need_len(output_tensor_list, g.size(), "all_to_all", "output_tensor_list")
    flat = _flat(input_tensor_list, "all_to_all")
    _flat(output_tensor_list, "all_to_all", like=input_tensor_list[0])
    out = corefw.empty(tuple(flat.shape), dtype=flat.dtype, device=flat.device)
    _check(g, "all_to_all", flat)
    return _finish(g.pg.alltoall(out, flat, async_op=async_op), async_op,
                   _unstack(out, output_tensor_list))


def isend(tensor, dst: int, group: ProcessGroup | None = None, tag: int = 0):
    """Start sending ``tensor`` to rank ``dst``; returns a work handle."""
    g = _collective(group, "isend")
    return _Done(g.pg.send(_tensor("isend", tensor), _grank(g, dst, "isend", "dst"), tag))


def irecv(tensor, src: int | None = None, group: ProcessGroup | None = None, tag: int = 0):
    """Start receiving into ``tensor`` from ``src`` (None: any rank); returns a work handle."""
    g = _collective(group, "irecv")
    root = None if src is None else _grank(g, src, "irecv", "src")
    return _Done(g.pg.recv(_tensor("irecv", tensor), root, tag))


def send(tensor, dst: int, group: ProcessGroup | None = None, tag: int = 0) -> None:
    """Send ``tensor`` to rank ``dst`` (returns when the buffer may be reused)."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src: int | None = None, group: ProcessGroup | None = None,
         tag: int = 0) -> int:
    """Receive into ``tensor`` from ``src`` (None: any rank); returns the sender's rank."""
    g = _group(group, "recv")
    work = irecv(tensor, src, group, tag)
    work.wait()
    return g.ranks[work.source] if work.source is not None else src


def _need_len(seq: Any, n: int, fn: str, what: str) -> None:
    if not isinstance(seq, (list, tuple)) or len(seq) != n:
        got = f"{len(seq)} entries" if isinstance(seq, (list, tuple)) else repr(seq)
        raise DistError(f"{fn}: {what} must be a list of {n} tensors (one per rank), got {got}")


def _need_numel(t: Any, n: int, fn: str, what: str, other: Any) -> None:
    if t.numel() != n or t.dtype != other.dtype:
        raise DistError(f"{fn}: {what} is {t.dtype} {tuple(t.shape)} ({t.numel()} elements); "
                        f"it must hold world_size x {tuple(other.shape)} = {n} elements of "
                        f"{other.dtype}")
