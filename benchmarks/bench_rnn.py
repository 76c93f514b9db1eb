"""Recurrent layers: forward + backward time against sequence length, on cpu.

``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (one layer, hidden 64, input 32, batch 16) at
T = 25, 50, 100, 200 steps: forward, ``out.sum().backward()``. A recurrent layer's work is
linear in T, so the column to read is the time per step (``/ T``): it should stay flat as T
grows. (Before December's ``unbind`` node, every step's slice of the input projection gave
its gradient back as a zero tensor of the whole sequence: O(T) per step, O(T^2) in all.)

The lengths are timed in interleaved rounds (each round runs every case once in turn) and each
keeps its best round, so a busy machine slows all of them alike.

    python benchmarks/bench_rnn.py [--rounds 7] [--only lstm,gru,rnn] [--lengths 25,50,100,200]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import corefw
from corefw import nn

HIDDEN, INPUT, BATCH = 64, 32, 16
LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def make_step(kind: str, length: int):
    """One forward + backward of ``kind`` over a random ``(length, BATCH, INPUT)`` input."""
    corefw.manual_seed(0)
    layer = LAYERS[kind](INPUT, HIDDEN)
    x = corefw.randn(length, BATCH, INPUT, requires_grad=True)

    def step():
        layer.zero_grad()
        x.grad = None
        out = layer(x)[0]
        out.sum().backward()

    return step


def time_interleaved(steps: dict, rounds: int) -> dict:
    """Best seconds per call of each step over ``rounds`` interleaved rounds."""
    for step in steps.values():  # warm-up: allocator, caches, lazy imports
        step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} cores{load}; Python {platform.python_version()}; "
            f"NumPy {np.__version__}; BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS', '?')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="lstm,gru,rnn")
    parser.add_argument("--lengths", default="25,50,100,200")
    args = parser.parse_args()
    kinds = args.only.split(",")
    lengths = [int(n) for n in args.lengths.split(",")]
    steps = {(k, n): make_step(k, n) for k in kinds for n in lengths}
    best = time_interleaved(steps, args.rounds)
    print(f"Machine: {machine()}\n")
    print(f"hidden {HIDDEN}, input {INPUT}, batch {BATCH}; forward + backward, best of "
          f"{args.rounds}\n")
    print("| layer | T | forward + backward | per step | per step / at T=" f"{lengths[0]} |")
    print("|---|---:|---:|---:|---:|")
    for k in kinds:
        first = best[(k, lengths[0])] / lengths[0]
        for n in lengths:
            t = best[(k, n)]
            print(f"| {LAYERS[k].__name__} | {n} | {t * 1e3:.1f} ms | {t / n * 1e6:.0f} us | "
                  f"{t / n / first:.2f}x |")


if __name__ == "__main__":
    main()
