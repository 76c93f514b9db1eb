"""``DistributedDataParallel``: PyTorch's data-parallel wrapper over corefw.distributed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import corefw
from corefw.distributed import ReduceOp
from corefw.distributed import _c10d as c10d
from corefw.distributed._debug import check_same

from ...compiler._common import refuse_capture
from ..module import Module
from ._reducer import Reducer

__all__ = ["DistributedDataParallel"]


class DistributedDataParallel(Module):
    """Train ``module`` on every rank of a process group, each on its own part of the data.

    At construction, the ranks check that they hold the same parameters and buffers (names,
    shapes, dtypes: a clear error otherwise) and copy rank 0's values. In backward, gradients
    are averaged across ranks in buckets of ``bucket_cap_mb`` MB, each all-reduced
    asynchronously as soon as its gradients are ready, so communication overlaps the rest of
    backward; after ``loss.backward()`` every rank holds the same averaged ``.grad``.

    ``broadcast_buffers``: copy rank 0's buffers (batch-norm statistics) before each forward.
    ``find_unused_parameters``: parameters the forward's outputs do not reach count as ready
    with a zero gradient (and keep their ``.grad`` when no rank used them).
    :meth:`no_sync` skips the averaging (gradient accumulation); :meth:`join` handles ranks
    with fewer batches. ``state_dict()`` keys are the module's under ``module.``.
    ``device_ids``/``output_device``/``dim`` are accepted for PyTorch compatibility: the module
    runs as it is, on the device of its parameters.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float = 25.0, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False) -> None:
        super().__init__()
        self.module = module
        group = c10d._group(process_group, "DistributedDataParallel")
        self.process_group = group
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.bucket_cap_mb = bucket_cap_mb
        self.require_backward_grad_sync = True
        self._joined = False
        # where DDP's own small flags live (the process group may need them on a GPU)
        self._flag_device = getattr(group.pg, "buffer_device", "cpu")
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        buffers = list(module.named_buffers())
        # The first collective always checks the ranks agree (a mismatch would hang later).
        check_same(group, "DistributedDataParallel", [p for _, p in named] +
                   [b for _, b in buffers], [n for n, _ in named] + [n for n, _ in buffers])
        self._broadcast([p for _, p in module.named_parameters()] + [b for _, b in buffers])
        self.reducer = Reducer(named, group, bucket_cap_mb, find_unused_parameters)

    def _broadcast(self, tensors: list, src: int | None = None) -> None:
        """Copy rank ``src``'s (default: the group's first) values of ``tensors`` to every
        rank (one broadcast per dtype)."""
        if self.process_group.size() == 1 or not tensors:
            return
        src = self.process_group.ranks[0] if src is None else src
        with corefw.no_grad():
            for dtype in dict.fromkeys(t.dtype for t in tensors):
                same = [t for t in tensors if t.dtype == dtype]
                flat = corefw.cat([t.detach().reshape(-1) for t in same])
                c10d.broadcast(flat, src, group=self.process_group)
                offset = 0
                for t in same:
                    n = t.numel()
                    t.copy_(flat[offset:offset + n].reshape(tuple(t.shape)))
                    offset += n

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        refuse_capture("DistributedDataParallel's forward arms its gradient reduction in "
                       "Python on every call, which a replay would skip; compile the wrapped "
                       "module instead (ddp.compile(), or model.compile() before wrapping)")
        if self._joined:  # tell ranks that ran out of data that this one has not
            c10d.all_reduce(corefw.tensor([1], dtype=corefw.int64, device=self._flag_device),
                            ReduceOp.SUM, group=self.process_group)
        if self.broadcast_buffers:
            self._broadcast(list(self.module.buffers()))
        out = self.module(*inputs, **kwargs)
        if corefw.is_grad_enabled() and self.require_backward_grad_sync:
            self.reducer.prepare(out)
        return out

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Compile the wrapped module in place (:meth:`Module.compile`, same arguments): its
        forward and backward are captured and replayed, while this wrapper's Python (the
        buffer broadcast, arming the bucket reduction) and the reduction itself, in the
        backward's gradient hooks, run on every call. (``corefw.compile(ddp)`` would replay
        the wrapper's forward without them, so it runs eagerly, with a warning.)"""
        self.module.compile(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward accumulates gradients locally without averaging them; the first
        backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    @contextlib.contextmanager
    def join(self, divide_by_initial_world_size: bool = True, enable: bool = True,
             throw_on_early_termination: bool = False) -> Iterator[None]:
        """Train with uneven inputs: a rank that leaves the block early keeps taking part in
        the other ranks' collectives (with zero gradients) until every rank has left it.
        Gradients are divided by the initial world size, as PyTorch's default."""
        if not enable or self.process_group.size() == 1:
            yield
            return
        if not divide_by_initial_world_size or throw_on_early_termination:
            raise NotImplementedError("DistributedDataParallel.join: only "
                                      "divide_by_initial_world_size=True and "
                                      "throw_on_early_termination=False are supported")
        self._joined = True
        try:
            yield
        except BaseException:
            self._joined = False
            raise
        self._joined = False
        rounds = 0
        while True:
            active = corefw.tensor([0], dtype=corefw.int64, device=self._flag_device)
            c10d.all_reduce(active, ReduceOp.SUM, group=self.process_group)
            if int(active.item()) == 0:
                break
            rounds += 1
            if self.broadcast_buffers:
                self._broadcast(list(self.module.buffers()))
            self.reducer.shadow()
        # Ranks that joined early skipped their optimizer's last steps: copy the model of a
        # rank that trained to the end (one that shadowed no round), as PyTorch does.
        dev = self._flag_device
        shadowed = corefw.empty((self.process_group.size(),), dtype=corefw.int64, device=dev)
        c10d.all_gather_into_tensor(shadowed, corefw.tensor([rounds], dtype=corefw.int64,
                                                            device=dev),
                                    group=self.process_group)
        last = self.process_group.ranks[shadowed.cpu().tolist().index(0)]
        self._broadcast([p for p in self.module.parameters()] + list(self.module.buffers()),
                        src=last)
