"""Process groups and the default group's state: what every collective module resolves a
``group=`` argument against. Below the collectives, the object collectives and the debug
checks, so that they all read it without importing each other in a circle."""

from __future__ import annotations

from typing import Any

from ..compiler._common import refuse_capture
from ._backend import DistError

__all__ = ["GroupMember", "ProcessGroup", "is_initialized"]


class ProcessGroup:
    """A group of ranks (the world, or one made by :func:`new_group`)."""

    def __init__(self, pg: Any, ranks: list[int], backend: str, timeout: float) -> None:
        self.pg, self.ranks, self.backend, self.timeout = pg, ranks, backend, timeout

    def rank(self) -> int:
        """This process's rank within the group."""
        return self.pg.rank

    def size(self) -> int:
        """The number of ranks in the group."""
        return self.pg.size

    def __repr__(self) -> str:
        return f"ProcessGroup(backend={self.backend!r}, ranks={self.ranks}, rank={self.rank()})"


class GroupMember:
    """``GroupMember.WORLD`` (None: the default group) and ``NON_GROUP_MEMBER``, what
    :func:`new_group` returns on a rank outside the new group."""

    WORLD = None
    NON_GROUP_MEMBER = object()


_STATE: dict[str, Any] = {"world": None, "hook": None}


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and not been destroyed)."""
    return _STATE["world"] is not None


def _group(group: ProcessGroup | None, fn: str) -> ProcessGroup:
    g = _STATE["world"] if group is None else group
    if g is None:
        raise DistError(f"{fn}: the default process group is not initialized; call "
                        f"corefw.distributed.init_process_group() first")
    return g


def _collective(group: ProcessGroup | None, fn: str) -> ProcessGroup:
    """``_group`` for a collective or point-to-point call. A captured graph would replay the
    computation without the communication (and a backend writing device memory directly, as
    NCCL does, leaves no trace at all), so a collective refuses the capture: the compiled
    function runs eagerly, with a CompileWarning naming the call."""
    g = _group(group, fn)
    refuse_capture(f"corefw.distributed.{fn} is a collective, which a compiled graph cannot "
                   f"replay (it would skip the communication)")
    return g


def _grank(g: ProcessGroup, rank: int, fn: str, what: str) -> int:
    if rank not in g.ranks:
        raise DistError(f"{fn}: {what}={rank} is not a rank of the group (its global ranks: "
                        f"{g.ranks})")
    return g.ranks.index(rank)
