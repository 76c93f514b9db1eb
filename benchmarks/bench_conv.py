"""Training-step benchmark of a small CNN at batch 64 (MNIST-sized input):

    conv(1->16, 3x3, pad 1) - ReLU - maxpool 2 - conv(16->32, 3x3, pad 1) - ReLU - maxpool 2
    - flatten - linear(1568 -> 10) - cross-entropy, backward, SGD step

timed for corefw, for a hand-written NumPy implementation of the same step (im2col with
``sliding_window_view`` and one GEMM per convolution, manual backward), and for PyTorch on the
CPU when ``import torch`` works. Prints a table of milliseconds per step and minor page faults
per step (fresh multi-megabyte arrays fault on every step unless the C allocator keeps them).

    python benchmarks/bench_conv.py [--steps 50] [--tune-malloc]

``--tune-malloc`` raises glibc's mmap and trim thresholds first (``mallopt``), so freed arrays
are reused instead of being returned to the kernel and faulted in again on the next step.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

BATCH = 64


def tune_malloc() -> bool:
    """glibc only: serve arrays below 64 MiB from the heap and keep up to 512 MiB of it."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 64 << 20)
                    and libc.mallopt(m_trim_threshold, 512 << 20))
    except (OSError, AttributeError):
        return False


def _timed(step, steps: int) -> tuple[float, float, float]:
    for _ in range(5):
        step()
    times = []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / steps
    return float(np.median(times)) * 1e3, float(np.min(times)) * 1e3, faults


# ---- corefw ---------------------------------------------------------------------------------
def corefw_step(x: np.ndarray, y: np.ndarray):
    import corefw
    import corefw.nn.functional as F
    from corefw import nn

    corefw.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 10))
    opt = corefw.optim.SGD(model.parameters(), lr=0.01)
    xt, yt = corefw.from_numpy(x), corefw.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    return step


# ---- hand-written NumPy -----------------------------------------------------------------------
def _im2col(x, k=3, p=1):
    """(N, C, H, W) -> (N*H*W, C*k*k) for a stride-1 'same' convolution."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # N C H W k k
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def _col2im(cols, shape, k=3, p=1):
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k)
    gx = np.zeros((n, c, h + 2 * p, w + 2 * p), cols.dtype)
    for i in range(k):
        for j in range(k):
            gx[:, :, i:i + h, j:j + w] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return gx[:, :, p:p + h, p:p + w]


def _conv(x, w, b):
    n, _, h, wd = x.shape
    cols = _im2col(x)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols


def _pool(x):
    """2x2 max pooling: (output, the four window taps)."""
    n, c, h, w = x.shape
    v = x.reshape(n, c, h // 2, 2, w // 2, 2)
    taps = [v[:, :, :, i, :, j] for i in (0, 1) for j in (0, 1)]
    return np.maximum(np.maximum(taps[0], taps[1]), np.maximum(taps[2], taps[3])), taps


def _pool_grad(out, taps, g):
    """Route each window's gradient to its first maximum."""
    n, c, ho, wo = out.shape
    gx = np.zeros((n, c, ho, 2, wo, 2), g.dtype)
    seen = np.zeros(out.shape, bool)
    for k, tap in enumerate(taps):
        hit = (tap == out) & ~seen
        seen |= hit
        gx[:, :, :, k // 2, :, k % 2] = g * hit
    return gx.reshape(n, c, 2 * ho, 2 * wo)


def numpy_step(x: np.ndarray, y: np.ndarray):
    rng = np.random.default_rng(0)
    w1 = rng.uniform(-1 / 3, 1 / 3, (16, 1, 3, 3)).astype(np.float32)
    b1 = np.zeros(16, np.float32)
    w2 = rng.uniform(-1 / 12, 1 / 12, (32, 16, 3, 3)).astype(np.float32)
    b2 = np.zeros(32, np.float32)
    wl = rng.uniform(-0.025, 0.025, (10, 1568)).astype(np.float32)
    bl = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2, wl, bl]

    def step():
        c1, cols1 = _conv(x, w1, b1)
        r1 = np.maximum(c1, 0)
        p1, m1 = _pool(r1)
        c2, cols2 = _conv(p1, w2, b2)
        r2 = np.maximum(c2, 0)
        p2, m2 = _pool(r2)
        f = p2.reshape(BATCH, -1)
        z = f @ wl.T + bl
        e = np.exp(z - z.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        gz = prob
        gz[np.arange(BATCH), y] -= 1
        gz /= BATCH
        gwl, gbl = gz.T @ f, gz.sum(0)
        gp2 = (gz @ wl).reshape(p2.shape)
        gc2 = _pool_grad(p2, m2, gp2) * (c2 > 0)
        g2 = gc2.transpose(0, 2, 3, 1).reshape(-1, 32)
        gw2, gb2 = (g2.T @ cols2).reshape(w2.shape), g2.sum(0)
        gp1 = _col2im(g2 @ w2.reshape(32, -1), p1.shape)
        gc1 = _pool_grad(p1, m1, gp1) * (c1 > 0)
        g1 = gc1.transpose(0, 2, 3, 1).reshape(-1, 16)
        gw1, gb1 = (g1.T @ cols1).reshape(w1.shape), g1.sum(0)
        for p, g in zip(params, (gw1, gb1, gw2, gb2, gwl, gbl)):
            p -= 0.01 * g

    return step


# ---- PyTorch ----------------------------------------------------------------------------------
def torch_step(x: np.ndarray, y: np.ndarray):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--tune-malloc", action="store_true")
    args = parser.parse_args()
    if args.tune_malloc and not tune_malloc():
        print("(mallopt unavailable: not glibc)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    rows = [("corefw", corefw_step), ("numpy (hand-written)", numpy_step)]
    try:
        import torch  # noqa: F401

        rows.append(("pytorch (cpu)", torch_step))
    except ImportError:
        pass
    print(f"CNN training step, batch {BATCH}, {args.steps} steps"
          f"{', malloc tuned' if args.tune_malloc else ''}")
    print(f"{'implementation':<22}{'median ms':>11}{'min ms':>9}{'faults/step':>13}")
    for name, make in rows:
        med, best, faults = _timed(make(x, y), args.steps)
        print(f"{name:<22}{med:>11.2f}{best:>9.2f}{faults:>13.0f}")


if __name__ == "__main__":
    main()
