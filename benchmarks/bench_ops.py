"""Per-op overhead and large-op throughput of corefw on cpu, side by side with raw NumPy and
(where installed) PyTorch CPU eager, measured in one run.

    python benchmarks/bench_ops.py [--quick]

Prints a Markdown table; docs/performance.md records the results with the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import timeit

import numpy as np

import corefw as cf

try:  # a comparison only; never a dependency
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
except ImportError:  # pragma: no cover
    torch = None


TIMER = [time.perf_counter]  # --cpu-time: time.process_time (robust on a loaded machine)


def best_us(fn, number: int, repeat: int = 7) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in microseconds per call."""
    timer = timeit.Timer(fn, timer=TIMER[0])
    return min(timer.repeat(number=number, repeat=repeat)) / number * 1e6


def interleaved_us(fns: dict, number: int, repeat: int = 7) -> dict:
    """``best_us`` of each function, the repeats taken in turn (corefw, torch, corefw, ...)
    so that a change in machine load hits every side alike. A function given as
    ``(fn, context)`` runs inside ``context()`` (torch's ``no_grad``)."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            fn, ctx = fn if isinstance(fn, tuple) else (fn, None)
            timer = timeit.Timer(fn, timer=TIMER[0])
            if ctx is None:
                t = timer.timeit(number)
            else:
                with ctx():
                    t = timer.timeit(number)
            best[name] = min(best[name], t / number * 1e6)
    return best


def small_ops(number: int) -> list[tuple[str, float, float, float | None, float | None]]:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((16, 16), dtype=np.float32)
    b_np = rng.standard_normal((16, 16), dtype=np.float32)
    a, b = cf.from_numpy(a_np.copy()), cf.from_numpy(b_np.copy())
    ag, bg = a.detach().requires_grad_(), b.detach().requires_grad_()
    cases = {
        "add": (lambda: a_np + b_np, lambda: a + b, lambda: ag + bg),
        "mul": (lambda: a_np * b_np, lambda: a * b, lambda: ag * bg),
        "matmul": (lambda: a_np @ b_np, lambda: a @ b, lambda: ag @ bg),
        "sum": (lambda: a_np.sum(), lambda: a.sum(), lambda: ag.sum()),
        "relu": (lambda: np.maximum(a_np, 0), lambda: a.relu(), lambda: ag.relu()),
        "exp": (lambda: np.exp(a_np), lambda: a.exp(), lambda: ag.exp()),
    }
    if torch is not None:
        ta, tb = torch.from_numpy(a_np.copy()), torch.from_numpy(b_np.copy())
        tag, tbg = ta.clone().requires_grad_(), tb.clone().requires_grad_()
        tcases = {
            "add": (lambda: ta + tb, lambda: tag + tbg),
            "mul": (lambda: ta * tb, lambda: tag * tbg),
            "matmul": (lambda: ta @ tb, lambda: tag @ tbg),
            "sum": (lambda: ta.sum(), lambda: tag.sum()),
            "relu": (lambda: ta.relu(), lambda: tag.relu()),
            "exp": (lambda: ta.exp(), lambda: tag.exp()),
        }
    rows = []
    for name, (raw, plain, grad) in cases.items():
        fns = {"raw": raw, "plain": plain, "grad": grad}
        if torch is not None:
            fns["torch"] = (tcases[name][0], torch.no_grad)
            fns["torch_grad"] = tcases[name][1]
        t = interleaved_us(fns, number)
        rows.append((name, t["raw"], t["plain"], t["grad"], t.get("torch"),
                     t.get("torch_grad")))
    return rows


GRAPHS = {  # forward + backward: one op, and the 6-op graph
    "(a + b).sum()": lambda a, b, c, d: (a + b).sum(),
    "(a @ b).sum()": lambda a, b, c, d: (a @ b).sum(),
    "exp(relu(a @ b + c) * d).sum()": lambda a, b, c, d: ((a @ b + c).relu() * d).exp().sum(),
}


def forward_backward(number: int) -> list[tuple[str, float, float | None]]:
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((16, 16), dtype=np.float32) for _ in range(4)]
    ours = [cf.from_numpy(x.copy()).requires_grad_() for x in arrays]
    theirs = [torch.from_numpy(x.copy()).requires_grad_() for x in arrays] if torch else None
    rows = []
    for name, graph in GRAPHS.items():
        fns = {"corefw": lambda graph=graph: graph(*ours).backward()}
        if theirs is not None:
            fns["torch"] = lambda graph=graph: graph(*theirs).backward()
        t = interleaved_us(fns, number)
        rows.append((name, t["corefw"], t.get("torch")))
    return rows


def large_ops(repeat: int) -> list[tuple[str, float, float, float | None]]:
    rng = np.random.default_rng(2)
    m_np = rng.standard_normal((2048, 2048), dtype=np.float32)
    n_np = rng.standard_normal((2048, 2048), dtype=np.float32)
    x_np = rng.standard_normal(10_000_000, dtype=np.float32)
    y_np = rng.standard_normal(10_000_000, dtype=np.float32)
    m, n, x, y = (cf.from_numpy(v) for v in (m_np, n_np, x_np, y_np))
    if torch is not None:
        tm, tn, tx, ty = (torch.from_numpy(v) for v in (m_np, n_np, x_np, y_np))
    rows = []
    for name, raw, ours, theirs in (
        ("matmul 2048x2048 f32", lambda: m_np @ n_np, lambda: m @ n,
         (lambda: tm @ tn) if torch is not None else None),
        ("add 10M f32", lambda: x_np + y_np, lambda: x + y,
         (lambda: tx + ty) if torch is not None else None),
    ):
        # interleave the runs so drifts in machine load hit both sides alike
        t_raw, t_ours, t_theirs = [], [], []
        for _ in range(repeat):
            t_raw.append(best_us(raw, 1, 1))
            t_ours.append(best_us(ours, 1, 1))
            if theirs is not None:
                with torch.no_grad():
                    t_theirs.append(best_us(theirs, 1, 1))
        rows.append((name, min(t_raw) / 1e3, min(t_ours) / 1e3,
                     min(t_theirs) / 1e3 if t_theirs else None))
    return rows


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with process_time (CPU time of this process) instead of "
                             "wall time: far less noisy on a machine shared with other jobs")
    parser.add_argument("--no-large", action="store_true", help="per-op overhead only")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's intra-op threads (default: all cores); use 1 with "
                             "--cpu-time and OPENBLAS_NUM_THREADS=1, since idle worker threads "
                             "spin and their CPU time counts")
    args = parser.parse_args()
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        TIMER[0] = time.process_time
    number = 2_000 if args.quick else 20_000
    threads = f" ({torch.get_num_threads()} threads)" if torch else ""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}{threads}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}\n")
    clock = "CPU time" if args.cpu_time else "wall time"
    print(f"Per-op cost on (16,16) float32, microseconds per call ({clock}, best of 7 "
          f"repeats taken in turn with torch's); +grad: the same call on leaves that require "
          f"grad (the forward, recording the graph)\n")
    print("| op | numpy | corefw | corefw+grad | torch | torch+grad | corefw/torch | "
          "grad: corefw/torch |")
    print("|---|---|---|---|---|---|---|---|")
    for name, raw, plain, grad, tt, ttg in small_ops(number):
        r1 = plain / tt if tt else None
        r2 = grad / ttg if ttg else None
        print(f"| {name} | {raw:.2f} | {plain:.2f} | {grad:.2f} | {_fmt(tt)} | {_fmt(ttg)} | "
              f"{_fmt(r1)} | {_fmt(r2)} |")
    print("\nForward + backward on (16,16) float32 leaves that require grad, microseconds\n")
    print("| graph | corefw | torch | corefw/torch |")
    print("|---|---|---|---|")
    for name, t_cf, t_torch in forward_backward(number // 10):
        ratio = _fmt(t_cf / t_torch) if t_torch else "-"
        print(f"| `{name}` | {t_cf:.1f} | {_fmt(t_torch, 1)} | {ratio} |")
    print()
    if args.no_large:
        return
    print("Large ops, milliseconds (best of several, interleaved)\n")
    print("| op | numpy | corefw | torch | corefw/numpy |")
    print("|---|---|---|---|---|")
    for name, raw, ours, theirs in large_ops(3 if args.quick else 10):
        print(f"| {name} | {raw:.2f} | {ours:.2f} | {_fmt(theirs)} | {ours / raw:.3f} |")


if __name__ == "__main__":
    main()
