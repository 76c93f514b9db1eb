"""Conformance-kit cases for ``rms_norm`` (entry point group ``corefw.conformance``).

The kit imports this module and then checks ``rms_norm`` on whatever backend it tests,
forward against this float64 NumPy reference and backward against finite differences.
"""

from __future__ import annotations

import numpy as np

from corefw.plugins import call_op
from corefw.testing import OpCase, Sample, register_case, values


def reference(x, weight, eps):
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * np.asarray(weight, np.float64)


_SHAPES = {"basic": (3, 4), "3d": (2, 3, 5), "empty": (0, 4), "noncontig": (5, 4),
           "large": (256, 512)}


def _make(rng, variant, dtype, env):
    shape = _SHAPES[variant]
    return Sample((values(rng, shape, dtype), values(rng, shape[-1:], dtype, "pos")),
                  {"eps": 1e-6}, grad=(0, 1))


register_case(OpCase("rms_norm", _make, lambda x, w, eps: call_op("rms_norm", x, w, eps=eps),
                     reference, variants=tuple(_SHAPES), tol=2.0))
