"""Shapley-value methods: ShapleyValues (exact), ShapleyValueSampling, KernelShap, Lime.

The value of a coalition S of features is ``v(S) = F(x_S, x'_rest)`` with per-example
``baselines``, or ``E_b F(x_S, b_rest)`` over the rows of a ``background`` distribution
(interventional SHAP). Efficiency: ``sum(phi) = v(all) - v(none) = F(x) - E_b F(b)``; ``delta``
is the residual of that identity.
"""

from __future__ import annotations

import math

import numpy as np

from ._core import Explanation, to_device
from ._perturb import FeatureSpace, _Perturbation, background_or_baselines, coalition_values

__all__ = ["KernelShap", "Lime", "ShapleyValueSampling", "ShapleyValues"]


def _delta(phi: np.ndarray, full: np.ndarray, empty: np.ndarray, like) -> object:
    return to_device(phi.sum(2) - (full - empty), like)


class ShapleyValues(_Perturbation):
    """Exact Shapley values by enumerating all 2^M coalitions (M <= ``max_features``)."""

    name = "shapley_values"

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  feature_mask=None, perturbations_per_eval: int | None = None, *,
                  targets=None, background=None, max_features: int = 16) -> Explanation:
        """Exact Shapley attributions."""
        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        base, dist = background_or_baselines(xs, baselines, background)
        fs = FeatureSpace(xs, feature_mask)
        m = fs.n_features
        if m > max_features:
            raise ValueError(f"shapley_values: {m} features need 2^{m} model evaluations per "
                             f"example; group them with feature_mask, raise max_features, or "
                             f"use ShapleyValueSampling / KernelShap")
        codes = np.arange(1 << m)
        z = ((codes[:, None] >> np.arange(m)) & 1).astype(np.float64)
        v = coalition_values(self, xs, fs, z, base, dist, args, ts,
                             self._cap(xs, batch, perturbations_per_eval, 1 << m))
        size = z.sum(1).astype(int)
        w = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                      if s < m else 0.0 for s in range(m + 1)])
        phi = np.zeros((len(ts), batch, m))
        for i in range(m):
            without = codes[(codes >> i) & 1 == 0]
            gain = v[:, without | (1 << i), :] - v[:, without, :]  # K, S, B
            phi[:, :, i] = np.einsum("ksb,s->kb", gain, w[size[without]])
        delta = _delta(phi, v[:, -1, :], v[:, 0, :], xs[0])
        return self.result(fs.expand(phi, xs), is_tuple, ts, delta=delta,
                           params={"n_features": m, "background": dist})


class ShapleyValueSampling(_Perturbation):
    """Shapley values estimated from ``n_samples`` random feature orderings (Castro et al.
    2009), the same orderings for every example. Each ordering's marginal contributions sum
    exactly to ``v(all) - v(none)``; ``stderr`` is their standard error over the orderings
    (the error falls as 1/sqrt(n_samples))."""

    name = "shapley_value_sampling"
    stochastic = True

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  feature_mask=None, n_samples: int = 25,
                  perturbations_per_eval: int | None = None, show_progress: bool = False, *,
                  targets=None, background=None, seed: int | None = None) -> Explanation:
        """Sampled Shapley attributions."""
        from ._core import new_seed

        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        base, dist = background_or_baselines(xs, baselines, background)
        fs = FeatureSpace(xs, feature_mask)
        m = fs.n_features
        seed = new_seed(seed)
        rng = np.random.default_rng(seed)
        perms = np.stack([rng.permutation(m) for _ in range(n_samples)])
        # coalitions: none, all, and the M - 1 proper prefixes of every ordering
        z = [np.zeros(m), np.ones(m)]
        for perm in perms:
            cur = np.zeros(m)
            for f in perm[:-1]:
                cur = cur.copy()
                cur[f] = 1.0
                z.append(cur)
        z = np.stack(z)
        v = coalition_values(self, xs, fs, z, base, dist, args, ts,
                             self._cap(xs, batch, perturbations_per_eval, len(z)))
        gains = np.zeros((len(ts), batch, n_samples, m))
        for k, perm in enumerate(perms):
            idx = [0] + [2 + k * (m - 1) + j for j in range(m - 1)] + [1]
            vals = v[:, idx, :]  # K, M+1, B
            gains[:, :, k, perm] = np.diff(vals, axis=1).transpose(0, 2, 1)
        phi = gains.mean(2)
        se = gains.std(2, ddof=1) / math.sqrt(n_samples) if n_samples > 1 else \
            np.full_like(phi, np.nan)
        delta = _delta(phi, v[:, 1, :], v[:, 0, :], xs[0])
        return self.result(fs.expand(phi, xs), is_tuple, ts, delta=delta,
                           stderr=fs.expand(se, xs), seed=seed,
                           params={"n_samples": n_samples, "background": dist,
                                   "perturbations_per_eval": perturbations_per_eval})


def kernel_coalitions(m: int, n_samples: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(coalitions (n, m), weights (n,), exact): every proper non-empty coalition with its
    Shapley-kernel weight when there are at most ``n_samples`` of them, else ``n_samples``
    paired draws (a coalition and its complement) from the kernel distribution, weight 1."""
    if m <= 1:
        return np.zeros((0, m)), np.zeros(0), True
    if (1 << m) - 2 <= n_samples:
        codes = np.arange(1, (1 << m) - 1)
        z = ((codes[:, None] >> np.arange(m)) & 1).astype(np.float64)
        s = z.sum(1)
        w = (m - 1) / (np.array([math.comb(m, int(k)) for k in s]) * s * (m - s))
        return z, w, True
    sizes = np.arange(1, m)
    p = (m - 1) / (sizes * (m - sizes))
    p = p / p.sum()
    half = max(1, n_samples // 2)
    k = rng.choice(sizes, size=half, p=p)
    z = np.zeros((half, m))
    for r in range(half):
        z[r, rng.choice(m, size=k[r], replace=False)] = 1.0
    z = np.concatenate([z, 1.0 - z])
    return z, np.ones(len(z)), False


def constrained_wls(z: np.ndarray, w: np.ndarray, y: np.ndarray, total: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``min sum_r w_r (y_r - z_r . phi)^2`` subject to ``sum(phi) = total`` for many
    right-hand sides: y (n, R), total (R,) -> (phi (R, m), standard errors (R, m))."""
    n, m = z.shape
    if m == 1:
        return total[:, None].copy(), np.zeros((len(total), 1))
    a = z[:, :-1] - z[:, -1:]
    b = y - z[:, -1:] * total[None, :]
    sw = np.sqrt(w)[:, None]
    head, *_ = np.linalg.lstsq(a * sw, b * sw, rcond=None)  # (m-1, R)
    phi = np.concatenate([head, (total - head.sum(0))[None, :]], 0).T
    dof = n - (m - 1)
    if dof <= 0:
        return phi, np.full_like(phi, np.nan)
    resid = b - a @ head
    sigma2 = (w[:, None] * resid ** 2).sum(0) / dof  # (R,)
    cov = np.linalg.pinv((a * sw).T @ (a * sw))
    var_head = np.diag(cov)[None, :] * sigma2[:, None]
    var_last = cov.sum() * sigma2
    se = np.sqrt(np.concatenate([var_head, var_last[:, None]], 1).clip(min=0.0))
    return phi, se


class KernelShap(_Perturbation):
    """KernelSHAP (Lundberg and Lee 2017): the weighted linear regression of coalition values
    whose solution are the Shapley values, with the efficiency constraint imposed exactly.

    With ``2^M - 2 <= n_samples`` every coalition is used with its kernel weight and the result
    is the exact Shapley values; otherwise ``n_samples`` coalitions are drawn in complementary
    pairs from the kernel distribution. ``stderr`` comes from the regression.
    """

    name = "kernel_shap"
    stochastic = True

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  feature_mask=None, n_samples: int = 25,
                  perturbations_per_eval: int | None = None, return_input_shape: bool = True,
                  show_progress: bool = False, *, targets=None, background=None,
                  seed: int | None = None) -> Explanation:
        """KernelSHAP attributions."""
        from ._core import new_seed

        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        base, dist = background_or_baselines(xs, baselines, background)
        fs = FeatureSpace(xs, feature_mask)
        m = fs.n_features
        seed = new_seed(seed)
        zs, w, exact = kernel_coalitions(m, n_samples, np.random.default_rng(seed))
        z = np.concatenate([np.zeros((1, m)), np.ones((1, m)), zs])
        v = coalition_values(self, xs, fs, z, base, dist, args, ts,
                             self._cap(xs, batch, perturbations_per_eval, len(z)))
        k = len(ts)
        empty, full = v[:, 0, :], v[:, 1, :]
        y = (v[:, 2:, :] - empty[:, None, :]).transpose(1, 0, 2).reshape(len(zs), k * batch)
        phi, se = constrained_wls(zs, w, y, (full - empty).reshape(-1))
        phi = phi.reshape(k, batch, m)
        se = np.zeros_like(phi) if exact else se.reshape(k, batch, m)
        delta = _delta(phi, full, empty, xs[0])
        return self.result(fs.expand(phi, xs), is_tuple, ts, delta=delta,
                           stderr=fs.expand(se, xs), seed=seed,
                           params={"n_samples": n_samples, "exact": exact, "background": dist,
                                   "perturbations_per_eval": perturbations_per_eval})


def weighted_lasso(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float,
                   n_iter: int = 1000, tol: float = 1e-10) -> tuple[np.ndarray, float]:
    """scikit-learn's Lasso with sample weights, by coordinate descent:
    ``min (1 / (2 sum w)) sum w (y - x b - c)^2 + alpha |b|_1`` -> (b, c)."""
    w = w / w.sum()
    xm, ym = w @ x, w @ y
    xc, yc = x - xm, y - ym
    col = (w[:, None] * xc * xc).sum(0)
    b = np.zeros(x.shape[1])
    r = yc.copy()
    for _ in range(n_iter):
        biggest = 0.0
        for j in range(x.shape[1]):
            if col[j] == 0:
                continue
            old = b[j]
            rho = (w * xc[:, j]) @ r + col[j] * old
            b[j] = np.sign(rho) * max(abs(rho) - alpha, 0.0) / col[j]
            if b[j] != old:
                r -= xc[:, j] * (b[j] - old)
                biggest = max(biggest, abs(b[j] - old))
        if biggest < tol:
            break
    return b, float(ym - xm @ b)


class Lime(_Perturbation):
    """LIME (Ribeiro et al. 2016), Captum's defaults: ``n_samples`` random coalitions (each
    feature kept with probability 1/2), weighted by ``exp(-d^2 / (2 width^2))`` with ``d`` the
    cosine distance between the perturbed and original input, fitted by a weighted Lasso
    (``alpha=0.01``; ``interpretable_model="ridge"`` or ``"linear"`` for the closed forms).
    The coefficients are the attributions."""

    name = "lime"
    stochastic = True

    def __init__(self, model, interpretable_model: str = "lasso", alpha: float = 0.01,
                 kernel_width: float = 1.0, distance_mode: str = "cosine") -> None:
        super().__init__(model)
        if interpretable_model not in ("lasso", "ridge", "linear"):
            raise ValueError(f"lime: interpretable_model must be 'lasso', 'ridge' or "
                             f"'linear', got {interpretable_model!r}")
        if distance_mode not in ("cosine", "euclidean"):
            raise ValueError(f"lime: distance_mode must be 'cosine' or 'euclidean', got "
                             f"{distance_mode!r}")
        self.interpretable_model, self.alpha = interpretable_model, float(alpha)
        self.kernel_width, self.distance_mode = float(kernel_width), distance_mode

    def attribute(self, inputs, target=None, additional_forward_args=None, feature_mask=None,
                  n_samples: int = 50, perturbations_per_eval: int | None = None,
                  return_input_shape: bool = True, show_progress: bool = False, *,
                  baselines=None, targets=None, seed: int | None = None) -> Explanation:
        """LIME attributions (the surrogate's coefficients per feature)."""
        from ._core import new_seed

        xs, is_tuple, batch, ts, args = self._setup(inputs, target, targets,
                                                    additional_forward_args)
        base, _ = background_or_baselines(xs, baselines, None)
        fs = FeatureSpace(xs, feature_mask)
        m = fs.n_features
        seed = new_seed(seed)
        z = (np.random.default_rng(seed).random((n_samples, m)) < 0.5).astype(np.float64)
        v = coalition_values(self, xs, fs, z, base, False, args, ts,
                             self._cap(xs, batch, perturbations_per_eval, n_samples))
        weights = self._similarity(xs, base, fs, z)  # (n, B)
        phi = np.zeros((len(ts), batch, m))
        for e in range(batch):
            for k in range(len(ts)):
                phi[k, e] = self._fit(z, v[k, :, e], weights[:, e])
        return self.result(fs.expand(phi, xs), is_tuple, ts, seed=seed,
                           params={"n_samples": n_samples, "alpha": self.alpha,
                                   "interpretable_model": self.interpretable_model,
                                   "kernel_width": self.kernel_width,
                                   "perturbations_per_eval": perturbations_per_eval})

    def _similarity(self, xs, base, fs, z) -> np.ndarray:
        batch = xs[0].shape[0]
        out = np.zeros((len(z), batch))
        for e in range(batch):
            ex = np.full(len(z), e)
            orig, pert = [], []
            for i, (x, b) in enumerate(zip(xs, base)):
                xe = x[e].detach().cpu().numpy().astype(np.float64).ravel()
                be = b[e].detach().cpu().numpy().astype(np.float64).ravel()
                orig.append(np.broadcast_to(xe, (len(z), xe.size)))
                pert.append(be + fs.present(i, z, ex) * (xe - be))
            o, p = np.concatenate(orig, 1), np.concatenate(pert, 1)
            if self.distance_mode == "cosine":
                den = np.linalg.norm(o, axis=1) * np.linalg.norm(p, axis=1)
                cos = np.where(den > 0, (o * p).sum(1) / np.where(den > 0, den, 1.0), 0.0)
                d = 1.0 - cos
            else:
                d = np.linalg.norm(o - p, axis=1)
            out[:, e] = np.exp(-d * d / (2 * self.kernel_width ** 2))
        return out

    def _fit(self, z, y, w) -> np.ndarray:
        if self.interpretable_model == "lasso":
            return weighted_lasso(z, y, w, self.alpha)[0]
        wn = w / w.sum()
        zm, ym = wn @ z, wn @ y
        zc, yc = z - zm, y - ym
        reg = self.alpha if self.interpretable_model == "ridge" else 0.0
        a = (zc * wn[:, None]).T @ zc + reg * np.eye(z.shape[1])
        return np.linalg.lstsq(a, (zc * wn[:, None]).T @ yc, rcond=None)[0]
