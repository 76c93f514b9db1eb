"""Every collective on deterministic inputs; each rank writes what it got to out/rank<r>.json.
The test compares with numpy references. Run with COREFW_DISTRIBUTED_DEBUG=DETAIL."""

import json
import sys

import corefw
import corefw.distributed as dist
from corefw.distributed import ReduceOp

out_dir = sys.argv[1]
dist.init_process_group("mpi", timeout=30)
r, n = dist.get_rank(), dist.get_world_size()
res = {"rank": r, "world": n, "backend": dist.get_backend(), "init": dist.is_initialized()}


def val(rank, shape=(2, 3)):
    """The input of ``rank``: distinct values per rank and element."""
    k = 1
    for s in shape:
        k *= s
    return corefw.arange(k, dtype=corefw.float64).reshape(shape) * 0.5 + rank + 1.0


for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
    t = val(r)
    dist.all_reduce(t, getattr(ReduceOp, op))
    res[f"all_reduce_{op}"] = t.tolist()
t = corefw.tensor([r + 1, 10 * r], dtype=corefw.int64)
dist.all_reduce(t)
res["all_reduce_int"] = t.tolist()
t = val(r)
work = dist.all_reduce(t, async_op=True)
work.wait()
res["all_reduce_async"] = t.tolist()
# the synchronous fast path (a contiguous host tensor, waited for in the call) against the
# general one (a transposed view: copied to a contiguous buffer and back), a tensor that needs
# grad (reduced in place through its detached view) and 1 MB of float32 (a size the benchmark
# measures: the MPI algorithm differs from the small cases)
t = val(r, (3, 2)).t()
dist.all_reduce(t, ReduceOp.AVG)
res["all_reduce_transposed_AVG"] = t.tolist()
w = val(r).requires_grad_()
dist.all_reduce(w)
res["all_reduce_requires_grad"] = w.detach().tolist()
m = corefw.stack([val(r), val(r)])
dist.all_reduce(m[1])  # a contiguous view: reduced in place into its base
res["all_reduce_row_view"] = m.tolist()
big = corefw.arange(262144, dtype=corefw.float32) * (r + 1)
dist.all_reduce(big, ReduceOp.AVG)
res["all_reduce_1MB_AVG"] = [big[0].item(), big[1].item(), big[-1].item()]

t = val(r)
dist.broadcast(t, src=n - 1)
res["broadcast"] = t.tolist()
t = val(r)
dist.reduce(t, dst=1, op=ReduceOp.SUM)
res["reduce"] = t.tolist()
outs = [corefw.zeros(2, 3, dtype=corefw.float64) for _ in range(n)]
dist.all_gather(outs, val(r))
res["all_gather"] = [o.tolist() for o in outs]
big = corefw.zeros(2 * n, 3, dtype=corefw.float64)
dist.all_gather_into_tensor(big, val(r))
res["all_gather_into_tensor"] = big.tolist()
o = corefw.zeros(2, 3, dtype=corefw.float64)
dist.reduce_scatter(o, [val(r) * (i + 1) for i in range(n)], ReduceOp.SUM)
res["reduce_scatter"] = o.tolist()
o = corefw.zeros(2, 3, dtype=corefw.float64)
dist.reduce_scatter_tensor(o, val(r, (2 * n, 3)), ReduceOp.MAX)
res["reduce_scatter_tensor"] = o.tolist()
g = [corefw.zeros(2, 3, dtype=corefw.float64) for _ in range(n)] if r == 0 else None
dist.gather(val(r), g, dst=0)
res["gather"] = [x.tolist() for x in g] if g else None
o = corefw.zeros(2, 3, dtype=corefw.float64)
dist.scatter(o, [val(10 + i) for i in range(n)] if r == 0 else None, src=0)
res["scatter"] = o.tolist()
outs = [corefw.zeros(2, 3, dtype=corefw.float64) for _ in range(n)]
dist.all_to_all(outs, [val(100 * r + i) for i in range(n)])
res["all_to_all"] = [x.tolist() for x in outs]
o = corefw.zeros(2 * n, 3, dtype=corefw.float64)
dist.all_to_all_single(o, val(r, (2 * n, 3)))
res["all_to_all_single"] = o.tolist()

# point to point: a ring, with isend/irecv, then blocking send/recv with any source
t = corefw.zeros(2, 3, dtype=corefw.float64)
req = dist.irecv(t, src=(r - 1) % n)
dist.isend(val(r), dst=(r + 1) % n).wait()
req.wait()
res["ring"] = t.tolist()
if r == 0:
    got = []
    for _ in range(n - 1):
        t = corefw.zeros(2, 3, dtype=corefw.float64)
        sender = dist.recv(t)
        got.append([sender, t.tolist()])
    res["recv_any"] = sorted(got)
else:
    dist.send(val(r), dst=0)

# a sub-group of ranks 0 and 2 (or 0 and 1)
members = [0, n - 1]
sub = dist.new_group(members)
if r in members:
    t = val(r)
    dist.all_reduce(t, group=sub)
    res["subgroup"] = [dist.get_rank(sub), dist.get_world_size(sub), t.tolist()]
else:
    res["subgroup"] = [dist.get_rank(sub), dist.get_world_size(sub), None]

objs = [{"a": r, "t": (1, 2.5)}, None] if r == 0 else [None, None]
dist.broadcast_object_list(objs, src=0)
res["broadcast_object_list"] = [objs[0]["a"], list(objs[0]["t"]), isinstance(objs[0]["t"], tuple),
                                objs[1]]
gathered = [None] * n
dist.all_gather_object(gathered, {"rank": r, "w": corefw.full((2,), float(r))})
res["all_gather_object"] = [[x["rank"], x["w"].tolist()] for x in gathered]
try:
    dist.all_gather_object([None] * n, object())
except dist.DistError as exc:
    res["unsafe_object"] = str(exc)

# mismatched shapes (debug mode DETAIL): every rank gets a clear error, nothing hangs
try:
    dist.all_reduce(corefw.zeros(2 + (r == 1)))
except dist.DistError as exc:
    res["mismatch"] = str(exc)
dist.barrier()
dist.destroy_process_group()
res["after_destroy"] = dist.is_initialized()
with open(f"{out_dir}/rank{r}.json", "w") as f:
    json.dump(res, f)
