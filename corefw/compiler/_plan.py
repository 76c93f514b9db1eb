"""A capture ready to run: compiled graphs and how to feed them (see :mod:`._compiled`)."""

from __future__ import annotations

from .._graph.grad_mode import STATE
from .._tensor import wrap
from ._common import unflatten

__all__ = ["Plan"]


def t_grad(t):
    """The array of ``t.grad``."""
    return t._grad._data


class Plan:
    """One capture: compiled graphs and how to feed them and use their results."""

    def __init__(self) -> None:
        self.sources: list = []      # per forward input: (kind, index)
        self.fwd = None
        self.bwd = None
        self.graphs: list = []
        self.writes: list = []       # (tensor index, "grad"|"data", out position | None)
        self.bumps: list = []        # (tensor index, version delta)
        self.outs: list = []         # per output leaf: ("v", pos, req) | ("obj", x) | ("c", x)
        self.tree = None
        self.bwd_sources: list = []  # per backward input: ("out", pos) | ("gout", k)
        self.target_pos: list = []   # tensors the backward returns gradients for, as
                                     # positions among a call's tensors
        self.req_pos: list = []      # output positions that carry the joint node
        self.identity: list = []
        self.state_tensors: list = []
        self.n_args = 0
        self.arg_pos: list = []
        self.guarded = False         # the graph has guard nodes (graph breaks)
        self.restore_rng = False     # ... and random draws before one
        self.data_only = None        # source indices when every input is a tensor's data
        self.fast = None             # its fast path (_fastpath.build), False: none
        self.hits = 0                # replays through the general path (see CHURN_LIMIT)

    def _run_restoring_rng(self, inputs):
        from .._random import get_rng_state, set_rng_state
        from ._trace import GuardMiss

        saved = get_rng_state()
        try:
            return self.fwd(inputs)
        except GuardMiss:
            set_rng_state(saved)
            raise

    def valid(self) -> bool:
        for store, k, obj in self.identity:
            cur = store.get(k)
            if isinstance(obj, tuple):
                if len(cur) != len(obj) or any(a is not b for a, b in zip(cur, obj)):
                    return False
            elif cur is not obj:
                return False
        return True

    def run(self, arg_tensors, fn, args, kwargs):
        tensors = (arg_tensors if len(self.arg_pos) == len(arg_tensors) else
                   [arg_tensors[j] for j in self.arg_pos]) + self.state_tensors
        data = self.data_only
        if data is None:
            data = self.data_only = [i for kind, i in self.sources if kind == "data"] \
                if all(kind == "data" for kind, _ in self.sources) else False
        if data:
            inputs = [tensors[i]._data for i in data]
        else:
            inputs = [tensors[i]._data if kind == "data" else t_grad(tensors[i]) if
                      kind == "grad" else tensors[i]._data.shape[0]  # "dim0": dynamic batch
                      for kind, i in self.sources]
        if self.restore_rng:  # random draws before a guard: a miss must not have drawn
            res = self._run_restoring_rng(inputs)
        else:
            res = self.fwd(inputs)
        for k, what, pos in self.writes:
            t = tensors[k]
            if what == "grad":
                t._grad = None if pos is None else wrap(res[pos], t._dev)
            else:
                t._data = res[pos]
        for k, d in self.bumps:
            t = tensors[k]
            if t._vc is None:
                t._vc = [d]
            else:
                t._vc[0] += d
        leaves = [wrap(res[x], dev) if kind == "v" else tensors[x] if kind == "t" else
                  res[x] if kind == "s" else x for kind, x, dev in self.outs]
        if self.req_pos and STATE.enabled:
            from ._joint import attach  # autograd.Function: only when a gradient is wanted

            attach(self, res, leaves, fn, args, kwargs, tensors)
        return leaves[0] if self.tree is None else unflatten(self.tree, leaves)


