"""Perturbation methods: Occlusion, FeatureAblation, FeaturePermutation, RISE, and the
coalition evaluator the Shapley methods share.

Every random draw happens up front from ``seed``, and ``perturbations_per_eval`` (rows per
model call, in units of the batch) changes the speed only, never the result.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from corefw import Tensor
from corefw.errors import ShapeError

from ._blocks import Moments, block_rows, blocks, fold
from ._core import (
    Attribution,
    Explanation,
    as_tuple,
    default_rows,
    expand_args,
    format_baselines,
    format_distribution,
    new_seed,
    take_rows,
    to_device,
)
from ._targets import TargetSet

__all__ = ["RISE", "FeatureAblation", "FeaturePermutation", "FeatureSpace", "Occlusion",
           "coalition_values"]


def _args(a) -> tuple:
    return () if a is None else (tuple(a) if isinstance(a, tuple) else (a,))


class FeatureSpace:
    """Features as groups of input elements: ``feature_mask`` gives per input an int tensor
    (broadcastable to the input, batch dim 1 or B) of feature ids 0..M-1, shared ids grouping
    elements across inputs. The default makes every element of every input its own feature."""

    def __init__(self, xs: tuple[Tensor, ...], feature_mask=None) -> None:
        batch = xs[0].shape[0]
        self.shapes = [tuple(x.shape[1:]) for x in xs]
        if feature_mask is None:
            masks, offset = [], 0
            for s in self.shapes:
                n = math.prod(s)
                masks.append(np.arange(offset, offset + n, dtype=np.int64).reshape(1, n))
                offset += n
        else:
            items = feature_mask if isinstance(feature_mask, (tuple, list)) else (feature_mask,)
            if len(items) != len(xs):
                raise ShapeError(f"feature_mask: got {len(items)} masks for {len(xs)} inputs")
            masks = []
            for i, (m, x) in enumerate(zip(items, xs)):
                a = m.detach().cpu().numpy() if isinstance(m, Tensor) else np.asarray(m)
                if a.dtype.kind not in "iu":
                    raise TypeError(f"feature_mask[{i}] must hold ints, got {a.dtype}")
                if a.ndim == x.ndim - 1:
                    a = a[None]
                try:
                    lead = a.shape[0] if a.shape[0] in (1, batch) else None
                    a = np.broadcast_to(a, (lead,) + self.shapes[i]) if lead else None
                except ValueError:
                    a = None
                if a is None:
                    raise ShapeError(f"feature_mask[{i}] has shape {tuple(m.shape)}; it must "
                                     f"broadcast to input {i}'s shape {tuple(x.shape)} with a "
                                     f"batch dim of 1 or {batch}")
                masks.append(np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.int64))
        self.masks = masks
        self.n_features = int(max(m.max() for m in masks)) + 1 if masks else 0
        if min(m.min() for m in masks) < 0:
            raise ShapeError("feature_mask: feature ids must be >= 0")

    def present(self, i: int, z: np.ndarray, ex: np.ndarray) -> np.ndarray:
        """For rows with coalitions ``z`` (R, M) of examples ``ex``: (R, D_i) 0/1 of input i."""
        mk = self.masks[i]
        mk = mk[ex] if mk.shape[0] > 1 else np.broadcast_to(mk, (len(ex), mk.shape[1]))
        return np.take_along_axis(z, mk, axis=1)

    def expand(self, phi: np.ndarray, like: tuple[Tensor, ...]) -> list[Tensor]:
        """Per-feature values (K, B, M) as per-input attributions (K, B, *input shape)."""
        k, b, _ = phi.shape
        out = []
        for mk, x, s in zip(self.masks, like, self.shapes):
            idx = np.broadcast_to(mk, (b, mk.shape[1]))
            vals = np.take_along_axis(phi, np.broadcast_to(idx, (k,) + idx.shape), axis=2)
            out.append(to_device(vals.reshape((k, b) + s), x))
        return out


def coalition_values(expl: Attribution, xs, fs: FeatureSpace, z: np.ndarray, base,
                     dist: bool, args: tuple, ts: TargetSet, cap: int) -> np.ndarray:
    """F with the features in each coalition (rows of ``z``, 1 = from the input) and the rest
    from the baselines: (K, n_coal, B) float64. With ``dist`` the rest comes from every row of
    the background ``base`` in turn and the values are averaged over it."""
    batch = xs[0].shape[0]
    n_coal = z.shape[0]
    m = base[0].shape[0] if dist else 1
    out = np.zeros((len(ts), n_coal * m, batch))
    for e0, e1, s0, s1 in blocks(batch, n_coal * m, cap):
        ex, st = block_rows(e0, e1, s0, s1)
        c, j = st // m, st % m
        rows_in = []
        for i, (x, b) in enumerate(zip(xs, base)):
            p = fs.present(i, z[c], ex)
            xr = take_rows(x, ex).reshape(len(ex), -1)
            br = take_rows(b, j if dist else ex).reshape(len(ex), -1)
            rows_in.append((br + to_device(p, x) * (xr - br)).reshape((len(ex),) + fs.shapes[i]))
        vals = expl.target_values(tuple(rows_in), expand_args(args, ex, batch), ts, ex)
        out[:, s0:s1, e0:e1] = fold(vals, s1 - s0, e1 - e0).cpu().numpy()
    return out.reshape(len(ts), n_coal, m, batch).mean(2)


class _Perturbation(Attribution):
    def _setup(self, inputs, target, targets, additional_forward_args):
        self.start()
        xs, is_tuple = as_tuple(inputs)
        batch = xs[0].shape[0]
        return xs, is_tuple, batch, TargetSet(target, batch, targets), _args(
            additional_forward_args)

    @staticmethod
    def _cap(xs, batch, perturbations_per_eval, n):
        if perturbations_per_eval is not None:
            if perturbations_per_eval < 1:
                raise ValueError(f"perturbations_per_eval must be >= 1, got "
                                 f"{perturbations_per_eval}")
            return int(perturbations_per_eval) * batch
        return default_rows(xs, batch, n, per_chunk=64)


class FeatureAblation(_Perturbation):
    """Each feature group replaced by the baseline alone: ``F(x) - F(x without it)``."""

    name = "feature_ablation"

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  feature_mask=None, perturbations_per_eval: int | None = None, *,
                  targets=None) -> Explanation:
        """Ablation attributions, constant within each feature group."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        bs = format_baselines(baselines, xs)
        fs = FeatureSpace(xs, feature_mask)
        m = fs.n_features
        z = np.ones((m + 1, m))
        z[np.arange(1, m + 1), np.arange(m)] = 0.0
        v = coalition_values(self, xs, fs, z, bs, False, args, ts,
                             self._cap(xs, batch, perturbations_per_eval, m + 1))
        phi = (v[:, :1, :] - v[:, 1:, :]).transpose(0, 2, 1)  # K, B, M
        return self.result(fs.expand(phi, xs), is_tuple, ts,
                           params={"perturbations_per_eval": perturbations_per_eval})


class Occlusion(_Perturbation):
    """Occlusion (Zeiler and Fergus 2014): a window slides over each input (``strides``); each
    element's attribution is the mean of ``F(x) - F(x with the window at the baseline)`` over
    the windows covering it (Captum's definition)."""

    name = "occlusion"

    def attribute(self, inputs, sliding_window_shapes, strides=None, baselines=None,
                  target=None, additional_forward_args=None,
                  perturbations_per_eval: int | None = None, *, targets=None) -> Explanation:
        """Occlusion attributions; ``sliding_window_shapes`` excludes the batch dim."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        bs = format_baselines(baselines, xs)
        shapes = sliding_window_shapes if is_tuple else (sliding_window_shapes,)
        strides = (strides if is_tuple else (strides,)) if strides is not None else \
            (1,) * len(xs)
        f_x = self.target_values(xs, args, ts, np.arange(batch)).cpu().numpy()
        out = []
        for i, x in enumerate(xs):
            s = tuple(x.shape[1:])
            win = tuple(shapes[i])
            st = strides[i] if isinstance(strides[i], tuple) else (strides[i],) * len(s)
            if len(win) != len(s) or len(st) != len(s) or any(w > n for w, n in zip(win, s)):
                raise ShapeError(f"occlusion: window {win} / strides {st} do not fit input "
                                 f"{i}'s shape {s} (one size per non-batch dim)")
            # Captum's windows: ceil((n - w) / t) + 1 starts per dim, the last one cut off
            # at the edge where the stride does not land on n - w
            starts = list(itertools.product(*[range(0, t * math.ceil((n - w) / t) + 1, t)
                                              for n, w, t in zip(s, win, st)]))
            acc = np.zeros((len(ts), batch, math.prod(s)))
            count = np.zeros(math.prod(s))
            cap = self._cap(xs, batch, perturbations_per_eval, len(starts))
            for e0, e1, s0, s1 in blocks(batch, len(starts), cap):
                ex, sm = block_rows(e0, e1, s0, s1)
                masks = np.zeros((s1 - s0,) + s)
                for k, pos in enumerate(starts[s0:s1]):
                    masks[(k,) + tuple(slice(p, p + w) for p, w in zip(pos, win))] = 1.0
                flat = masks.reshape(s1 - s0, -1)
                hole = to_device(flat[sm - s0].reshape((len(ex),) + s), x)
                rows_in = list(take_rows(t, ex) for t in xs)
                rows_in[i] = rows_in[i] + hole * (take_rows(bs[i], ex) - rows_in[i])
                vals = self.target_values(tuple(rows_in), expand_args(args, ex, batch), ts, ex)
                diff = f_x[:, e0:e1][:, None, :] - fold(vals, s1 - s0, e1 - e0).cpu().numpy()
                acc[:, e0:e1] += np.einsum("kwb,wd->kbd", diff, flat)
                if e0 == 0:
                    count += flat.sum(0)
            res = acc / np.maximum(count, 1.0)
            out.append(to_device(res.reshape((len(ts), batch) + s), x))
        return self.result(out, is_tuple, ts, params={
            "sliding_window_shapes": sliding_window_shapes, "strides": strides,
            "perturbations_per_eval": perturbations_per_eval})


class FeaturePermutation(_Perturbation):
    """Permutation importance per example: ``F(x) - F(x with the feature's values taken from
    another example of the batch)``, one random permutation of the batch per feature."""

    name = "feature_permutation"
    stochastic = True

    def attribute(self, inputs, target=None, additional_forward_args=None, feature_mask=None,
                  perturbations_per_eval: int | None = None, *, targets=None,
                  seed: int | None = None) -> Explanation:
        """Permutation attributions; the batch needs at least 2 examples."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        if batch < 2:
            raise ShapeError("feature_permutation: needs a batch of at least 2 examples to "
                             "permute features across")
        fs = FeatureSpace(xs, feature_mask)
        seed = new_seed(seed)
        rng = np.random.default_rng(seed)
        m = fs.n_features
        perms = np.stack([_permutation(rng, batch) for _ in range(m)])
        f_x = self.target_values(xs, args, ts, np.arange(batch)).cpu().numpy()
        phi = np.zeros((len(ts), batch, m))
        for e0, e1, s0, s1 in blocks(batch, m, self._cap(xs, batch, perturbations_per_eval, m)):
            ex, feat = block_rows(e0, e1, s0, s1)
            z = np.ones((len(ex), m))
            z[np.arange(len(ex)), feat] = 0.0
            rows_in = []
            for i, x in enumerate(xs):
                keep = to_device(fs.present(i, z, ex).reshape((len(ex),) + fs.shapes[i]), x)
                mine, other = take_rows(x, ex), take_rows(x, perms[feat, ex])
                rows_in.append(other + keep * (mine - other))
            vals = self.target_values(tuple(rows_in), expand_args(args, ex, batch), ts, ex)
            v = fold(vals, s1 - s0, e1 - e0).cpu().numpy()  # K, features, examples
            phi[:, e0:e1, s0:s1] = (f_x[:, e0:e1][:, None, :] - v).transpose(0, 2, 1)
        return self.result(fs.expand(phi, xs), is_tuple, ts, seed=seed,
                           params={"perturbations_per_eval": perturbations_per_eval},
                           extras={"permutations": perms})


def _permutation(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random permutation of ``range(n)`` other than the identity (Captum redraws it: the
    identity would leave the feature in place and give it exactly 0)."""
    while True:
        perm = rng.permutation(n)
        if not np.array_equal(perm, np.arange(n)):
            return perm


def rise_masks(n_masks: int, size: tuple[int, int], mask_cells: int, p: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RISE's random grids (n, s, s) and shifts (n, 2), drawn up front."""
    grids = (rng.random((n_masks, mask_cells, mask_cells)) < p).astype(np.float64)
    cell = (math.ceil(size[0] / mask_cells), math.ceil(size[1] / mask_cells))
    shifts = np.stack([rng.integers(0, cell[0], n_masks), rng.integers(0, cell[1], n_masks)], 1)
    return grids, shifts


def upsample_masks(grids: np.ndarray, shifts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of the grids to ``(s + 1) * cell`` and the shifted crop (n, H, W)."""
    n, s, _ = grids.shape
    cell = (math.ceil(size[0] / s), math.ceil(size[1] / s))
    big = ((s + 1) * cell[0], (s + 1) * cell[1])

    def weights(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = np.zeros((n_out, n_in))
        np.add.at(w, (np.arange(n_out), i0), 1 - (src - i0))
        np.add.at(w, (np.arange(n_out), i1), src - i0)
        return w

    up = weights(s, big[0]) @ grids @ weights(s, big[1]).T
    out = np.empty((n,) + tuple(size))
    for k in range(n):
        dy, dx = shifts[k]
        out[k] = up[k, dy:dy + size[0], dx:dx + size[1]]
    return out


class RISE(_Perturbation):
    """RISE (Petsiuk et al. 2018): ``sum_i F(x * M_i + x' * (1 - M_i)) M_i / (n p)`` over random
    smooth masks ``M_i`` (``mask_cells`` x ``mask_cells`` Bernoulli(p) grids, upsampled and
    shifted). For inputs (B, ..., H, W); the map is shared by the leading channels. ``stderr``
    is the standard error over the masks."""

    name = "rise"
    stochastic = True

    def attribute(self, inputs, target=None, baselines=None, additional_forward_args=None,
                  n_masks: int = 1000, mask_cells: int = 7, p: float = 0.5,
                  perturbations_per_eval: int | None = None, *, targets=None,
                  seed: int | None = None) -> Explanation:
        """RISE saliency of the target(s), shaped like the input."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        x = xs[0]
        if len(xs) != 1 or x.ndim < 3:
            raise ShapeError(f"rise: needs one input with spatial dims (B, ..., H, W), got "
                             f"{[tuple(t.shape) for t in xs]}")
        if not 0 < p <= 1:
            raise ValueError(f"rise: p must be in (0, 1], got {p}")
        b = format_baselines(baselines, xs)[0]
        size = tuple(x.shape[-2:])
        seed = new_seed(seed)
        grids, shifts = rise_masks(n_masks, size, mask_cells, p, np.random.default_rng(seed))
        lead = (1,) * (x.ndim - 3)  # channel-like dims the map is shared by
        moments = Moments(2)
        cap = self._cap(xs, batch, perturbations_per_eval, n_masks)
        for e0, e1, s0, s1 in blocks(batch, n_masks, cap):
            ex, st = block_rows(e0, e1, s0, s1)
            mk = upsample_masks(grids[s0:s1], shifts[s0:s1], size)
            m_rows = to_device(mk[st - s0].reshape((len(ex),) + lead + size), x)
            xr, br = take_rows(x, ex), take_rows(b, ex)
            vals = self.target_values((br + m_rows * (xr - br),), expand_args(args, ex, batch),
                                      ts, ex)
            terms = vals.reshape(vals.shape + (1,) * 2) * m_rows.reshape(
                (1, len(ex)) + size) / p
            moments.add(e0, fold(terms, s1 - s0, e1 - e0))
        sal = moments.mean()  # K, B, H, W
        err = moments.stderr_mean()
        shape = (len(ts), batch) + (1,) * (x.ndim - 3) + size
        full = (len(ts),) + tuple(x.shape)
        return self.result([sal.reshape(shape).expand(*full)], is_tuple, ts, seed=seed,
                           stderr=[err.reshape(shape).expand(*full)],
                           params={"n_masks": n_masks, "mask_cells": mask_cells, "p": p,
                                   "perturbations_per_eval": perturbations_per_eval})


def background_or_baselines(xs, baselines, background):
    """(base tensors, whether they are a background distribution)."""
    if background is not None:
        if baselines is not None:
            raise ValueError("give baselines= (one per example) or background= (a "
                             "distribution), not both")
        return format_distribution(background, xs, "background"), True
    return format_baselines(baselines, xs), False
