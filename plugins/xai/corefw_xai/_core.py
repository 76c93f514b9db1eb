"""What every explainer shares: the :class:`Explanation` result, the :class:`Attribution` base
class, input and baseline formatting, seeds, and the gradient of one or several targets.

Conventions (Captum's): ``inputs`` is a tensor or a tuple of tensors whose first dim is the
batch; ``baselines`` is None (zeros), a number, or per input a tensor of the input's shape or of
its shape without the batch dim (broadcast over the batch); ``additional_forward_args`` are
passed to the model after the inputs and are not attributed (tensors whose first dim is the
batch are repeated with the examples when a method evaluates many rows per example).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import corefw
from corefw import Tensor
from corefw.errors import ShapeError

from ._targets import TargetSet

__all__ = ["Attribution", "Explanation"]

Inputs = Tensor | tuple[Tensor, ...]


@dataclass
class Explanation:
    """The result of an explainer, with the evidence needed to judge it.

    Attributes:
        attributions: a tensor shaped like the inputs (a tuple for tuple inputs), on the inputs'
            device; with several targets (``targets=[...]``) a leading target axis is added.
        targets: the target(s) as given (``int``, per-example list, callable, or a list of them).
        method: the registered name of the method (``"integrated_gradients"`` ...).
        params: the options the method ran with (after defaults were filled in).
        delta: completeness residual per example, ``sum(phi) - (F(x) - F(x'))`` (or the
            method's own reference value), shape (batch,) or (n_targets, batch); None where the
            method has no completeness property.
        stderr: standard error of a stochastic estimate, shaped like ``attributions``; None for
            deterministic methods.
        seed: the seed a stochastic method drew its samples from (pass it back to reproduce).
        n_evals: model evaluations, counted in examples (rows) forwarded through the model.
        extras: method-specific evidence (convergence history, per-layer relevance, ...).
        multi_target: whether several targets were asked for (``targets=[...]``), so that the
            attributions have a leading target axis.
    """

    attributions: Any
    targets: Any
    method: str
    params: dict = field(default_factory=dict)
    delta: Tensor | None = None
    stderr: Any = None
    seed: int | None = None
    n_evals: int = 0
    extras: dict = field(default_factory=dict)
    multi_target: bool = False

    def numpy(self):
        """The attributions as numpy array(s) (a tuple for tuple inputs)."""
        if isinstance(self.attributions, tuple):
            return tuple(a.detach().cpu().numpy() for a in self.attributions)
        return self.attributions.detach().cpu().numpy()

    def max_abs_delta(self) -> float | None:
        """``max |delta|`` over examples and targets, or None where there is no residual."""
        if self.delta is None:
            return None
        return float(np.max(np.abs(self.delta.detach().cpu().numpy()), initial=0.0))

    def save_pictures(self, inputs: Inputs, path_or_dir, **kw) -> list:
        """Write heatmaps, overlays and an HTML report; see :func:`corefw_xai.save_pictures`."""
        from .viz import save_pictures

        return save_pictures(self, inputs, path_or_dir, **kw)

    def __repr__(self) -> str:
        attrs = self.attributions
        shape = [tuple(a.shape) for a in attrs] if isinstance(attrs, tuple) else \
            tuple(attrs.shape)
        parts = [f"method={self.method!r}", f"shape={shape}", f"n_evals={self.n_evals}"]
        if self.delta is not None:
            parts.append(f"max|delta|={self.max_abs_delta():.3g}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return f"Explanation({', '.join(parts)})"


# -- inputs and baselines ------------------------------------------------------------------
def as_tuple(inputs, what: str = "inputs") -> tuple[tuple[Tensor, ...], bool]:
    """(tuple of tensors, whether a tuple was given); checks a common batch size."""
    is_tuple = isinstance(inputs, (tuple, list))
    items = tuple(inputs) if is_tuple else (inputs,)
    if not items:
        raise ShapeError(f"{what}: got an empty tuple; pass a tensor or a tuple of tensors")
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] is a {type(t).__name__}, expected a corefw.Tensor; "
                            f"convert it with corefw.tensor(...)")
        if t.ndim == 0:
            raise ShapeError(f"{what}[{i}] is 0-d; attribution needs a batch dimension first "
                             f"(use x.unsqueeze(0))")
    sizes = {t.shape[0] for t in items}
    if len(sizes) != 1:
        raise ShapeError(f"{what}: all tensors need the same batch size, got shapes "
                         f"{[tuple(t.shape) for t in items]}")
    return items, is_tuple


def format_baselines(baselines, inputs: tuple[Tensor, ...], name: str = "baselines"
                     ) -> tuple[Tensor, ...]:
    """Per input a tensor of exactly the input's shape (dtype and device of the input)."""
    if baselines is None:
        return tuple(corefw.zeros_like(x) for x in inputs)
    items = tuple(baselines) if isinstance(baselines, (tuple, list)) else (baselines,)
    if len(items) != len(inputs):
        raise ShapeError(f"{name}: got {len(items)} baselines for {len(inputs)} inputs; give "
                         f"one per input (a number, or a tensor shaped like the input)")
    out = []
    for i, (b, x) in enumerate(zip(items, inputs)):
        if isinstance(b, (int, float)):
            out.append(corefw.full_like(x, float(b)))
            continue
        if not isinstance(b, Tensor):
            b = corefw.tensor(np.asarray(b), dtype=x.dtype, device=x.device)
        b = b.to(x.device).to(x.dtype)
        shape = tuple(x.shape)
        if tuple(b.shape) == shape:
            out.append(b)
        elif tuple(b.shape) in (shape[1:], (1,) + shape[1:]) or b.ndim == 0:
            out.append(b.reshape((1,) + shape[1:] if b.ndim else ()).expand(*shape))
        else:
            raise ShapeError(f"{name}[{i}] has shape {tuple(b.shape)}; input {i} has shape "
                             f"{shape}: give a baseline of shape {shape}, {shape[1:]} or "
                             f"(1, *{shape[1:]})")
    return tuple(out)


def format_distribution(baselines, inputs: tuple[Tensor, ...], name: str = "baselines"
                        ) -> tuple[Tensor, ...]:
    """A baseline distribution per input: tensors of shape (m, *input.shape[1:])."""
    if baselines is None:
        return tuple(corefw.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
                     for x in inputs)
    items = tuple(baselines) if isinstance(baselines, (tuple, list)) else (baselines,)
    if len(items) != len(inputs):
        raise ShapeError(f"{name}: got {len(items)} baseline distributions for {len(inputs)} "
                         f"inputs")
    out = []
    for i, (b, x) in enumerate(zip(items, inputs)):
        if isinstance(b, (int, float)):
            b = corefw.full((1,) + tuple(x.shape[1:]), float(b), dtype=x.dtype,
                            device=x.device)
        b = b.to(x.device).to(x.dtype)
        if tuple(b.shape[1:]) != tuple(x.shape[1:]):
            if tuple(b.shape) == tuple(x.shape[1:]):
                b = b.unsqueeze(0)
            else:
                raise ShapeError(f"{name}[{i}] has shape {tuple(b.shape)}; a baseline "
                                 f"distribution for input {i} needs shape (m, "
                                 f"*{tuple(x.shape[1:])})")
        out.append(b)
    sizes = {b.shape[0] for b in out}
    if len(sizes) != 1:
        raise ShapeError(f"{name}: every input's distribution needs the same number of rows, "
                         f"got {[b.shape[0] for b in out]}")
    return tuple(out)


def take_rows(t: Tensor, rows: np.ndarray) -> Tensor:
    """``t[rows]`` for a host index array (rows may repeat)."""
    if rows.size == t.shape[0] and np.array_equal(rows, np.arange(t.shape[0])):
        return t
    return t.index_select(0, corefw.tensor(rows.astype(np.int64), device=t.device))


def expand_args(args, rows: np.ndarray, batch: int) -> tuple:
    """Repeat the batch-shaped tensors of ``additional_forward_args`` for ``rows``."""
    if args is None:
        return ()
    items = tuple(args) if isinstance(args, tuple) else (args,)
    return tuple(take_rows(a, rows) if isinstance(a, Tensor) and a.ndim > 0 and
                 a.shape[0] == batch else a for a in items)


def new_seed(seed: int | None) -> int:
    """The given seed, or a fresh one (recorded in the Explanation so a run can be repeated)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 31))
    return int(seed)


def to_device(a: np.ndarray, like: Tensor) -> Tensor:
    """A host array as a tensor with ``like``'s dtype and device."""
    return corefw.tensor(np.ascontiguousarray(a), dtype=like.dtype, device=like.device)


def default_rows(inputs: tuple[Tensor, ...], batch: int, per_example: int,
                 per_chunk: int = 32) -> int:
    """Rows per model call when the user gave no batch size: at most ``per_chunk`` of a
    method's evaluations per example and about 4M input elements, whatever the number of
    steps or samples (so memory does not grow with them)."""
    numel = max(1, sum(math.prod(x.shape[1:]) for x in inputs))
    cap = max(1, (1 << 22) // numel)
    return max(1, min(batch * min(per_example, per_chunk), max(cap, 1)))


# -- the base class -------------------------------------------------------------------------
class Attribution:
    """Base class of the explainers: ``cls(model).attribute(inputs, target=..., **options)``.

    ``model`` is any callable taking the input tensors (and ``additional_forward_args``) and
    returning a tensor whose first dim is the batch -- a ``corefw.nn.Module`` or a plain
    function. Subclasses set ``name`` and implement ``attribute`` returning an
    :class:`Explanation`.
    """

    name: str = ""
    #: whether results depend on a random seed (they then carry ``seed`` and ``stderr``)
    stochastic: bool = False
    #: what ``attribute`` returns: per-feature attributions, an :class:`Explanation`
    kind: str = "feature"
    result_type: type = Explanation

    def __init__(self, model: Callable) -> None:
        if not callable(model):
            raise TypeError(f"{type(self).__name__}: model must be callable (a corefw.nn.Module "
                            f"or a function of the inputs), got {type(model).__name__}")
        self.model = model
        self._evals = 0

    # evaluation --------------------------------------------------------------------------
    def forward(self, inputs: tuple[Tensor, ...], args: tuple = ()) -> Tensor:
        """Call the model and count the rows evaluated."""
        out = self.model(*inputs, *args)
        if not isinstance(out, Tensor):
            raise TypeError(f"{type(self).__name__}: the model returned a "
                            f"{type(out).__name__}; it must return a corefw.Tensor (wrap it to "
                            f"pick the output to explain)")
        self._evals += int(inputs[0].shape[0])
        return out

    def target_values(self, inputs, args, targets: TargetSet, rows: np.ndarray) -> Tensor:
        """F for every target at ``inputs`` (no grad): shape (n_targets, rows)."""
        with corefw.no_grad():
            out = self.forward(inputs, args)
            return targets.select_all(out, rows)

    def gradients(self, rows_inputs: tuple[Tensor, ...], rows: np.ndarray, args: tuple,
                  targets: TargetSet, grad_scale: Callable | None = None):
        """Gradients of each target w.r.t. ``rows_inputs``: a list (one per target) of tuples
        (one per input), and the target values (n_targets, rows), detached.

        ``grad_scale(values, k)`` may give the gradient seed of target k (default ones).
        """
        leaves = tuple(x.detach().requires_grad_() for x in rows_inputs)
        self.current_leaves = leaves  # rules tell inputs from parameters by identity
        try:
            with corefw.enable_grad(), frozen_parameters(self.model):
                out = self.forward(leaves, args)
                values = [targets.select(k, out, rows) for k in range(len(targets))]
                grads = []
                for k, v in enumerate(values):
                    seed = corefw.ones_like(v) if grad_scale is None else grad_scale(v, k)
                    g = corefw.autograd.grad((v,), leaves, grad_outputs=(seed,),
                                             retain_graph=k < len(values) - 1,
                                             allow_unused=True, materialize_grads=True)
                    grads.append(tuple(gi.detach() for gi in g))
        finally:
            self.current_leaves = ()
        vals = corefw.stack([v.detach() for v in values], 0)
        return grads, vals

    # result -------------------------------------------------------------------------------
    def result(self, per_input: Sequence[Tensor], is_tuple: bool, targets: TargetSet, *,
               params: dict, delta: Tensor | None = None, stderr=None, seed=None,
               extras: dict | None = None) -> Explanation:
        """Build the Explanation from per-input tensors of shape (n_targets, batch, ...)."""
        def shape(ts):
            if ts is None:
                return None
            ts = [(t if targets.multi else t[0]).detach() for t in ts]
            return tuple(ts) if is_tuple else ts[0]

        # results come back detached (as Captum's): ``.numpy()`` works even when the inputs
        # require grad
        if delta is not None:
            delta = (delta if targets.multi else delta[0]).detach()
        return Explanation(attributions=shape(per_input), targets=targets.given,
                           method=self.name, params=params, delta=delta,
                           stderr=shape(stderr), seed=seed, n_evals=self._evals,
                           extras=extras or {}, multi_target=targets.multi)

    def start(self) -> None:
        """Reset the evaluation counter (called at the start of ``attribute``)."""
        self._evals = 0

    @staticmethod
    def save_pictures(explanation: Explanation, inputs: Inputs, path_or_dir, **kw) -> list:
        """Pictures of ``explanation`` (see :func:`corefw_xai.save_pictures`); here so that
        ``corefw demo`` finds it on any explainer class."""
        from .viz import save_pictures

        return save_pictures(explanation, inputs, path_or_dir, **kw)


@contextlib.contextmanager
def frozen_parameters(model):
    """Parameters of a ``corefw.nn.Module`` stop requiring grad inside the block (their
    gradients are never needed by an explainer and cost a third of each backward pass);
    restored on exit, also after an exception."""
    params = getattr(model, "parameters", None)
    frozen = [p for p in params() if p.requires_grad] if callable(params) else []
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def sum_per_example(per_input: Sequence[Tensor]) -> Tensor:
    """Sum of attributions over all inputs and features: (n_targets, batch)."""
    total = None
    for a in per_input:
        s = a.reshape(a.shape[0], a.shape[1], -1).sum(2)
        total = s if total is None else total + s
    return total
