"""Rank 1 misbehaves (argv[1]: raise, die, hang, spin; every rank raises in "all_raise";
rank 1 raises and the others catch the error in "catch"); the other ranks wait in a
collective.
argv[2]: a folder where each rank writes its pid."""

import os
import signal
import sys
import time

import corefw
import corefw.distributed as dist

mode, out_dir = sys.argv[1], sys.argv[2]
dist.init_process_group("mpi", timeout=float(os.environ.get("FAULT_TIMEOUT", "20")))
r = dist.get_rank()
with open(f"{out_dir}/pid{r}", "w") as f:
    f.write(str(os.getpid()))
t = corefw.ones(4)
dist.all_reduce(t)  # everyone is up
if mode == "all_raise":
    raise ValueError(f"rank {r} broke on purpose")
if r == 1:
    if mode in ("raise", "catch"):
        raise ValueError("rank one broke on purpose")
    if mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hang":
        time.sleep(60)
if mode == "spin":
    while True:
        time.sleep(0.05)
if mode == "catch":
    try:
        dist.all_reduce(t)
    except dist.DistBackendError as e:
        print("caught:", e, flush=True)
    sys.exit(0)  # a normal exit acknowledges the notice
dist.all_reduce(t)
print("unreachable: rank", r, "finished", flush=True)
