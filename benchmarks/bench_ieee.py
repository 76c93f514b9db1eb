"""What silencing NumPy's floating-point warnings costs corefw-cpu's kernels (corefw_cpu/_ieee.py).

Each op on (16, 16) float32 is timed through the cpu device's table twice, with the silenced
kernel and with the plain one it wraps (``__wrapped__``), interleaved, CPU time
(``process_time``), best of 7 rounds. ``add`` is not silenced: its two columns are the same
kernel and show the noise.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ieee.py
"""

from __future__ import annotations

import os
import time
import timeit

import corefw


def main() -> None:
    a = corefw.rand(16, 16) + 0.5
    b = corefw.rand(16, 16) + 0.5
    table = a._dev.table
    cases = {"exp": lambda: corefw.exp(a), "log": lambda: corefw.log(a), "div": lambda: a / b,
             "sqrt": lambda: corefw.sqrt(a), "add": lambda: a + b}
    n, best = 20000, {}
    for _ in range(7):
        for name, fn in cases.items():
            kernel = table[name]
            for label, k in (("silent", kernel), ("plain", getattr(kernel, "__wrapped__", kernel))):
                table[name] = k
                try:
                    t = min(timeit.Timer(fn, timer=time.process_time).repeat(number=n, repeat=3))
                finally:
                    table[name] = kernel
                best[name, label] = min(best.get((name, label), 1.0), t / n)
    print(f"load average {os.getloadavg()[0]:.1f}\n")
    print("| op | plain kernel | silenced | difference |")
    print("|---|---:|---:|---:|")
    for name in cases:
        p, s = best[name, "plain"], best[name, "silent"]
        print(f"| {name} | {p * 1e6:.2f} us | {s * 1e6:.2f} us | {(s - p) * 1e9:+.0f} ns |")


if __name__ == "__main__":
    main()
