"""Training-step time (forward, backward, SGD update) of corefw on cpu, side by side with
PyTorch CPU (when ``import torch`` works; a comparison only, never a dependency) and a
hand-written NumPy step for the MLPs, measured in one run:

* ``mlp``: Linear 784-512-ReLU-256-ReLU-10 at batch 64 and 256;
* ``cnn``: conv(1->16, 3x3, pad 1)-ReLU-maxpool 2-conv(16->32, 3x3, pad 1)-ReLU-maxpool 2-
  flatten-linear(1568->10) at batch 64 and 256, on random 28x28 inputs;
* ``digits``: Linear 64-128-ReLU-10 at batch 32 (the size of the bundled digits data set);

each with ``F.cross_entropy`` and ``optim.SGD(lr=0.01)``. The corefw and PyTorch models start
from the same weights. The implementations are timed in interleaved rounds (each round runs a
block of steps of every implementation in turn) and each keeps its best round, so a busy
machine slows all of them alike; the ratios are the result to read.

    python benchmarks/bench_train.py [--rounds 15] [--only mlp,cnn,digits] [--profile CASE]

``--profile CASE`` (e.g. ``mlp-64``) prints cProfile's top functions and the time per op
(kernel calls through the cpu device's table) for corefw's step instead of the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import corefw
import corefw.nn.functional as F
from corefw import nn

try:  # a comparison only; never a dependency
    import torch
except ImportError:  # pragma: no cover
    torch = None

LR = 0.01
CASES = {  # name -> (model kind, batch)
    "mlp-64": ("mlp", 64), "mlp-256": ("mlp", 256), "cnn-64": ("cnn", 64),
    "cnn-256": ("cnn", 256), "digits-32": ("digits", 32),
}
LABELS = {
    "mlp": "MLP 784-512-256-10", "cnn": "CNN conv16-conv32-linear", "digits": "MLP 64-128-10",
}


# ---- models ---------------------------------------------------------------------------------
def _layers(lib, kind: str) -> list:
    if kind == "mlp":
        return [lib.Linear(784, 512), lib.ReLU(), lib.Linear(512, 256), lib.ReLU(),
                lib.Linear(256, 10)]
    if kind == "digits":
        return [lib.Linear(64, 128), lib.ReLU(), lib.Linear(128, 10)]
    return [lib.Conv2d(1, 16, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
            lib.Conv2d(16, 32, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2), lib.Flatten(),
            lib.Linear(1568, 10)]


def make_data(kind: str, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = {"mlp": (batch, 784), "digits": (batch, 64), "cnn": (batch, 1, 28, 28)}[kind]
    return rng.standard_normal(shape, dtype=np.float32), rng.integers(0, 10, batch)


def corefw_step(kind: str, x: np.ndarray, y: np.ndarray):
    """``(step, params)``: one training step of a fresh corefw model, and its parameters as
    NumPy arrays (shared with the model, in ``model.parameters()`` order)."""
    corefw.manual_seed(0)
    model = nn.Sequential(*_layers(nn, kind))
    opt = corefw.optim.SGD(model.parameters(), lr=LR)
    xt, yt = corefw.from_numpy(x), corefw.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step, [p.detach().numpy() for p in model.parameters()]


def torch_step(kind: str, x: np.ndarray, y: np.ndarray, params: list[np.ndarray]):
    """PyTorch's step for the same model, starting from copies of ``params``."""
    model = torch.nn.Sequential(*_layers(torch.nn, kind))
    with torch.no_grad():
        for p, w in zip(model.parameters(), params, strict=True):
            p.copy_(torch.from_numpy(w.copy()))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


def numpy_step(kind: str, x: np.ndarray, y: np.ndarray, params: list[np.ndarray]):
    """A hand-written NumPy step of an MLP (Linear/ReLU layers), from copies of ``params``."""
    ws = [w.copy() for w in params[0::2]]
    bs = [b.copy() for b in params[1::2]]
    n = x.shape[0]
    rows = np.arange(n)

    def step():
        acts = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = acts[-1] @ w.T
            z += b
            if i < len(ws) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        z = acts.pop()
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        loss = -np.log(z[rows, y]).mean()
        z[rows, y] -= 1
        g = z
        g *= 1.0 / n
        for i in range(len(ws) - 1, -1, -1):
            a = acts[i]
            gw = g.T @ a
            gb = g.sum(axis=0)
            if i:
                g = g @ ws[i]
                g *= a > 0
            ws[i] -= LR * gw
            bs[i] -= LR * gb
        return loss

    return step


def tune_malloc() -> bool:
    """glibc only: serve arrays below 64 MiB from the heap and keep up to 512 MiB of it, so
    freed multi-megabyte arrays are reused instead of being unmapped and faulted in again
    (this changes the whole process: PyTorch's and NumPy's allocations too)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 64 << 20)
                    and libc.mallopt(m_trim_threshold, 512 << 20))
    except (OSError, AttributeError):
        return False


def set_threads(n: int) -> None:
    """Limit BLAS (through threadpoolctl, when installed), PyTorch and corefw's cpu kernels to
    ``n`` threads: on a machine shared with other jobs, one thread each gives steadier ratios."""
    os.environ["COREFW_CPU_THREADS"] = str(n)  # read on the first parallel kernel call
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        print("(threadpoolctl is not installed: BLAS keeps its default thread count)")
    if torch is not None:
        torch.set_num_threads(n)


# ---- timing ---------------------------------------------------------------------------------
CLOCK = [time.perf_counter]


def _block(step, k: int) -> float:
    clock = CLOCK[0]
    t0 = clock()
    for _ in range(k):
        step()
    return (clock() - t0) / k


def time_interleaved(steps: dict, rounds: int, budget: float = 0.005) -> dict[str, float]:
    """Seconds per step of each ``steps[name]``: best over ``rounds`` rounds, each round one
    block of every implementation in turn (blocks last about ``budget`` seconds)."""
    ks = {}
    for name, step in steps.items():
        for _ in range(3):  # warm-up: allocator, caches, lazy imports
            step()
        one = _block(step, 1)
        ks[name] = max(1, min(200, int(budget / max(one, 1e-7))))
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            best[name] = min(best[name], _block(step, ks[name]))
    return best


def check_same_start(kind: str, batch: int) -> float:
    """Largest |loss difference| over three steps of corefw and PyTorch from equal weights."""
    x, y = make_data(kind, batch, seed=1)
    step, params = corefw_step(kind, x, y)
    tstep = torch_step(kind, x, y, params)
    return max(abs(float(step().item()) - float(tstep().item())) for _ in range(3))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    parts = [f"{cpu}, {cores} cores{load}", f"Python {platform.python_version()}",
             f"NumPy {np.__version__}"]
    if torch is not None:
        parts.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)")
    return "; ".join(parts)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def run_table(cases: list[str], rounds: int, settings: str = "") -> None:
    print(f"Machine: {machine()}{settings}\n")
    print("| model | batch | corefw | PyTorch | NumPy (by hand) | corefw / PyTorch "
          "| corefw / NumPy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        kind, batch = CASES[case]
        x, y = make_data(kind, batch)
        step, params = corefw_step(kind, x, y)
        steps = {"corefw": step}
        if torch is not None:
            steps["torch"] = torch_step(kind, x, y, params)
        if kind != "cnn":
            steps["numpy"] = numpy_step(kind, x, y, params)
        best = time_interleaved(steps, rounds)
        c, t, n = best["corefw"], best.get("torch"), best.get("numpy")
        print(f"| {LABELS[kind]} | {batch} | {_fmt(c)} | {_fmt(t)} | {_fmt(n)} "
              f"| {_ratio(c, t)} | {_ratio(c, n)} |", flush=True)
    if torch is not None:
        diffs = {case: check_same_start(*CASES[case]) for case in cases}
        print("\nLargest |loss(corefw) - loss(PyTorch)| over 3 steps from equal weights: "
              + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))


# ---- profiling ------------------------------------------------------------------------------
def profile(case: str, steps: int = 200, rounds: int = 10) -> None:
    """cProfile's top functions over ``steps`` steps, then the time per kernel (op name):
    each op's best total over ``rounds`` rounds of ``steps // rounds`` steps, per step."""
    import cProfile
    import pstats

    kind, batch = CASES[case]
    x, y = make_data(kind, batch)
    step, _ = corefw_step(kind, x, y)
    for _ in range(5):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)

    table = corefw.zeros(1)._dev.table
    saved = dict(table)
    now: dict[str, list] = {}

    def timed(name, fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            rec = now.setdefault(name, [0, 0.0])
            rec[0] += 1
            rec[1] += time.perf_counter() - t0
            return out
        return run

    for name, fn in saved.items():
        table[name] = timed(name, fn)
    per = max(1, steps // rounds)
    best: dict[str, list] = {}
    wall = float("inf")
    try:
        for _ in range(rounds):
            now.clear()
            t0 = time.perf_counter()
            for _ in range(per):
                step()
            wall = min(wall, (time.perf_counter() - t0) / per)
            for name, (count, total) in now.items():
                rec = best.setdefault(name, [count, total])
                rec[1] = min(rec[1], total)
    finally:
        table.update(saved)
    print(f"\n{case}: {wall * 1e6:.0f} µs per step (best round); kernels per step:")
    kern = 0.0
    for name, (count, total) in sorted(best.items(), key=lambda kv: -kv[1][1]):
        kern += total / per
        print(f"  {name:<28}{count / per:6.1f} calls {total / per * 1e6:9.1f} µs")
    print(f"  {'kernels total':<34}{kern * 1e6:15.1f} µs; the rest ({(wall - kern) * 1e6:.0f}"
          f" µs) is Python around them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for BLAS, PyTorch and corefw's cpu kernels (default: all)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (with --threads 1, steadier than "
                             "wall time on a machine shared with other jobs)")
    parser.add_argument("--tune-malloc", action="store_true",
                        help="raise glibc's mmap and trim thresholds first (see tune_malloc)")
    parser.add_argument("--only", default="", help="comma-separated cases or model kinds")
    parser.add_argument("--profile", default="", help="profile one case, e.g. mlp-64")
    args = parser.parse_args()
    if args.threads:
        set_threads(args.threads)
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    if args.tune_malloc and not tune_malloc():
        print("(mallopt unavailable: not glibc)")
    if args.profile:
        profile(args.profile)
        return
    wanted = [w for w in args.only.split(",") if w]
    cases = [c for c in CASES if not wanted or c in wanted or CASES[c][0] in wanted]
    settings = (f"; {args.threads} thread(s) each" if args.threads else "") + (
        "; malloc tuned" if args.tune_malloc else "") + (
        "; CPU time" if args.clock == "cpu" else "")
    run_table(cases, args.rounds, settings)


if __name__ == "__main__":
    main()
