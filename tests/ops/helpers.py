"""Helpers of the op behaviour tests: tensors in a given layout, comparison of results.
(The op case table and its float64 references live in :mod:`corefw.testing`.)"""

from __future__ import annotations

import numpy as np
from _tolerance import tol

import corefw

TOL = {corefw.float64: dict(rtol=1e-10, atol=1e-12), corefw.float32: dict(rtol=2e-5, atol=2e-6),
       corefw.float16: dict(rtol=2e-3, atol=2e-3)}


def sample(rng: np.random.Generator, shape, domain: str = "real") -> np.ndarray:
    """float64 values safe for an op: ``real`` in [-2, 2]; ``pos`` in [0.5, 2]; ``kink``
    away from 0 (abs, relu, sign ...); ``frac`` away from integers (floor, ceil);
    ``round`` away from half-integers; ``log1p`` in [-0.5, 2]; ``tan`` in [-1.2, 1.2]."""
    if domain == "real":
        return rng.uniform(-2, 2, shape)
    if domain == "pos":
        return rng.uniform(0.5, 2, shape)
    if domain == "kink":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2, shape)
    if domain == "frac":
        return rng.integers(-3, 3, shape) + rng.uniform(0.15, 0.85, shape)
    if domain == "round":
        return rng.integers(-3, 3, shape) + rng.uniform(-0.35, 0.35, shape)
    if domain == "log1p":
        return rng.uniform(-0.5, 2, shape)
    if domain == "tan":
        return rng.uniform(-1.2, 1.2, shape)
    raise ValueError(domain)


def make(data, dtype=corefw.float64, layout: str = "contig",
         requires_grad: bool = False, device=None) -> corefw.Tensor:
    """A tensor on ``device`` (default: the default device) with the values of ``data`` in a
    given memory layout: ``contig``; ``strided`` (every other element of a buffer twice as
    wide: a non-contiguous slice view); ``transposed`` (a permuted view of the transposed
    data)."""
    data = np.asarray(data, dtype=np.float64 if np.asarray(data).dtype.kind == "f" else None)
    if layout == "contig" or data.ndim == 0:
        t = corefw.tensor(data, dtype=dtype, device=device)
    elif layout == "strided":
        big = np.zeros(data.shape[:-1] + (2 * data.shape[-1],), dtype=data.dtype)
        big[..., ::2] = data
        t = corefw.tensor(big, dtype=dtype, device=device)[..., ::2]
    elif layout == "transposed":
        perm = tuple(reversed(range(data.ndim)))
        t = corefw.tensor(np.ascontiguousarray(data.transpose(perm)), dtype=dtype,
                          device=device).permute(perm)
    else:
        raise ValueError(layout)
    if requires_grad:
        t = t.detach().requires_grad_()
    return t


def npy(t) -> np.ndarray:
    """A tensor's values, read on the host, as float64 NumPy (bools and ints too)."""
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def check(out, expected, dtype=None, **tolerance) -> None:
    """``out`` (a tensor) has ``expected``'s shape and values within the dtype's tolerance
    (on ``out``'s device: :func:`_tolerance.tol`)."""
    expected = np.asarray(expected, dtype=np.float64)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    dtype = dtype or out.dtype
    kw = dict(TOL.get(dtype, dict(rtol=0, atol=0)))
    kw.update(tolerance)
    kw = tol(dtype, out.device, **kw) if kw["rtol"] or kw["atol"] else kw
    np.testing.assert_allclose(npy(out), expected, equal_nan=True, **kw)


def gradcheck(fn, *inputs, **kw) -> None:
    """corefw's finite-difference gradcheck; raises on a mismatch (never returns False)."""
    assert corefw.autograd.gradcheck(fn, inputs, **kw) is True


def leaf(rng, shape, domain="real", layout="contig", device=None):
    """A float64 leaf on ``device`` that requires grad, with values from :func:`sample`."""
    return make(sample(rng, shape, domain), corefw.float64, layout, requires_grad=True,
                device=device)
