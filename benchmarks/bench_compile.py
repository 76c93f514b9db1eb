"""corefw.compile against corefw eager, a hand-written NumPy step and PyTorch CPU eager, in one
run (issue 11's targets).

    python benchmarks/bench_compile.py [--quick] [--threads N]

Prints a Markdown table of microseconds per call and the ratios the targets name, plus compile
and recompile times; docs/performance.md records the results with the machine and its load.
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


def best_us(fn, number: int, repeat: int = 5) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best * 1e6


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# -- 6-op graph ---------------------------------------------------------------------------------
def six_op(n):
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(s, dtype=np.float32) for s in ((32, 64), (64, 32), (32,), (32, 32))]
    a, b, c, d = (corefw.from_numpy(x.copy()) for x in arrs)
    a.requires_grad_(), b.requires_grad_()

    def fb(a, b, c, d):
        a.grad = b.grad = None
        loss = corefw.exp(corefw.relu(a @ b + c) * d).sum()
        loss.backward()
        return loss

    compiled = corefw.compile(fb)
    t_compile = timed(lambda: compiled(a, b, c, d))
    res = {"corefw eager": best_us(lambda: fb(a, b, c, d), n),
           "corefw compiled": best_us(lambda: compiled(a, b, c, d), n), "compile s": t_compile}
    if torch is not None:
        ta, tb, tc, td = (torch.from_numpy(x.copy()) for x in arrs)
        ta.requires_grad_(), tb.requires_grad_()

        def tfb():
            ta.grad = tb.grad = None
            loss = torch.exp(torch.relu(ta @ tb + tc) * td).sum()
            loss.backward()
        res["torch eager"] = best_us(tfb, n)
    return res


# -- MLP steps ----------------------------------------------------------------------------------
def mlp_step(sizes, batch, n, lr=0.01, momentum=0.9):
    corefw.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    model = nn.Sequential(*layers)
    opt = corefw.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y_np = rng.integers(0, sizes[-1], batch)
    x, y = corefw.from_numpy(x_np.copy()), corefw.from_numpy(y_np.copy())
    tm = None
    if torch is not None:
        tm = torch.nn.Sequential(*[torch.nn.Linear(a, b) if isinstance(m, nn.Linear) else
                                   torch.nn.ReLU() for m, (a, b) in
                                   zip(model, _pairs(model, sizes))])
    res, compiled = _steps(model, opt, x, y, tm, x_np, y_np, n, lr, momentum)
    res["numpy by hand"] = best_us(numpy_step(sizes, x_np, y_np, lr, momentum), n)
    x2 = corefw.from_numpy(np.concatenate([x_np, x_np])[: batch + batch // 2].copy())
    y2 = corefw.from_numpy(np.concatenate([y_np, y_np])[: batch + batch // 2].copy())
    res["recompile s"] = timed(lambda: compiled(x2, y2))
    return res


def _steps(model, opt, x, y, tm, x_np, y_np, n, lr=0.01, momentum=0.9):
    """corefw eager and compiled (with compile time) and, given ``tm``, torch eager."""
    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    compiled = corefw.compile(step)
    t_compile = timed(lambda: compiled(x, y))  # first call: optimizer state is created
    t_compile += timed(lambda: compiled(x, y))  # second: captured and compiled
    fused = corefw.compile(step, backend="cpu_fuse")  # + the cpu's pattern rewrites
    fused(x, y), fused(x, y)
    res = {"corefw eager": best_us(lambda: step(x, y), n),
           "corefw compiled": best_us(lambda: compiled(x, y), n), "compile s": t_compile,
           "cpu_fuse": best_us(lambda: fused(x, y), n)}
    if tm is not None:
        topt = torch.optim.SGD(tm.parameters(), lr=lr, momentum=momentum)
        tx, ty = torch.from_numpy(x_np.copy()), torch.from_numpy(y_np.copy())

        def tstep():
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            loss.backward()
            topt.step()
            topt.zero_grad()
        res["torch eager"] = best_us(tstep, n)
    return res, compiled


def _pairs(model, sizes):
    out, k = [], 0
    for m in model:
        out.append((sizes[k], sizes[k + 1]) if isinstance(m, nn.Linear) else (0, 0))
        k += isinstance(m, nn.Linear)
    return out


def numpy_step(sizes, x, y, lr, momentum):
    """The same MLP step written by hand in NumPy (float32, SGD with momentum)."""
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((b, a), dtype=np.float32) * np.float32(a ** -0.5)
          for a, b in zip(sizes, sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    vw = [np.zeros_like(w) for w in ws]
    vb = [np.zeros_like(b) for b in bs]
    onehot = np.eye(sizes[-1], dtype=np.float32)[y]
    lr, mom = np.float32(lr), np.float32(momentum)

    def step():
        hs = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = hs[-1] @ w.T + b
            hs.append(np.maximum(h, 0) if i < len(ws) - 1 else h)
        z = hs[-1] - hs[-1].max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / np.float32(len(x))
        for i in range(len(ws) - 1, -1, -1):
            gw, gb = g.T @ hs[i], g.sum(0)
            if i:
                g = (g @ ws[i]) * (hs[i] > 0)
            vw[i] *= mom
            vw[i] += gw
            ws[i] -= lr * vw[i]
            vb[i] *= mom
            vb[i] += gb
            bs[i] -= lr * vb[i]
    return step


# -- CNN ----------------------------------------------------------------------------------------
def cnn_step(n, batch=64):
    corefw.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    opt = corefw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    y_np = rng.integers(0, 10, batch)
    x, y = corefw.from_numpy(x_np.copy()), corefw.from_numpy(y_np.copy())
    tm = None
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Conv2d(16, 32, 3, padding=1),
                                 torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(32 * 7 * 7, 10))
    return _steps(model, opt, x, y, tm, x_np, y_np, n)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (both libraries)")
    args = parser.parse_args()
    q = 5 if args.quick else 1
    corefw.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"# corefw.compile benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, threads "
          f"{args.threads}, numpy {np.__version__}, torch "
          f"{torch.__version__ if torch is not None else 'not installed'}\n")
    rows = [("6-op graph fwd+bwd", six_op(2000 // q)),
            ("digits MLP step 64-128-10 b32", mlp_step((64, 128, 10), 32, 1000 // q)),
            ("MLP step 784-512-256-10 b64", mlp_step((784, 512, 256, 10), 64, 100 // q)),
            ("CNN step conv16-conv32-linear b64", cnn_step(10 // q if q > 1 else 10))]
    print("| case | corefw eager us | compiled us | cpu_fuse us | numpy us | torch eager us | "
          "compiled/torch | compiled/numpy | cpu_fuse/torch | cpu_fuse/numpy | compile s | "
          "recompile s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        t, npy = r.get("torch eager"), r.get("numpy by hand")
        c, cf = r["corefw compiled"], r.get("cpu_fuse")

        def f(v, fmt="{:.1f}"):
            return fmt.format(v) if v is not None else "-"

        def ratio(a, b):
            return f(a / b if a and b else None, "{:.2f}x")
        print(f"| {name} | {r['corefw eager']:.1f} | {c:.1f} | {f(cf)} | {f(npy)} | {f(t)} | "
              f"{ratio(c, t)} | {ratio(c, npy)} | {ratio(cf, t)} | {ratio(cf, npy)} | "
              f"{r['compile s']:.3f} | {f(r.get('recompile s'), '{:.3f}')} |")


if __name__ == "__main__":
    main()
