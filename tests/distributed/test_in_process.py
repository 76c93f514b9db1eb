"""corefw.distributed within one process: a third-party process-group backend (a world of one
rank, registered at run time), the errors, the safe object encoding, the launcher's pieces,
DataParallel and DDP on one rank. No MPI needed."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
import corefw.distributed as dist
from corefw import nn
from corefw.distributed import _objects, run
from corefw.nn.parallel import DataParallel, DistributedDataParallel
from corefw.plugins import catalogue, hookimpl, register_plugin


class _Done:
    source = 0

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True


class LoopbackGroup:
    """A world of one rank: every collective leaves the data where it is or copies it."""

    rank, size = 0, 1

    def _copy(self, out, t, *_, **__):
        with corefw.no_grad():
            out.copy_(t.reshape(tuple(out.shape)))
        return _Done()

    def allreduce(self, t, op, async_op=False):
        return _Done()

    broadcast = reduce = lambda self, t, *a, **k: _Done()  # noqa: E731

    allgather = reduce_scatter = gather = scatter = alltoall = _copy

    def barrier(self, async_op=False):
        return _Done()

    def split(self, ranks):
        return LoopbackGroup() if 0 in ranks else None

    def abort(self, message):
        raise AssertionError(message)

    def shutdown(self):
        pass


class LoopbackBackend:
    def is_available(self):
        return True

    def unavailable_reason(self):
        return None

    def create(self, rank, world_size, timeout, init_method):
        assert rank in (None, 0) and world_size in (None, 1)
        return LoopbackGroup()


class LoopbackPlugin:
    COREFW_PLUGIN_API = ">=1,<2"

    @staticmethod
    @hookimpl
    def register_process_groups(register):
        register("loopback_test", LoopbackBackend())


@pytest.fixture(scope="module")
def loopback():
    if "loopback_test" not in catalogue.PROCESS_GROUPS:
        rec = register_plugin(LoopbackPlugin, name="loopback-test-plugin")
        assert rec.registered["process_groups"] == ["loopback_test"]
    return "loopback_test"


@pytest.fixture()
def world(loopback):
    dist.init_process_group(loopback, timeout=5)
    yield
    dist.destroy_process_group()


def test_third_party_backend_runs_the_collectives(world):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "loopback_test"
    t = corefw.tensor([1.0, 2.0])
    assert dist.all_reduce(t, dist.ReduceOp.AVG) is None and t.tolist() == [1.0, 2.0]
    work = dist.broadcast(t, src=0, async_op=True)
    assert work.wait() and work.is_completed()
    outs = [corefw.zeros(2)]
    dist.all_gather(outs, t)
    assert outs[0].tolist() == [1.0, 2.0]
    objs = [None]
    dist.all_gather_object(objs, {"k": (1, "a")})
    assert objs == [{"k": (1, "a")}]
    sub = dist.new_group([0])
    assert dist.get_world_size(sub) == 1
    with pytest.raises(dist.DistError, match=r"src=3 is not a rank of the group"):
        dist.broadcast(t, src=3)
    with pytest.raises(dist.DistError, match="ReduceOp.AVG needs a floating-point tensor"):
        dist.all_reduce(corefw.tensor([1]), dist.ReduceOp.AVG)
    with pytest.raises(dist.DistError, match="tensor_list must be a list of 1 tensors"):
        dist.all_gather([], t)
    with pytest.raises(dist.DistError, match="already initialized"):
        dist.init_process_group("loopback_test")


def test_errors_before_init_and_for_missing_backends(loopback, monkeypatch):
    assert not dist.is_initialized()
    with pytest.raises(dist.DistError, match="call corefw.distributed.init_process_group"):
        dist.all_reduce(corefw.ones(2))
    with pytest.raises(dist.DistError, match="no process-group backend 'gloo'"):
        dist.init_process_group("gloo")
    table = {k: v for k, v in catalogue.PROCESS_GROUPS.items() if k not in ("mpi", "nccl")}
    monkeypatch.setattr(catalogue, "PROCESS_GROUPS", table)
    with pytest.raises(dist.DistError, match=r"provided by corefw-mpi"):
        dist.init_process_group("mpi")
    with pytest.raises(dist.DistError, match=r"provided by corefw-cuda"):
        dist.init_process_group("nccl")


def test_ddp_on_one_rank_matches_the_module(world):
    corefw.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    ref = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    ref.load_state_dict(net.state_dict())
    ddp = DistributedDataParallel(net, bucket_cap_mb=1e-5)
    assert list(ddp.state_dict()) == [f"module.{k}" for k in net.state_dict()]
    x = corefw.randn(5, 3)
    ddp(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    for p, q in zip(net.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    with ddp.no_sync():
        ddp(x).sum().backward()  # accumulates locally, nothing sent


def test_ddp_names_parameters_without_gradient(world):
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x)

    ddp = DistributedDataParallel(TwoHeads())
    ddp(corefw.randn(1, 2)).sum().backward()
    with pytest.raises(dist.DistError, match=r"b.weight, b.bias got no gradient.*"
                                             r"find_unused_parameters=True"):
        ddp(corefw.randn(1, 2))


def test_data_parallel_keeps_pytorch_keys():
    net = nn.Linear(3, 2)
    dp = DataParallel(net)
    assert list(dp.state_dict()) == ["module.weight", "module.bias"]
    x = corefw.randn(4, 3)
    assert np.array_equal(dp(x).detach().numpy(), net(x).detach().numpy())


def test_object_encoding_is_safe_and_round_trips():
    obj = {"a": [1, 2.5, None, True, "s"], "t": (1, (2,)), "x": corefw.arange(6).reshape(2, 3),
           "nan": float("inf")}
    back = _objects.loads(_objects.dumps(obj))
    assert back["a"] == obj["a"] and back["t"] == (1, (2,)) and back["nan"] == float("inf")
    assert np.array_equal(back["x"].numpy(), obj["x"].numpy())
    assert back["x"].dtype == corefw.int64
    for bad in (object(), {1: 2}, {1.5}, b"bytes", {"__tensor__": 1}):
        with pytest.raises(dist.DistError):
            _objects.dumps(bad)


def test_launcher_environment_and_command(tmp_path):
    mpich = {"PMI_RANK": "2", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0", "MPI_LOCALNRANKS": "2"}
    assert run.rank_environment(mpich) == {"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "0",
                                           "LOCAL_WORLD_SIZE": "2"}
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
             "SLURM_NTASKS_PER_NODE": "4(x2)"}
    assert run.rank_environment(slurm)["LOCAL_WORLD_SIZE"] == "4"
    ompi = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "RANK": "9"}
    assert run.rank_environment(ompi)["RANK"] == "9"  # set by the user: kept
    assert run.rank_environment({}) == {}
    cmd = run.mpiexec_command(3, "train.py", ["--lr", "1"], hostfile="hosts",
                              mpiexec="/opt/mpiexec")
    assert cmd[:5] == ["/opt/mpiexec", "-n", "3", "-f", "hosts"]
    assert cmd[-4:] == ["--no-spawn", "train.py", "--lr", "1"]
    with pytest.raises(SystemExit, match="no such script"):
        run.main(["--nproc", "2", str(tmp_path / "missing.py")])


def test_corefw_plugins_lists_process_groups(loopback, capsys):
    from corefw.cli import main

    assert main(["plugins"]) == 0
    assert "registers process groups: loopback_test" in capsys.readouterr().out


def test_a_collective_refuses_the_capture_of_a_compiled_function(world, monkeypatch):
    """A replay of a captured graph would skip the communication; a backend that writes the
    tensor's memory directly (as NCCL does) leaves nothing a trace could see. So a collective
    makes the compiled function run eagerly, once warned; ``fullgraph=True`` raises at it, and
    ``explain`` names it."""
    from corefw.compiler import CompileWarning, GraphBreakError, explain
    from corefw.distributed._groups import _STATE

    pg = _STATE["world"].pg
    calls = []

    def doubling(t, op, async_op=False):  # two ranks holding equal data, reduced with SUM
        calls.append(op)
        t._data *= 2  # straight into the array: no op a trace could record
        return _Done()

    monkeypatch.setattr(pg, "allreduce", doubling)

    def f(x):
        y = x * 3
        dist.all_reduce(y)
        return y + 1

    x = corefw.tensor([1.0, 2.0])
    compiled = corefw.compile(f)
    with pytest.warns(CompileWarning, match=r"running eagerly: corefw.distributed.all_reduce "
                                            r"is a collective"):
        assert compiled(x).tolist() == [7.0, 13.0]
    for _ in range(3):
        assert compiled(x).tolist() == [7.0, 13.0]
    assert len(calls) == 4 and compiled.eager_keys and not compiled.cache
    with pytest.raises(GraphBreakError, match=r"fullgraph=True\): graph break at .*"
                                              r"all_reduce is a collective"):
        corefw.compile(f, fullgraph=True)(x)
    report = explain(f, x)
    assert report.graph_break_count == 1 and "all_reduce is a collective" in str(report)
