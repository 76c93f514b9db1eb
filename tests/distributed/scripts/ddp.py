"""DistributedDataParallel, SyncBatchNorm and DDP's checks on 2 ranks; results to
out/rank<r>.json (the test compares them with single-process training)."""

import json
import sys
import warnings

import numpy as np
from _models import batch, loss_fn, make_model, params

import corefw
import corefw.distributed as dist
from corefw import nn
from corefw.autograd import Function
from corefw.nn.parallel import DistributedDataParallel as DDP

out_dir = sys.argv[1]
dist.init_process_group("mpi", timeout=30)
r, world = dist.get_rank(), dist.get_world_size()
res = {}


def train(ddp, steps, accumulate=1):
    opt = corefw.optim.SGD(ddp.parameters(), lr=0.1)
    for step in range(steps):
        opt.zero_grad()
        for micro in range(accumulate):
            x, y = batch(10 * step + micro, world, r)
            if micro < accumulate - 1:
                with ddp.no_sync():
                    loss_fn(ddp, x, y).backward()
            else:
                loss_fn(ddp, x, y).backward()
        opt.step()


# plain DDP: ranks start from different weights; rank 0's are broadcast. Tiny buckets and the
# default 25 MB bucket.
for name, cap in (("small_buckets", 1e-4), ("plain", 25)):
    ddp = DDP(make_model(seed=r), bucket_cap_mb=cap)
    res[f"{name}_buckets"] = len(ddp.reducer.buckets)
    train(ddp, 3)
    res[name] = params(ddp.module)
res["state_dict_keys"] = list(ddp.state_dict())

# compiled: a whole step under corefw.compile (its collectives refuse the capture, so it runs
# eagerly, with a CompileWarning), the model compiled before wrapping and through ddp.compile()
# (forward and backward compiled, DDP's bucket reduction between them, in the backward's
# hooks), and corefw.compile(ddp) (the wrapper's forward refuses the capture: eager, warned)
for name in ("compiled_step", "compiled_model", "compiled_ddp", "compiled_wrapper"):
    model = make_model(seed=r)
    if name == "compiled_model":
        model.compile()
    ddp = DDP(model)
    if name == "compiled_ddp":
        ddp.compile()
    opt = corefw.optim.SGD(ddp.parameters(), lr=0.1)
    call = corefw.compile(ddp) if name == "compiled_wrapper" else ddp

    def step(x, y, call=call, opt=opt):
        opt.zero_grad()
        loss_fn(call, x, y).backward()
        opt.step()

    run = corefw.compile(step) if name == "compiled_step" else step
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in range(3):
            run(*batch(10 * s, world, r))
    res[name] = params(ddp.module)
    res[f"{name}_warnings"] = [str(w.message) for w in caught]

ddp = DDP(make_model(seed=r))
train(ddp, 2, accumulate=2)
res["no_sync"] = params(ddp.module)

ddp = DDP(make_model(seed=r, unused=True), find_unused_parameters=True, bucket_cap_mb=1e-4)
train(ddp, 3)
res["unused"] = params(ddp.module)
res["unused_grad_is_none"] = ddp.module.unused.weight.grad is None

# uneven inputs: rank 0 has 3 batches, rank 1 has 2
ddp = DDP(make_model(seed=r), bucket_cap_mb=1e-4)
opt = corefw.optim.SGD(ddp.parameters(), lr=0.1)
with ddp.join():
    for step in range(3 if r == 0 else 2):
        opt.zero_grad()
        x, y = batch(step, world, r)
        loss_fn(ddp, x, y).backward()
        opt.step()
res["uneven"] = params(ddp.module)

# overlap: the first bucket's all-reduce starts before backward ends
events = []


class Mark(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        events.append("backward of the first op")
        return g


corefw.manual_seed(0)
deep = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
ddp = DDP(deep, bucket_cap_mb=1e-4)
pg = dist._groups._STATE["world"].pg
orig = pg.allreduce


def logged(tensor, op, async_op=False):
    events.append(f"all_reduce start ({tensor.numel()} values)")
    return orig(tensor, op, async_op=async_op)


pg.allreduce = logged
x, y = batch(0, world, r)
x.requires_grad_(True)
loss_fn(ddp, Mark.apply(x), y).backward()
events.append("backward returned")
pg.allreduce = orig
res["events"] = events

# SyncBatchNorm: rank r normalises its slice with statistics of the whole batch
rng = np.random.default_rng(7)
full = rng.standard_normal((4 * world, 3, 2, 2))
coef = rng.standard_normal((4 * world, 3, 2, 2))
bn = nn.SyncBatchNorm(3, momentum=0.3)
x = corefw.tensor(full[4 * r:4 * (r + 1)], dtype=corefw.float64, requires_grad=True)
bn = bn.double()
y = bn(x)
(y * corefw.tensor(coef[4 * r:4 * (r + 1)])).sum().backward()
wg = bn.weight.grad.clone()
bg = bn.bias.grad.clone()
dist.all_reduce(wg)
dist.all_reduce(bg)
res["syncbn"] = {"y": y.detach().numpy().tolist(), "dx": x.grad.numpy().tolist(),
                 "dw": wg.numpy().tolist(), "db": bg.numpy().tolist(),
                 "running_mean": bn.running_mean.numpy().tolist(),
                 "running_var": bn.running_var.numpy().tolist()}
converted = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))
res["converted"] = type(converted[0]).__name__

# DDP's first collective always checks that the ranks hold the same parameters
try:
    DDP(nn.Linear(4, 3 + r))
except dist.DistError as exc:
    res["ddp_mismatch"] = str(exc)
dist.destroy_process_group()
with open(f"{out_dir}/rank{r}.json", "w") as f:
    json.dump(res, f)
