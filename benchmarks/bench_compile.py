"""corefw.compile against corefw eager, a hand-written NumPy step and PyTorch CPU eager, in one
run (issue 11's targets). "corefw compiled" is ``corefw.compile(fn)`` with its default
compiler (the device's: ``cpu_fuse`` on cpu); "replay" names the core's compiler.

    python benchmarks/bench_compile.py [--quick] [--reps N] [--threads N]

Everything is built and compiled first; then ``--reps`` repetitions each time every variant of
every case in turn (interleaved, so machine load hits them alike), each figure the best of a
few short blocks of calls (short, so a block is rarely preempted on a shared machine). Prints
a Markdown table of the median microseconds per call and the median over repetitions of each
repetition's ratios (with their range), plus compile and recompile times and the load average
before and after; docs/performance.md records the results with the machine and its load.
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
    """Best of ``repeat`` blocks of ``number`` calls, in microseconds per call."""
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


# Each case returns ({variant: zero-argument callable}, {"compile s": ..., ...}); the
# variants: "corefw eager", "corefw compiled" (the default compiler: cpu_fuse, corefw-cpu's
# generated code), "replay" (the core's compiler), "numpy by hand", "torch eager".

# -- 6-op graph ---------------------------------------------------------------------------------
def six_op():
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
    replayed = corefw.compile(fb, backend="replay")
    t_replay = timed(lambda: replayed(a, b, c, d))
    fns = {"corefw eager": lambda: fb(a, b, c, d), "corefw compiled": lambda: compiled(a, b, c, d),
           "replay": lambda: replayed(a, b, c, d)}
    if torch is not None:
        ta, tb, tc, td = (torch.from_numpy(x.copy()) for x in arrs)
        ta.requires_grad_(), tb.requires_grad_()

        def tfb():
            ta.grad = tb.grad = None
            loss = torch.exp(torch.relu(ta @ tb + tc) * td).sum()
            loss.backward()
        fns["torch eager"] = tfb
    return fns, {"compile s": t_compile, "replay compile s": t_replay}


# -- MLP steps ----------------------------------------------------------------------------------
def mlp_step(sizes, batch, lr=0.01, momentum=0.9):
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
    fns, info, compiled, replayed = _steps(model, opt, x, y, tm, x_np, y_np, lr, momentum)
    fns["numpy by hand"] = numpy_step(sizes, x_np, y_np, lr, momentum)
    x2 = corefw.from_numpy(np.concatenate([x_np, x_np])[: batch + batch // 2].copy())
    y2 = corefw.from_numpy(np.concatenate([y_np, y_np])[: batch + batch // 2].copy())
    info["recompile s"] = timed(lambda: compiled(x2, y2))
    info["replay recompile s"] = timed(lambda: replayed(x2, y2))
    return fns, info


def _steps(model, opt, x, y, tm, x_np, y_np, lr=0.01, momentum=0.9):
    """corefw eager, compiled (the default compiler: cpu_fuse on cpu) and with the core's
    replay (with compile times) and, given ``tm``, torch eager."""
    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    compiled = corefw.compile(step)
    t_compile = timed(lambda: compiled(x, y))  # first call: optimizer state is created
    t_compile += timed(lambda: compiled(x, y))  # second: captured and compiled
    replayed = corefw.compile(step, backend="replay")  # the core's compiler, any device
    t_replay = timed(lambda: replayed(x, y)) + timed(lambda: replayed(x, y))
    fns = {"corefw eager": lambda: step(x, y), "corefw compiled": lambda: compiled(x, y),
           "replay": lambda: replayed(x, y)}
    if tm is not None:
        topt = torch.optim.SGD(tm.parameters(), lr=lr, momentum=momentum)
        tx, ty = torch.from_numpy(x_np.copy()), torch.from_numpy(y_np.copy())

        def tstep():
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            loss.backward()
            topt.step()
            topt.zero_grad()
        fns["torch eager"] = tstep
    return fns, {"compile s": t_compile, "replay compile s": t_replay}, compiled, replayed


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
def cnn_step(batch=64):
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
    return _steps(model, opt, x, y, tm, x_np, y_np)[:2]


_RATIOS = [("corefw compiled", "torch eager"), ("corefw compiled", "numpy by hand"),
           ("replay", "torch eager"), ("replay", "numpy by hand")]


def measure(cases: list, reps: int, calls: dict, blocks: int) -> dict:
    """Interleaved repetitions: per case and variant, the list of per-repetition times (each
    the best of ``blocks`` blocks of ``calls[case]`` calls)."""
    times: dict = {name: {v: [] for v in fns} for name, fns, _ in cases}
    for _ in range(reps):
        for name, fns, _ in cases:
            for v, fn in fns.items():
                times[name][v].append(best_us(fn, calls[name], blocks))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer blocks per figure")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (both libraries)")
    args = parser.parse_args()
    corefw.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    print(f"# corefw.compile benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {load0[0]:.1f} at the start, threads "
          f"{args.threads}, numpy {np.__version__}, torch "
          f"{torch.__version__ if torch is not None else 'not installed'}, "
          f"{args.reps} interleaved repetitions\n")
    built = [("6-op graph fwd+bwd", *six_op()),
             ("digits MLP step 64-128-10 b32", *mlp_step((64, 128, 10), 32)),
             ("MLP step 784-512-256-10 b64", *mlp_step((784, 512, 256, 10), 64)),
             ("CNN step conv16-conv32-linear b64", *cnn_step())]
    # blocks of ~1-3 ms: short enough to be rarely preempted on a loaded machine
    calls = {built[0][0]: 10, built[1][0]: 5, built[2][0]: 1, built[3][0]: 1}
    times = measure(built, args.reps, calls, 5 if args.quick else 15)
    load1 = os.getloadavg()
    cols = ["corefw eager", "corefw compiled", "replay", "numpy by hand", "torch eager"]
    print("| case | " + " | ".join(f"{c} us" for c in cols) + " | " +
          " | ".join(f"{a.replace('corefw ', '')}/{b.split()[0]}" for a, b in _RATIOS) +
          " | compile s (default, replay) | recompile s (default, replay) |")
    print("| --- " * (len(cols) + len(_RATIOS) + 3) + "|")
    for name, _, info in built:
        t = times[name]
        med = [f"{np.median(t[c]):.1f}" if c in t else "-" for c in cols]
        ratios = []
        for a, b in _RATIOS:
            if a in t and b in t:
                r = [x / y for x, y in zip(t[a], t[b])]
                ratios.append(f"{np.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})")
            else:
                ratios.append("-")
        comp = f"{info['compile s']:.3f}, {info['replay compile s']:.3f}"
        rec = (f"{info['recompile s']:.3f}, {info['replay recompile s']:.3f}"
               if "recompile s" in info else "-")
        print(f"| {name} | " + " | ".join(med) + " | " + " | ".join(ratios) +
              f" | {comp} | {rec} |")
    print(f"\nload average {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} at the start, "
          f"{load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} at the end")


if __name__ == "__main__":
    main()
