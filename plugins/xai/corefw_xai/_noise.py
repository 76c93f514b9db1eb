"""NoiseTunnel: SmoothGrad, SmoothGrad-squared and VarGrad over any attribution method."""

from __future__ import annotations

import numpy as np

import corefw
from corefw import Tensor

from ._blocks import Moments, block_rows, blocks, fold
from ._core import Attribution, Explanation, as_tuple, new_seed, take_rows, to_device
from ._gradient import _shared
from ._targets import TargetSet

__all__ = ["NoiseTunnel", "expand_target"]

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def expand_target(target, rows: np.ndarray, batch: int):
    """The target for rows that repeat examples (row i is example rows[i])."""
    if target is None or callable(target) and not isinstance(target, Tensor):
        return target
    if isinstance(target, (int, np.integer)):
        return target
    if isinstance(target, tuple) and all(isinstance(t, (int, np.integer)) for t in target):
        return target
    arr = target.detach().cpu().numpy() if isinstance(target, Tensor) else None
    if arr is not None:
        return target if arr.ndim == 0 else corefw.tensor(arr[rows])
    items = list(target)
    if len(items) != batch:
        return target  # the inner method reports the mismatch
    return [items[r] for r in rows]


class NoiseTunnel(Attribution):
    """Average an attribution method over noisy copies of the inputs (Smilkov et al. 2017).

    ``NoiseTunnel(IntegratedGradients(model))``, or ``NoiseTunnel(model, base="saliency")``
    (the registered-name form :func:`corefw_xai.explain` uses). ``nt_type``: ``"smoothgrad"``
    (mean), ``"smoothgrad_sq"`` (mean of squares) or ``"vargrad"`` (variance). The noise is
    ``N(0, stdevs^2)`` (one std per input with a tuple) drawn from ``seed``, the same draws for
    every example;
    ``nt_samples_batch_size`` samples go to the wrapped method per call and do not change the
    result. ``stderr`` is the standard error of the estimate; ``delta`` the wrapped method's
    residual averaged over the samples (where it has one).
    """

    name = "noise_tunnel"
    stochastic = True

    def __init__(self, attribution_method, base: str = "saliency") -> None:
        if isinstance(attribution_method, Attribution):
            inner = attribution_method
        else:
            from . import _registry

            inner = _registry.lookup(base)(attribution_method)
        super().__init__(inner.model)
        self.inner = inner

    def attribute(self, inputs, nt_type: str = "smoothgrad", nt_samples: int = 5,
                  nt_samples_batch_size: int | None = None, stdevs=1.0,
                  draw_baseline_from_distrib: bool = False, *, target=None, targets=None,
                  seed: int | None = None, **kwargs) -> Explanation:
        """Noise-averaged attributions of the wrapped method (its options go in ``kwargs``)."""
        if nt_type not in NT_TYPES:
            raise ValueError(f"noise_tunnel: unknown nt_type {nt_type!r}; choose one of "
                             f"{', '.join(NT_TYPES)}")
        if nt_samples < 1:
            raise ValueError(f"noise_tunnel: nt_samples must be >= 1, got {nt_samples}")
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        ts = TargetSet(target, batch, targets)
        seed = new_seed(seed)
        rng = np.random.default_rng(seed)
        sd = tuple(stdevs) if isinstance(stdevs, (tuple, list)) else (stdevs,) * len(xs)
        noise = [_shared(rng.standard_normal((nt_samples,) + tuple(x.shape[1:])) * float(s),
                         batch) for x, s in zip(xs, sd)]
        dist = kwargs.get("baselines") if draw_baseline_from_distrib else None
        if dist is not None:
            dist = dist if isinstance(dist, tuple) else (dist,)
            pick = np.repeat(rng.integers(0, dist[0].shape[0], size=(nt_samples, 1)), batch, 1)
        order = 4 if nt_type != "smoothgrad" else 2
        moments = [Moments(order) for _ in xs]
        deltas = []
        evals = 0
        per_call = (nt_samples_batch_size or nt_samples) * batch
        for idx, (_, _, s0, s1) in enumerate(blocks(batch, nt_samples, per_call)):
            ex, st = block_rows(0, batch, s0, s1)
            noisy = tuple(take_rows(x, ex) + to_device(nz[st, ex], x) for x, nz in
                          zip(xs, noise))
            kw = {k: self._expand(v, ex, batch) for k, v in kwargs.items()}
            if dist is not None:
                kw["baselines"] = tuple(take_rows(d, pick[st, ex]) for d in dist)
                if len(dist) == 1:
                    kw["baselines"] = kw["baselines"][0]
            if ts.multi:
                kw["targets"] = [expand_target(t, ex, batch) for t in ts.given]
            else:
                kw["target"] = expand_target(ts.given, ex, batch)
            if self.inner.stochastic:
                kw.setdefault("seed", seed + 1 + idx)
            res = self.inner.attribute(noisy if is_tuple else noisy[0], **kw)
            evals += res.n_evals
            attrs = res.attributions if is_tuple else (res.attributions,)
            for i, a in enumerate(attrs):
                a = a if ts.multi else a.unsqueeze(0)
                if nt_type == "smoothgrad_sq":
                    a = a * a
                moments[i].add(0, fold(a, s1 - s0, batch))
            if res.delta is not None:
                d = res.delta if ts.multi else res.delta.unsqueeze(0)
                deltas.append(fold(d, s1 - s0, batch).sum(1))
        if nt_type == "vargrad":
            attrs, err = [m.var() for m in moments], [m.stderr_var() for m in moments]
        else:
            attrs, err = [m.mean() for m in moments], [m.stderr_mean() for m in moments]
        delta = None
        if deltas and nt_type == "smoothgrad":
            delta = deltas[0]
            for d in deltas[1:]:
                delta = delta + d
            delta = delta / nt_samples
        self._evals = evals
        params = {"nt_type": nt_type, "nt_samples": nt_samples, "stdevs": stdevs,
                  "nt_samples_batch_size": nt_samples_batch_size,
                  "draw_baseline_from_distrib": draw_baseline_from_distrib,
                  "base": self.inner.name, **{k: v for k, v in kwargs.items()
                                              if not isinstance(v, (Tensor, tuple))}}
        return self.result(attrs, is_tuple, ts, params=params, delta=delta, stderr=err,
                           seed=seed)

    @staticmethod
    def _expand(value, rows: np.ndarray, batch: int):
        """Repeat per-example tensors (first dim == batch) of the wrapped method's options."""
        if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] == batch:
            return take_rows(value, rows)
        if isinstance(value, tuple):
            return tuple(NoiseTunnel._expand(v, rows, batch) for v in value)
        return value
