"""Helpers shared by the conv, pool and norm layer tests: float64 tensors and host arrays.
(Double backward of the functions is checked by the op table: corefw.testing.table.)"""

from __future__ import annotations

import numpy as np

import corefw


def t64(a, requires_grad=False, device=None):
    return corefw.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                         device=device)


def npy(t):
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)
