"""corefw.distributed on the MPI backend, 2 ranks on one machine:

1. all-reduce bandwidth, 4 KB to 64 MB of float32, corefw's ``dist.all_reduce`` (the
   tensor's array -> MPI ``Iallreduce``, polled) against raw mpi4py ``Allreduce`` on a NumPy
   buffer (target: >= 0.95x for >= 1 MB) and raw ``Iallreduce(...).Wait()`` (the MPI call
   corefw makes, without corefw), rotating call by call in the same run;
2. DDP training step (global batch 32, 16 per rank) against the single-process step at batch
   32, for the digits MLP and the demo CNN;
3. how much of the gradient all-reduce is hidden behind backward: (backward with DDP -
   backward under no_sync) against the same buckets all-reduced after backward.

    python benchmarks/bench_distributed.py [--nproc 2] [--reps 20] [--bandwidth-only]

It starts itself through the launcher (``corefw run``); rank 0 prints the tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np


def _median_time(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _best(fn, reps: int, rounds: int = 3) -> float:
    """The best of ``rounds`` medians: scheduling stalls on a shared machine only add time."""
    return min(_median_time(fn, reps) for _ in range(rounds))


def bandwidth(reps: int) -> list[tuple]:
    """Raw (blocking and non-blocking) and corefw all-reduce rotating call by call, each call
    after a barrier (so all start with the ranks in step and see the same machine load);
    medians of each."""
    from mpi4py import MPI

    import corefw
    import corefw.distributed as dist

    comm = MPI.COMM_WORLD.Dup()
    n = dist.get_world_size()
    rows = []
    for kb in (4, 16, 64, 256, 1024, 4096, 16384, 65536):
        count = kb * 1024 // 4
        arr = np.ones(count, np.float32)
        t = corefw.ones(count)
        k = 10 * reps if kb <= 1024 else max(8, reps * 4096 // kb * 2)

        def raw_call(arr=arr):
            comm.Allreduce(MPI.IN_PLACE, arr, MPI.SUM)

        def iraw_call(arr=arr):
            comm.Iallreduce(MPI.IN_PLACE, arr, MPI.SUM).Wait()

        def our_call(t=t):
            dist.all_reduce(t)
        fns = (raw_call, iraw_call, our_call)
        for fn in fns:  # warm up
            fn()
        times: dict = {fn: [] for fn in fns}
        for i in range(k):
            for fn in fns[i % 3:] + fns[:i % 3]:  # each first, second and third in turn
                comm.Barrier()
                t0 = time.perf_counter()
                fn()
                times[fn].append(time.perf_counter() - t0)
        r, ir, o = (statistics.median(times[fn]) for fn in fns)
        bus = 2 * (n - 1) / n * kb * 1024
        rows.append((kb, r * 1e6, o * 1e6, bus / r / 1e9, bus / o / 1e9, r / o, ir / o, k))
    comm.Free()
    return rows


def _step_fns(name: str, per_rank: int, ddp: bool, cap: float = 25.0):
    import corefw
    import corefw.nn.functional as F
    from corefw.demo import build_model
    from corefw.nn.parallel import DistributedDataParallel

    corefw.manual_seed(0)
    model = build_model(name)
    if ddp:
        model = DistributedDataParallel(model, bucket_cap_mb=cap)
    opt = corefw.optim.SGD(model.parameters(), lr=0.01)
    x = corefw.randn(per_rank, 1, 8, 8)
    y = corefw.randint(0, 10, (per_rank,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, step, x, y


def _forward_backward(model, x, y, F, sync: bool):
    """Forward and backward of the DDP model, with or without the gradient all-reduce."""
    def run():
        if sync:
            F.cross_entropy(model(x), y).backward()
        else:
            with model.no_sync():
                F.cross_entropy(model(x), y).backward()
    return run


def _all_reduce(dist, flat):
    return lambda: dist.all_reduce(flat)


def training(reps: int) -> list[tuple]:
    import corefw
    import corefw.distributed as dist
    import corefw.nn.functional as F

    n = dist.get_world_size()
    rows = []
    for name, cap in (("mlp", 25.0), ("cnn", 25.0), ("cnn", 0.016)):
        single = None
        if dist.get_rank() == 0:
            _, step, _, _ = _step_fns(name, 32, ddp=False)
            single = _best(step, reps)
        dist.barrier()
        model, step, x, y = _step_fns(name, 32 // n, ddp=True, cap=cap)
        ddp_time = _best(step, reps)

        with_comm = _best(_forward_backward(model, x, y, F, sync=True), reps)
        without = _best(_forward_backward(model, x, y, F, sync=False), reps)
        flat = corefw.cat([p.grad.detach().reshape(-1) for p in model.parameters()])
        comm_alone = _best(_all_reduce(dist, flat), reps)
        exposed = max(0.0, with_comm - without)
        hidden = min(1.0, max(0.0, 1 - exposed / comm_alone)) if comm_alone > 0 else 0.0
        label = f"{name}, {len(model.reducer.buckets)} bucket(s)"
        rows.append((label, single, ddp_time, with_comm, without, comm_alone, hidden))
    return rows


def rank_main(reps: int, bandwidth_only: bool) -> None:
    import corefw.distributed as dist

    dist.init_process_group("mpi")
    bw = bandwidth(reps)
    tr = [] if bandwidth_only else training(reps)
    if dist.get_rank() == 0:
        n = dist.get_world_size()
        print(f"corefw.distributed, mpi backend, {n} ranks on one machine; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print("\nall_reduce (float32, SUM), medians of calls rotating with raw mpi4py; ratio: "
              "corefw throughput / mpi4py Allreduce's (vs I+W: / mpi4py Iallreduce+Wait's)")
        print(f"{'size':>8} {'calls':>6} {'mpi4py us':>10} {'corefw us':>10} {'mpi4py GB/s':>12} "
              f"{'corefw GB/s':>12} {'ratio':>6} {'vs I+W':>7}")
        for kb, r, o, rb, ob, ratio, iratio, k in bw:
            size = f"{kb} KB" if kb < 1024 else f"{kb // 1024} MB"
            print(f"{size:>8} {k:6d} {r:10.1f} {o:10.1f} {rb:12.2f} {ob:12.2f} {ratio:6.2f} "
                  f"{iratio:7.2f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        if not tr:
            dist.destroy_process_group()
            return
        print(f"\ntraining step, global batch 32 ({32 // n} per rank), ms (best of 3 medians); "
              f"hidden = 1 - (bwd+DDP - bwd only) / allreduce")
        print(f"{'model':>17} {'1 process':>10} {'DDP step':>9} {'bwd+DDP':>8} {'bwd only':>9} "
              f"{'allreduce':>10} {'hidden':>7}")
        for name, single, ddp_t, wc, wo, ca, hidden in tr:
            print(f"{name:>17} {single * 1e3:10.2f} {ddp_t * 1e3:9.2f} {wc * 1e3:8.2f} "
                  f"{wo * 1e3:9.2f} {ca * 1e3:10.2f} {hidden:7.0%}")
    dist.destroy_process_group()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--bandwidth-only", action="store_true", help="skip the training steps")
    p.add_argument("--rank", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rank:
        rank_main(args.reps, args.bandwidth_only)
        return 0
    from corefw.distributed.run import main as run

    extra = ["--bandwidth-only"] if args.bandwidth_only else []
    return run(["--nproc", str(args.nproc), __file__, "--rank", "--reps", str(args.reps),
                *extra])


if __name__ == "__main__":
    sys.exit(main())
