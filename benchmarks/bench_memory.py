"""Peak memory of one training step: what the autograd graph keeps alive.

    python benchmarks/bench_memory.py

Measures with :mod:`tracemalloc` (NumPy reports its array allocations to it), so the figures
are exact and independent of machine load: the peak of traced memory during forward + backward
of an MLP training step, above what the model, optimizer state and batch hold before it. Run it
on two versions of corefw to compare (docs/performance.md records before/after Core 2.0's
"save only what the VJP reads").
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import corefw
import corefw.nn.functional as F
from corefw import nn

CASES = {  # name: (layer sizes, activation, batch)
    "MLP 784-512-256-10, ReLU, batch 64": ((784, 512, 256, 10), nn.ReLU, 64),
    "MLP 784-1024-1024-10, GELU, batch 128": ((784, 1024, 1024, 10), nn.GELU, 128),
    "MLP 64-128-10, Tanh, batch 32": ((64, 128, 10), nn.Tanh, 32),
    "MLP 256 x 8 layers, ReLU, batch 1024": ((256,) * 9 + (10,), nn.ReLU, 1024),
}


def _model(sizes, act):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def step_peak(sizes, act, batch) -> tuple[float, float]:
    """(peak MiB during forward+backward above the baseline, graph MiB held after forward)."""
    corefw.manual_seed(0)
    model = _model(sizes, act)
    opt = corefw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = corefw.from_numpy(np.random.default_rng(0).standard_normal(
        (batch, sizes[0])).astype(np.float32))
    y = corefw.from_numpy(np.random.default_rng(1).integers(0, sizes[-1], batch))
    for _ in range(2):  # warm up: grads and momentum buffers exist
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    loss = F.cross_entropy(model(x), y)
    held = tracemalloc.get_traced_memory()[0] - base
    loss.backward()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 2**20, held / 2**20


def main() -> None:
    print(f"corefw from {corefw.__file__}\n")
    print("| step | graph held after forward (MiB) | peak during forward+backward (MiB) |")
    print("|---|---|---|")
    for name, (sizes, act, batch) in CASES.items():
        peak, held = step_peak(sizes, act, batch)
        print(f"| {name} | {held:.2f} | {peak:.2f} |")


if __name__ == "__main__":
    main()
