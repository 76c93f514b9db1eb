"""corefw-xai on the demo CNN and 64 test digits: IntegratedGradients (50 steps, on 32 and on 64
digits), Saliency, Occlusion (3x3 windows, stride 1) and KernelShap (200 coalitions of the 64
pixels), plus the peak memory of IntegratedGradients at 50 and 500 steps.

    python benchmarks/bench_xai.py [--repeat 7] [--threads 1] [--methods ...] [--json f]

``--threads N`` gives both sides the same N threads, set explicitly: corefw's BLAS pool and
its conv kernels' threads (``corefw.set_num_threads``, ``COREFW_CPU_THREADS``) and PyTorch's
(``torch.set_num_threads``); 0 leaves each library its own default. Each timing is the median
of ``--repeat`` runs, as wall-clock and as process CPU time (the CPU time is the steadier
figure on a loaded machine, summed over threads); corefw's and Captum's runs of a method
alternate, so both see the same load, and the load average is printed before and after.
``--methods a,b`` times a subset; ``--no-memory`` skips the peak-memory runs. The ``ratio``
columns are corefw's time over Captum's (below 1: corefw is faster).

The model is the demo CNN (conv(1->16) - ReLU - maxpool - conv(16->32) - ReLU - linear), float32,
with the trained weights of plugins/xai/tests/fixtures/digits_cnn.safetensors when present.
Where ``torch`` and ``captum`` import, the same runs are timed with Captum on an identical
PyTorch model (weights copied) in the same process and the attributions compared; otherwise the
Captum columns say why they are empty. Peak memory is measured with ``tracemalloc`` (NumPy
allocations are traced), corefw only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc

import corefw_xai as X
import numpy as np

import corefw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, "plugins", "xai", "tests", "fixtures", "digits_cnn.safetensors")
N_EXAMPLES = 64


def demo_cnn() -> corefw.nn.Module:
    nn = corefw.nn
    corefw.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10))
    if os.path.exists(WEIGHTS):
        model.load_state_dict(corefw.load(WEIGHTS))
    return model.eval()


def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = corefw.data.datasets.digits()
    idx = np.random.default_rng(0).permutation(len(ds))[-N_EXAMPLES:]
    x = np.stack([ds[int(i)][0].numpy() for i in idx]).reshape(-1, 1, 8, 8)
    return x.astype(np.float32), np.array([int(ds[int(i)][1]) for i in idx])


def timed(fns: dict, repeat: int) -> dict:
    """{key: ((median wall-clock s, median process CPU s), result)}, the functions run in
    turn (interleaved, so that each sees the same load), after one warm-up call each."""
    runs = {k: ([], [], fn()) for k, fn in fns.items()}  # warm up
    for _ in range(repeat):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            runs[k][0].append(wall)
            runs[k][1].append(cpu)
            runs[k] = (runs[k][0], runs[k][1], out)
    return {k: ((statistics.median(w), statistics.median(c)), out)
            for k, (w, c, out) in runs.items()}


def corefw_runs(model, x, y) -> dict:
    xt, yt = corefw.tensor(x), corefw.tensor(y)
    return {
        "integrated_gradients_50_b32": lambda: X.IntegratedGradients(model).attribute(
            xt[:32], target=yt[:32], n_steps=50),
        "integrated_gradients_50": lambda: X.IntegratedGradients(model).attribute(
            xt, target=yt, n_steps=50),
        "saliency": lambda: X.Saliency(model).attribute(xt, target=yt),
        "occlusion_3x3": lambda: X.Occlusion(model).attribute(
            xt, sliding_window_shapes=(1, 3, 3), strides=(1, 1, 1), target=yt),
        "kernel_shap_200": lambda: X.KernelShap(model).attribute(
            xt, target=yt, n_samples=200, seed=0),
    }


def peak_memory(model, x, y) -> dict:
    xt, yt = corefw.tensor(x), corefw.tensor(y)
    ig = X.IntegratedGradients(model)
    ig.attribute(xt, target=yt, n_steps=8)
    peaks = {}
    for n in (50, 500):
        tracemalloc.start()
        ig.attribute(xt, target=yt, n_steps=n)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peaks


def captum_runs(model, x, y, threads: int = 0) -> dict | str:
    try:
        import torch
        from captum.attr import IntegratedGradients, KernelShap, Occlusion, Saliency
    except ImportError as exc:
        return f"not run: {exc.name or exc} is not installed"
    if threads:
        torch.set_num_threads(threads)
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10)).eval()
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                        for k, v in model.state_dict().items()})
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    mask = torch.arange(64).reshape(1, 1, 8, 8)

    def kernel_shap():  # Captum's KernelShap takes one example per call
        ks = KernelShap(tm)
        return torch.cat([ks.attribute(xt[i:i + 1], target=int(yt[i]), n_samples=200,
                                       feature_mask=mask, perturbations_per_eval=200)
                          for i in range(len(yt))])

    runs = {
        "integrated_gradients_50_b32": lambda: IntegratedGradients(tm).attribute(
            xt[:32], target=yt[:32], n_steps=50),
        "integrated_gradients_50": lambda: IntegratedGradients(tm).attribute(
            xt, target=yt, n_steps=50),
        "saliency": lambda: Saliency(tm).attribute(xt, target=yt),
        "occlusion_3x3": lambda: Occlusion(tm).attribute(
            xt, sliding_window_shapes=(1, 3, 3), strides=(1, 1, 1), target=yt,
            perturbations_per_eval=36),
        "kernel_shap_200": kernel_shap,
    }
    return runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7, help="timed repetitions (best is kept)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads for both corefw and PyTorch (0: each library's default)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--methods", default=None,
                   help="comma-separated subset of the methods (default: all)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    args = p.parse_args(argv)
    model = demo_cnn()  # creates the cpu backend (and applies its default thread policy)
    x, y = digits()
    if args.threads:
        os.environ["COREFW_CPU_THREADS"] = str(args.threads)  # the conv kernels' threads
        corefw.set_num_threads(args.threads)
    mine = corefw_runs(model, x, y)
    theirs = captum_runs(model, x, y, args.threads)  # sets PyTorch's threads after corefw's
    if args.methods:
        mine = {k: v for k, v in mine.items() if k in args.methods.split(",")}
    load_before = os.getloadavg()
    ours = {}
    for name, fn in mine.items():
        fns = {"corefw": fn}
        if isinstance(theirs, dict):
            fns["captum"] = theirs[name]
        try:
            res = timed(fns, args.repeat)
        except Exception as exc:  # noqa: BLE001 - a comparison only (sklearn missing ...)
            res = timed({"corefw": fn}, args.repeat)
            theirs[name] = {"error": f"{type(exc).__name__}: {exc}"}
        sec, e = res["corefw"]
        ours[name] = {"seconds": sec, "attributions": e.numpy(), "n_evals": e.n_evals}
        if "captum" in res:
            sec, a = res["captum"]
            theirs[name] = {"seconds": sec, "attributions": a.detach().numpy()}
    load_after = os.getloadavg()
    peaks = None if args.no_memory else peak_memory(model, x, y)
    print(f"corefw-xai on the demo CNN, {N_EXAMPLES} digits (b32: the first 32), median of "
          f"{args.repeat}, threads (corefw and PyTorch) {args.threads or 'default'}, load average "
          f"{load_before[0]:.1f} before and {load_after[0]:.1f} after on {os.cpu_count()} CPUs "
          f"(weights: {'trained fixture' if os.path.exists(WEIGHTS) else 'random'})")
    print(f"{'method':<28}{'corefw s':>9}{'captum s':>9}{'ratio':>7}{'corefw cpu':>11}"
          f"{'captum cpu':>11}{'ratio':>7}{'max|diff|':>11}")
    results = {"corefw": {}, "captum": {}, "peak_bytes": peaks, "threads": args.threads,
               "load_average": [load_before[0], load_after[0]]}
    for name, r in ours.items():
        (wall, cpu) = r["seconds"]
        line = f"{name:<28}{wall:>9.3f}"
        results["corefw"][name] = {"seconds": wall, "cpu_seconds": cpu, "n_evals": r["n_evals"]}
        if isinstance(theirs, dict) and "error" in theirs[name]:
            line += f"  captum failed: {theirs[name]['error'][:60]}"
            results["captum"][name] = theirs[name]
        elif isinstance(theirs, dict) and "seconds" in theirs.get(name, {}):
            c = theirs[name]
            cw, cc = c["seconds"]
            diff = float(np.max(np.abs(c["attributions"] - r["attributions"])))
            line += (f"{cw:>9.3f}{wall / cw:>7.2f}{cpu:>11.3f}{cc:>11.3f}{cpu / cc:>7.2f}"
                     f"{diff:>11.2e}")
            results["captum"][name] = {"seconds": cw, "cpu_seconds": cc, "max_abs_diff": diff,
                                       "ratio": wall / cw, "cpu_ratio": cpu / cc}
        else:
            line += f"{'':>27}{cpu:>11.3f}"
        print(line)
    if not isinstance(theirs, dict):
        print(f"captum: {theirs}")
        results["captum"] = theirs
    if peaks:
        print(f"IntegratedGradients peak traced memory: 50 steps {peaks[50] / 2**20:.1f} MiB, "
              f"500 steps {peaks[500] / 2**20:.1f} MiB")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
