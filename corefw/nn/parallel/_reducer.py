"""Gradient buckets of DistributedDataParallel (PyTorch's ``Reducer``).

Parameters are put in buckets of at most ``bucket_cap_mb`` in the reverse order of
``module.parameters()`` (roughly the order backward produces their gradients). Each
parameter's post-accumulate-grad hook counts it ready; once every parameter of a bucket is
ready, the bucket's gradients are flattened, divided by the world size and all-reduced
asynchronously, while backward goes on. Buckets are launched in index order, so every rank
issues the same collectives in the same order. When the last bucket has been launched, the
reducer waits for all of them and writes the averaged gradients back to ``param.grad``.
"""

from __future__ import annotations

from typing import Any

import corefw
from corefw.distributed import DistError, ReduceOp
from corefw.distributed import _c10d as c10d


class Bucket:
    """Parameters whose gradients travel in one all-reduce."""

    def __init__(self, index: int, params: list) -> None:
        self.index, self.params = index, params
        self.numels = [p.numel() for p in params]
        self.ready: set[int] = set()
        self.flat = None
        self.work = None


class Reducer:
    """Averages gradients across the group in buckets, overlapped with backward."""

    def __init__(self, named_params: list[tuple[str, Any]], group: Any, bucket_cap_mb: float,
                 find_unused: bool) -> None:
        self.group, self.find_unused = group, find_unused
        self.flag_device = getattr(group.pg, "buffer_device", "cpu")
        self.names = {id(p): n for n, p in named_params}
        params = [p for _, p in named_params]
        cap = max(1, int(bucket_cap_mb * 1024 * 1024))
        self.buckets: list[Bucket] = []
        current: list = []
        size = 0
        for p in reversed(params):
            nbytes = p.numel() * p.element_size()
            if current and (size + nbytes > cap or p.dtype != current[0].dtype
                            or p.device != current[0].device):
                self.buckets.append(Bucket(len(self.buckets), current))
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            self.buckets.append(Bucket(len(self.buckets), current))
        self.where = {id(p): b for b in self.buckets for p in b.params}
        self.params = params
        self.armed = False       # a synced backward is expected
        self.next = 0            # next bucket to launch
        self.used: set[int] = set()
        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in params]

    # -- one iteration ------------------------------------------------------------------------
    def prepare(self, outputs: Any) -> None:
        """Called by the forward pass whose backward must be synchronised."""
        started = [b for b in self.buckets if b.ready]
        if self.armed and started:
            missing = [self.names[id(p)] for p in self.params
                       if id(p) not in self.where[id(p)].ready]
            raise DistError(
                "DistributedDataParallel: expected to have finished reduction in the prior "
                "iteration before starting a new one: parameters "
                f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} got no gradient. "
                "Pass find_unused_parameters=True to DistributedDataParallel if some parameters "
                "do not take part in the loss, and make sure every output feeds the loss")
        self._reset()
        self.armed = True
        if self.find_unused:
            reached = _reachable_leaves(outputs)
            self.used = {id(p) for p in self.params if id(p) in reached}
            for p in self.params:
                if id(p) not in self.used:
                    self.where[id(p)].ready.add(id(p))
            self._launch_ready()

    def _reset(self) -> None:
        for b in self.buckets:
            b.ready.clear()
            b.flat = b.work = None
        self.next = 0
        self.armed = False

    def _hook(self, p: Any) -> None:
        if not self.armed:
            return
        self.where[id(p)].ready.add(id(p))
        self._launch_ready()

    def _launch_ready(self) -> None:
        while self.next < len(self.buckets) and \
                len(self.buckets[self.next].ready) == len(self.buckets[self.next].params):
            self._launch(self.buckets[self.next])
            self.next += 1
        if self.next == len(self.buckets) and self.armed:
            self._finish()

    def _launch(self, b: Bucket, zeros: bool = False) -> None:
        with corefw.no_grad():
            parts = [(p.grad if (p.grad is not None and not zeros) else
                      corefw.zeros(tuple(p.shape), dtype=p.dtype, device=p.device)).reshape(-1)
                     for p in b.params]
            b.flat = corefw.cat(parts) / float(self.group.size())
        # The last bucket is waited for at once: a blocking call spares a thread switch.
        last = b.index == len(self.buckets) - 1
        b.work = c10d.all_reduce(b.flat, ReduceOp.SUM, group=self.group, async_op=not last)

    def _finish(self) -> None:
        self.armed = False
        globally_used = None
        if self.find_unused:
            flags = corefw.tensor([1 if id(p) in self.used else 0 for p in self.params],
                                  dtype=corefw.int64, device=self.flag_device)
            c10d.all_reduce(flags, ReduceOp.MAX, group=self.group)
            globally_used = flags.cpu().tolist()
        index = {id(p): i for i, p in enumerate(self.params)}
        with corefw.no_grad():
            for b in self.buckets:
                if b.work is not None:
                    b.work.wait()
                offset = 0
                for p, n in zip(b.params, b.numels):
                    if globally_used is None or globally_used[index[id(p)]]:
                        p.grad = b.flat[offset:offset + n].reshape(tuple(p.shape))
                    offset += n
        for b in self.buckets:
            b.ready.clear()
            b.flat = b.work = None

    def shadow(self) -> None:
        """Join: this rank has no input; take part in the others' gradient all-reduces with
        zeros, in the same order."""
        for b in self.buckets:
            self._launch(b, zeros=True)
        if self.find_unused:
            flags = corefw.zeros((len(self.params),), dtype=corefw.int64,
                                 device=self.flag_device)
            c10d.all_reduce(flags, ReduceOp.MAX, group=self.group)
        for b in self.buckets:
            if b.work is not None:
                b.work.wait()
            b.flat = b.work = None


def _reachable_leaves(outputs: Any) -> set[int]:
    """ids of the leaf tensors the autograd graph of ``outputs`` reaches."""
    stack, seen, leaves = [], set(), set()

    def add(obj: Any) -> None:
        if isinstance(obj, corefw.Tensor):
            if obj.grad_fn is not None:
                stack.append(obj.grad_fn)
            elif obj.requires_grad:
                leaves.add(id(obj))
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                add(o)
        elif isinstance(obj, dict):
            for o in obj.values():
                add(o)

    add(outputs)
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            if isinstance(nxt, corefw.Tensor):
                leaves.add(id(nxt))
            else:
                stack.append(nxt)
    return leaves
