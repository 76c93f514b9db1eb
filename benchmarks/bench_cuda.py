"""corefw on ``cuda`` (corefw-cuda, CuPy) against raw CuPy, the cpu backend and PyTorch on the
same GPU, measured in one run. Needs a GPU; elsewhere it prints why and exits 0.

    python benchmarks/bench_cuda.py [--quick]

Three tables (Markdown, for docs/performance.md with the card's name printed first):

1. per-op overhead: (16, 16) float32 ops, microseconds per call, corefw vs raw cupy (and
   torch): launch-bound, so this is the Python cost corefw adds per op;
2. matmul throughput, float32 and float16, corefw vs raw cupy (the target is within 5%);
3. the demo CNN's training step (forward, cross_entropy, backward, Adam) at batch 256:
   corefw cuda vs corefw cpu vs PyTorch cuda.
"""

from __future__ import annotations

import argparse
import sys
import time

import corefw_cuda
import numpy as np

import corefw as cf

try:  # a comparison only; never a dependency
    import torch
except ImportError:  # pragma: no cover
    torch = None


def _sync() -> None:
    corefw_cuda.synchronize()


def gpu_us(fn, number: int, repeat: int = 5) -> float:
    """Best of ``repeat`` runs of ``number`` calls (synchronized at both ends), us per call."""
    fn()
    _sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        _sync()
        best = min(best, time.perf_counter() - t0)
    return best / number * 1e6


def per_op(cp, number: int) -> list[tuple[str, float, float, float | None]]:
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((2, 16, 16), dtype=np.float32)
    ca, cb = cp.asarray(a_np), cp.asarray(b_np)
    a, b = cf.tensor(a_np, device="cuda"), cf.tensor(b_np, device="cuda")
    cases = {
        "add": (lambda: ca + cb, lambda: a + b),
        "mul": (lambda: ca * cb, lambda: a * b),
        "matmul": (lambda: ca @ cb, lambda: a @ b),
        "sum": (lambda: ca.sum(), lambda: a.sum()),
        "relu": (lambda: cp.maximum(ca, 0), lambda: a.relu()),
        "exp": (lambda: cp.exp(ca), lambda: a.exp()),
        "softmax": (lambda: cp.exp(ca - ca.max(1, keepdims=True)),
                    lambda: cf.softmax(a, 1)),
    }
    tcases = {}
    if torch is not None and torch.cuda.is_available():
        ta, tb = torch.from_numpy(a_np).cuda(), torch.from_numpy(b_np).cuda()
        tcases = {"add": lambda: ta + tb, "mul": lambda: ta * tb, "matmul": lambda: ta @ tb,
                  "sum": lambda: ta.sum(), "relu": lambda: ta.relu(), "exp": lambda: ta.exp(),
                  "softmax": lambda: ta.softmax(1)}
    rows = []
    for name, (raw, mine) in cases.items():
        t = tcases.get(name)
        rows.append((name, gpu_us(raw, number), gpu_us(mine, number),
                     gpu_us(t, number) if t else None))
    return rows


def matmul(cp, n: int, number: int) -> list[tuple[str, float, float, float | None]]:
    rows = []
    for dtype in ("float32", "float16"):
        rng = np.random.default_rng(0)
        a_np, b_np = rng.standard_normal((2, n, n)).astype(dtype)
        ca, cb = cp.asarray(a_np), cp.asarray(b_np)
        a, b = cf.tensor(a_np, device="cuda"), cf.tensor(b_np, device="cuda")
        raw = gpu_us(lambda ca=ca, cb=cb: ca @ cb, number)
        mine = gpu_us(lambda a=a, b=b: a @ b, number)
        tt = None
        if torch is not None and torch.cuda.is_available():
            ta, tb = torch.from_numpy(a_np).cuda(), torch.from_numpy(b_np).cuda()
            tt = gpu_us(lambda ta=ta, tb=tb: ta @ tb, number)
        rows.append((dtype, raw, mine, tt))
    return rows


def cnn_step(batch: int, steps: int) -> dict[str, float]:
    """Milliseconds per training step of the demo CNN on 1x8x8 inputs."""
    from corefw.demo import build_model

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 1, 8, 8), dtype=np.float32)
    y_np = rng.integers(0, 10, batch)
    out = {}
    for dev in ("cuda", "cpu"):
        cf.manual_seed(0)
        model = build_model("cnn").to(dev)
        opt = cf.optim.Adam(model.parameters(), lr=1e-3)
        x, y = cf.tensor(x_np, device=dev), cf.tensor(y_np, device=dev)

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad()
            cf.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        out[f"corefw {dev}"] = gpu_us(step, steps if dev == "cuda" else max(2, steps // 10),
                                      repeat=3) / 1e3
    if torch is not None and torch.cuda.is_available():
        nn = torch.nn
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(32 * 4 * 4, 10)).cuda()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.from_numpy(x_np).cuda(), torch.from_numpy(y_np).cuda()

        def tstep():
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        tstep()
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(steps):
                tstep()
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        out["torch cuda"] = best / steps * 1e3
    return out


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    args = parser.parse_args()
    if not corefw_cuda.is_available():
        print(f"bench_cuda: cuda unavailable: {corefw_cuda.unavailable_reason()}")
        return 0
    import cupy as cp

    number = 200 if args.quick else 2000
    print(f"device: {corefw_cuda.device_name()}, cupy {cp.__version__}, torch "
          f"{torch.__version__ if torch is not None else '-'}, Python {sys.version.split()[0]}\n")

    print("Per-op cost on (16, 16) float32 (launch-bound), microseconds per call\n")
    print("| op | cupy | corefw | torch | corefw - cupy |")
    print("|---|---|---|---|---|")
    for name, raw, mine, tt in per_op(cp, number):
        print(f"| {name} | {raw:.2f} | {mine:.2f} | {_fmt(tt)} | {mine - raw:+.2f} |")

    n = 2048 if args.quick else 8192
    print(f"\nMatmul {n}x{n}x{n}, milliseconds per product and TFLOP/s\n")
    print("| dtype | cupy ms | corefw ms | torch ms | corefw TFLOP/s | corefw/cupy |")
    print("|---|---|---|---|---|---|")
    for dtype, raw, mine, tt in matmul(cp, n, 5 if args.quick else 20):
        tflops = 2 * n ** 3 / (mine * 1e-6) / 1e12
        print(f"| {dtype} | {raw / 1e3:.3f} | {mine / 1e3:.3f} | "
              f"{_fmt(None if tt is None else tt / 1e3, 3)} | {tflops:.1f} | {mine / raw:.3f} |")

    print("\nDemo CNN training step (forward, cross_entropy, backward, Adam), batch 256, ms\n")
    times = cnn_step(256, 10 if args.quick else 50)
    print("| " + " | ".join(times) + " |")
    print("|" + "---|" * len(times))
    print("| " + " | ".join(f"{v:.2f}" for v in times.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
