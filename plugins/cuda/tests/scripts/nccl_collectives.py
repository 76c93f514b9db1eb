"""One rank per GPU on the nccl backend: collectives and a DDP step on CUDA tensors; rank r
writes out/rank<r>.json."""

import json
import sys

import corefw_cuda

import corefw
import corefw.distributed as dist
from corefw import nn
from corefw.nn.parallel import DistributedDataParallel

dist.init_process_group("nccl", timeout=60)
r, n = dist.get_rank(), dist.get_world_size()
dev = f"cuda:{r % corefw_cuda.device_count()}"
res = {}
t = corefw.full((3,), float(r + 1), device=dev)
dist.all_reduce(t)
res["all_reduce"] = t.cpu().tolist()
t = corefw.full((3,), float(r + 1), device=dev)
dist.all_reduce(t, dist.ReduceOp.AVG)
res["avg"] = t.cpu().tolist()
t = corefw.full((2,), float(r), device=dev)
dist.broadcast(t, src=n - 1)
res["broadcast"] = t.cpu().tolist()
out = corefw.zeros(2 * n, device=dev)
dist.all_gather_into_tensor(out, corefw.full((2,), float(r), device=dev))
res["all_gather"] = out.cpu().tolist()
o = corefw.zeros(2, device=dev)
dist.reduce_scatter_tensor(o, corefw.arange(2 * n, dtype=corefw.float32, device=dev))
res["reduce_scatter"] = o.cpu().tolist()
outs = [corefw.zeros(2, device=dev) for _ in range(n)]
dist.all_to_all(outs, [corefw.full((2,), float(10 * r + i), device=dev) for i in range(n)])
res["all_to_all"] = [x.cpu().tolist() for x in outs]
corefw.manual_seed(r)
model = nn.Linear(3, 2).to(dev)
ddp = DistributedDataParallel(model)
ddp(corefw.ones(4, 3, device=dev) * (r + 1)).sum().backward()
res["ddp_weight"] = model.weight.detach().cpu().tolist()
res["ddp_grad"] = model.weight.grad.cpu().tolist()
dist.destroy_process_group()
with open(f"{sys.argv[1]}/rank{r}.json", "w") as f:
    json.dump(res, f)
