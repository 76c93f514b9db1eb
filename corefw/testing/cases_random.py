"""Cases for the random primitives: ranges, dtypes and moments of many samples.

Random results have no single expected value, so these cases ``check`` the result: every value
in range, the sample mean and spread within six standard errors of the distribution's, every
integer of a small range drawn, permutations complete. Reproducibility under
``corefw.manual_seed`` is a separate check of the kit (``seeding``).
"""

from __future__ import annotations

import math

import numpy as np

import corefw

from .cases import OpCase, Sample, register_case

_N = 20000


def _moments(x: np.ndarray, mean: float, std: float, what: str) -> None:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    se = std / math.sqrt(x.size)
    assert abs(x.mean() - mean) < 6 * se + 1e-3, (
        f"{what}: sample mean {x.mean():.5f} of {x.size} draws is not within 6 standard "
        f"errors of {mean}")
    assert abs(x.std() - std) < 0.05 * std + 1e-3, (
        f"{what}: sample std {x.std():.5f} is not close to {std}")


def _check_uniform(out, sample, dtype):
    low, high = sample.attrs["low"], sample.attrs["high"]
    bad = (out < low) | (out >= high)
    assert not bad.any(), (f"rand: {int(bad.sum())} of {out.size} {dtype} samples outside "
                           f"[{low}, {high}), e.g. {out[bad][:3].tolist()}")
    _moments(out, (low + high) / 2, (high - low) / math.sqrt(12), f"rand ({dtype})")


def _check_normal(out, sample, dtype):
    assert np.isfinite(out).all(), f"randn: non-finite {dtype} samples"
    _moments(out, sample.attrs["mean"], sample.attrs["std"], f"randn ({dtype})")


def _check_randint(out, sample, dtype):
    low, high = sample.attrs["low"], sample.attrs["high"]
    got = np.unique(out)
    assert got.min() >= low and got.max() < high, (
        f"randint: values {got.min()}..{got.max()} outside [{low}, {high})")
    assert len(got) == high - low, f"randint: drew only {got.tolist()} of [{low}, {high})"


def _check_randperm(out, sample, dtype):
    n = sample.attrs["n"]
    assert sorted(out.tolist()) == list(range(n)), f"randperm({n}) is not a permutation"
    assert out.tolist() != list(range(n)) or n < 3, f"randperm({n}) returned 0..{n - 1} in order"


def _sized(variant):
    return {"basic": (_N // 100, 100), "0-d": (), "empty": (0, 3)}[variant]


def _skip_small(check):
    """Moments only for the big sample; 0-d and empty results are checked for shape only."""
    def run(out, sample, dtype):
        if out.size >= 1000:
            check(out, sample, dtype)
    return run


register_case(OpCase(
    "uniform", lambda rng, variant, dtype, env: Sample((), {"size": _sized(variant),
                                                            "low": 0.0, "high": 1.0}),
    lambda size, low, high, device, dtype: corefw.rand(size, dtype=dtype, device=device),
    check=_skip_small(_check_uniform), variants=("basic", "0-d", "empty"), grad=(),
    needs=frozenset({"random"}), creation=True))
register_case(OpCase(
    "normal", lambda rng, variant, dtype, env: Sample((), {"size": _sized(variant),
                                                           "mean": 0.0, "std": 1.0}),
    lambda size, mean, std, device, dtype: corefw.randn(size, dtype=dtype, device=device),
    check=_skip_small(_check_normal), variants=("basic", "0-d", "empty"), grad=(),
    needs=frozenset({"random"}), creation=True))
register_case(OpCase(
    "randint", lambda rng, variant, dtype, env: Sample((), {
        "size": _sized(variant), "low": 0 if dtype == "uint8" else -3, "high": 5}),
    lambda size, low, high, device, dtype: corefw.randint(low, high, size, dtype=dtype,
                                                          device=device),
    check=_skip_small(_check_randint), kinds="i", variants=("basic", "0-d", "empty"),
    grad=(), needs=frozenset({"random"}), creation=True))
register_case(OpCase(
    "randperm", lambda rng, variant, dtype, env: Sample((), {"n": {"basic": 50, "empty": 0,
                                                                   "large": 100}[variant]}),
    lambda n, device, dtype: corefw.randperm(n, dtype=dtype, device=device),
    check=_check_randperm, kinds="i", variants=("basic", "empty", "large"), grad=(),
    needs=frozenset({"random"}), creation=True))
