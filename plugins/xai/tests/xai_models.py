"""Models and helpers shared by the corefw-xai tests, each model with an independent float64
numpy twin (a module of its own: ``from conftest import`` breaks when several conftest.py files
are collected in one run)."""

from __future__ import annotations

import os

import numpy as np

import corefw

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

def T(a, dtype=corefw.float64, requires_grad=False, device=None):
    """A float64 corefw tensor on ``device`` from array-like ``a``."""
    return corefw.tensor(np.asarray(a, dtype=np.float64), dtype=dtype,
                         requires_grad=requires_grad, device=device)


def N(t):
    """A tensor (or Explanation's attributions) as a float64 numpy array."""
    t = getattr(t, "attributions", t)
    return t.detach().cpu().numpy().astype(np.float64)


class MLP:
    """``F(x) = relu(relu(x W1 + b1) W2 + b2) W3 + b3`` as corefw code and as numpy."""

    def __init__(self, sizes=(5, 7, 6, 3), bias=True, seed=0, act="relu", device=None) -> None:
        rng = np.random.default_rng(seed)
        self.W = [rng.normal(size=(a, b)) / np.sqrt(a) for a, b in zip(sizes, sizes[1:])]
        self.b = [rng.normal(size=b) * 0.3 if bias else np.zeros(b) for b in sizes[1:]]
        self.bias = bias
        self.act = act
        self.tW = [T(w, device=device) for w in self.W]
        self.tb = [T(b, device=device) for b in self.b]

    def _act(self, h):
        return {"relu": h.relu, "tanh": h.tanh, "sigmoid": h.sigmoid}[self.act]()

    def __call__(self, x):
        h = x
        for i, (w, b) in enumerate(zip(self.tW, self.tb)):
            h = h @ w + b if self.bias else h @ w
            if i < len(self.W) - 1:
                h = self._act(h)
        return h

    def np_act(self, z):
        return {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[self.act](z)

    def np_dact(self, z):
        if self.act == "relu":
            return (z > 0).astype(float)
        if self.act == "tanh":
            return 1 - np.tanh(z) ** 2
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)

    def np_forward(self, x):
        """(output, pre-activations, activations)."""
        zs, hs = [], [x]
        h = x
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            z = h @ w + b
            zs.append(z)
            h = self.np_act(z) if i < len(self.W) - 1 else z
            hs.append(h)
        return h, zs, hs

    def np_grad(self, x, k):
        """dF_k/dx for every row of x (float64, by hand)."""
        _, zs, _ = self.np_forward(x)
        g = np.zeros((x.shape[0], self.W[-1].shape[1]))
        g[:, k] = 1.0
        for i in range(len(self.W) - 1, -1, -1):
            g = g @ self.W[i].T
            if i > 0:
                g = g * self.np_dact(zs[i - 1])
        return g


class Linear:
    """``F(x) = x w + b`` (one output) with its numpy weights."""

    def __init__(self, d=6, seed=1, outputs=1, device=None) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.normal(size=(d, outputs))
        self.b = rng.normal(size=outputs)
        self.tw, self.tb = T(self.w, device=device), T(self.b, device=device)

    def __call__(self, x):
        return x.reshape(x.shape[0], -1) @ self.tw + self.tb


def build_digits_cnn():
    """The demo CNN architecture (see fixtures/train_digits_cnn.py)."""
    nn = corefw.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10))
