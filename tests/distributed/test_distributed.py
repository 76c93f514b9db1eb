"""corefw.distributed across processes: ranks started by the launcher (``corefw run``), each
writing what it computed; compared here with NumPy references and single-process training.
Three launches (3 ranks for the collectives, oversubscribing the 2-core CI machine on purpose;
2 for DDP) plus the fault cases keep the whole module well under a minute."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from dist_helpers import SCRIPTS, launch, needs_mpi, results

import corefw
from corefw.data import DistributedSampler

sys.path.insert(0, str(SCRIPTS))
import _models  # noqa: E402

pytestmark = needs_mpi


def _val(rank, shape=(2, 3)):
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * 0.5 + rank + 1.0


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    out = tmp_path_factory.mktemp("collectives")
    proc = launch("collectives.py", 3, str(out), env={"COREFW_DISTRIBUTED_DEBUG": "DETAIL"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results(out, 3)


def test_reductions_match_numpy(collectives):
    n = 3
    stack = np.stack([_val(r) for r in range(n)])
    ref = {"SUM": stack.sum(0), "AVG": stack.mean(0), "MAX": stack.max(0), "MIN": stack.min(0),
           "PRODUCT": stack.prod(0)}
    for r, res in enumerate(collectives):
        assert (res["rank"], res["world"], res["backend"], res["init"]) == (r, n, "mpi", True)
        for op, want in ref.items():
            np.testing.assert_allclose(res[f"all_reduce_{op}"], want, rtol=1e-12)
        assert res["all_reduce_int"] == [6, 30]
        np.testing.assert_allclose(res["all_reduce_async"], ref["SUM"])
        np.testing.assert_allclose(res["all_reduce_transposed_AVG"],
                                   np.stack([_val(q, (3, 2)).T for q in range(n)]).mean(0),
                                   rtol=1e-12)
        np.testing.assert_allclose(res["all_reduce_requires_grad"], ref["SUM"], rtol=1e-12)
        np.testing.assert_allclose(res["all_reduce_row_view"], [_val(r), ref["SUM"]],
                                   rtol=1e-12)
        mean_factor = sum(q + 1 for q in range(n)) / n  # rank q passes arange * (q + 1)
        np.testing.assert_allclose(res["all_reduce_1MB_AVG"],
                                   [0.0, mean_factor, 262143 * mean_factor], rtol=1e-6)
        np.testing.assert_allclose(res["broadcast"], _val(2))
        np.testing.assert_allclose(res["reduce"], ref["SUM"] if r == 1 else _val(r))
        np.testing.assert_allclose(res["all_gather"], stack)
        np.testing.assert_allclose(res["all_gather_into_tensor"], stack.reshape(6, 3))
        np.testing.assert_allclose(res["reduce_scatter"], ref["SUM"] * (r + 1))
        big = np.stack([_val(q, (6, 3)) for q in range(n)]).max(0)
        np.testing.assert_allclose(res["reduce_scatter_tensor"], big[2 * r:2 * r + 2])
        assert res["after_destroy"] is False


def test_data_movement_matches_numpy(collectives):
    n = 3
    for r, res in enumerate(collectives):
        if r == 0:
            np.testing.assert_allclose(res["gather"], np.stack([_val(q) for q in range(n)]))
            assert [s for s, _ in res["recv_any"]] == [1, 2]
            np.testing.assert_allclose([v for _, v in res["recv_any"]], [_val(1), _val(2)])
        else:
            assert res["gather"] is None
        np.testing.assert_allclose(res["scatter"], _val(10 + r))
        np.testing.assert_allclose(res["all_to_all"], [_val(100 * q + r) for q in range(n)])
        want = np.concatenate([_val(q, (6, 3))[2 * r:2 * r + 2] for q in range(n)])
        np.testing.assert_allclose(res["all_to_all_single"], want)
        np.testing.assert_allclose(res["ring"], _val((r - 1) % n))
        sub_rank, sub_size, value = res["subgroup"]
        if r in (0, 2):
            assert (sub_rank, sub_size) == ([0, 2].index(r), 2)
            np.testing.assert_allclose(value, _val(0) + _val(2))
        else:
            assert (sub_rank, sub_size, value) == (-1, -1, None)


def test_object_collectives_and_checks(collectives):
    for r, res in enumerate(collectives):
        assert res["broadcast_object_list"] == [0, [1, 2.5], True, None]
        assert res["all_gather_object"] == [[q, [float(q)] * 2] for q in range(3)]
        assert "cannot send a builtins.object" in res["unsafe_object"]
        assert "no pickle" in res["unsafe_object"]
        # debug mode: every rank learns which rank passed which shape
        assert "rank 1 passes 'tensor 0: float32 (3,)'" in res["mismatch"] or r == 1
        assert "passes 'tensor 0: float32 (2,)'" in res["mismatch"]


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc = launch("ddp.py", 2, str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results(out, 2)


def _reference(steps, accumulate=1, unused=False, uneven=False, world=2):
    """Single-process training on the concatenated batches."""
    model = _models.make_model(0, unused)
    opt = corefw.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        opt.zero_grad()
        for micro in range(accumulate):
            if uneven:  # batch(step); in the last step only rank 0 has data
                if step < 2:
                    x, y = _models.batch(step, world)
                    _models.loss_fn(model, x, y).backward()
                else:
                    x, y = _models.batch(step, world, 0)
                    (_models.loss_fn(model, x, y) / world).backward()
            else:
                x, y = _models.batch(10 * step + micro, world)
                _models.loss_fn(model, x, y).backward()
        opt.step()
    return _models.params(model)


def _same(got: dict, want: dict):
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=2e-5, atol=2e-6, err_msg=k)


@pytest.mark.parametrize("case", ["plain", "small_buckets", "no_sync", "unused", "uneven",
                                  "compiled_step", "compiled_model", "compiled_ddp",
                                  "compiled_wrapper"])
def test_ddp_equals_single_process_training(ddp, case):
    kwargs = {"no_sync": {"steps": 2, "accumulate": 2}, "unused": {"steps": 3, "unused": True},
              "uneven": {"steps": 3, "uneven": True}}.get(case, {"steps": 3})
    want = _reference(**kwargs)
    for res in ddp:
        _same(res[case], want)


def test_compiled_ddp_runs_eagerly_where_a_replay_would_skip_communication(ddp):
    """A whole DDP step under corefw.compile, and corefw.compile(ddp): one warning each,
    naming what refused the capture (both eager, and equal to single-process training above;
    before, corefw.compile(ddp) replayed its forward without arming the reduction and the ranks
    drifted apart silently). The model compiled before wrapping, or by ddp.compile(): none."""
    for res in ddp:
        (msg,) = res["compiled_step_warnings"]
        assert "running eagerly: DistributedDataParallel's forward arms" in msg, msg
        (msg,) = res["compiled_wrapper_warnings"]
        assert "running eagerly: DistributedDataParallel's forward arms" in msg, msg
        assert "ddp.compile()" in msg
        assert res["compiled_model_warnings"] == res["compiled_ddp_warnings"] == []


def test_ddp_buckets_state_dict_and_unused(ddp):
    res = ddp[0]
    assert res["plain_buckets"] == 1 and res["small_buckets_buckets"] == 4
    assert res["state_dict_keys"] == ["module.0.weight", "module.0.bias", "module.2.weight",
                                      "module.2.bias"]
    assert all(r["unused_grad_is_none"] for r in ddp)
    assert res["converted"] == "SyncBatchNorm"


def test_bucket_all_reduce_starts_before_backward_ends(ddp):
    for res in ddp:
        events = res["events"]
        starts = [i for i, e in enumerate(events) if e.startswith("all_reduce start")]
        first_op = events.index("backward of the first op")
        assert len(starts) == 6  # one bucket per parameter (bucket_cap_mb tiny)
        assert starts[0] < first_op, events  # overlap: communication during backward
        assert events[-1] == "backward returned"


def test_ddp_first_collective_names_mismatch(ddp):
    for res in ddp:
        msg = res["ddp_mismatch"]
        assert "DistributedDataParallel" in msg and "weight: float32 (4, 4)" in msg
        assert "weight: float32 (3, 4)" in msg


def test_sync_batchnorm_equals_batchnorm_over_whole_batch(ddp):
    rng = np.random.default_rng(7)
    full = rng.standard_normal((8, 3, 2, 2))
    coef = rng.standard_normal((8, 3, 2, 2))
    bn = corefw.nn.BatchNorm2d(3, momentum=0.3).double()
    x = corefw.tensor(full, dtype=corefw.float64, requires_grad=True)
    y = bn(x)
    (y * corefw.tensor(coef)).sum().backward()
    for r, res in enumerate(ddp):
        got = res["syncbn"]
        sl = slice(4 * r, 4 * r + 4)
        np.testing.assert_allclose(got["y"], y.detach().numpy()[sl], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got["dx"], x.grad.numpy()[sl], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["dw"], bn.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(got["db"], bn.bias.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(got["running_mean"], bn.running_mean.numpy(), rtol=1e-10)
        np.testing.assert_allclose(got["running_var"], bn.running_var.numpy(), rtol=1e-10)


# -- faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize("nproc", [2, 3])
def test_a_rank_that_raises_stops_the_others_naming_it(tmp_path, nproc):
    # rank 1 aborts the job only once every other rank has printed the failure (the protocol
    # of corefw_mpi.alarm), so each names rank 1 however loaded the machine is
    proc = launch("faults.py", nproc, "raise", str(tmp_path), timeout=60)
    assert proc.returncode != 0
    assert "ValueError: rank one broke on purpose" in proc.stderr
    for r in range(nproc):
        if r != 1:
            assert (f"all_reduce on rank {r}: rank 1 failed: ValueError: rank one broke on "
                    f"purpose") in proc.stderr, proc.stderr[-3000:]
    assert "unreachable" not in proc.stdout
    assert "timed out" not in proc.stderr  # told by rank 1 at once, not by the 20 s timeout


def test_a_caught_failure_notice_is_acknowledged_at_exit(tmp_path):
    proc = launch("faults.py", 2, "catch", str(tmp_path), timeout=100,
                  env={"FAULT_TIMEOUT": "120"})
    assert proc.returncode != 0  # rank 1's failure still fails the job
    assert "caught: all_reduce on rank 0: rank 1 failed: ValueError" in proc.stdout
    assert "timed out" not in proc.stderr


def test_ranks_that_all_raise_stop_without_waiting_for_each_other(tmp_path):
    t0 = time.monotonic()
    proc = launch("faults.py", 2, "all_raise", str(tmp_path), timeout=100,
                  env={"FAULT_TIMEOUT": "120"})
    assert proc.returncode != 0
    for r in range(2):
        # rank r raised its own error, or, still in the first all_reduce when the other's
        # notice came, reported that one instead
        own = f"ValueError: rank {r} broke on purpose" in proc.stderr
        told = f"all_reduce on rank {r}: rank {1 - r} failed: ValueError" in proc.stderr
        assert own or told, proc.stderr[-3000:]
    # each acknowledges the other's notice while waiting for its own acknowledgement, rather
    # than both waiting out the 120 s timeout
    assert time.monotonic() - t0 < 60, proc.stderr[-3000:]


def test_a_rank_that_dies_stops_the_others(tmp_path):
    proc = launch("faults.py", 2, "die", str(tmp_path), timeout=60)
    assert proc.returncode != 0
    assert "unreachable" not in proc.stdout


def test_a_hanging_rank_times_out_the_others(tmp_path):
    proc = launch("faults.py", 2, "hang", str(tmp_path), timeout=60,
                  env={"FAULT_TIMEOUT": "2"})
    assert proc.returncode != 0
    # which collective reports it first depends on scheduling (a loaded CI box): any of them
    # must name the timeout rather than hang
    assert "timed out after 2 s" in proc.stderr, proc.stderr[-2000:]
    assert "unreachable" not in proc.stdout


def test_ctrl_c_stops_every_rank(tmp_path):
    cmd = [sys.executable, "-m", "corefw.distributed.run", "--nproc", "2",
           str(SCRIPTS / "faults.py"), "spin", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
                            start_new_session=True)
    pids = []
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        pids = [int(p.read_text()) for p in tmp_path.glob("pid*") if p.read_text()]
        time.sleep(0.1)
    assert len(pids) == 2
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is running (a zombie waiting to be reaped counts as stopped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- no MPI needed -----------------------------------------------------------------------------
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_partitions(shuffle, drop_last):
    n, world = 10, 3
    parts = [list(DistributedSampler(range(n), world, r, shuffle=shuffle, seed=3,
                                     drop_last=drop_last)) for r in range(world)]
    lengths = {len(p) for p in parts}
    assert lengths == {3 if drop_last else 4}
    flat = [i for p in parts for i in p]
    if drop_last:
        assert len(set(flat)) == 9
    else:
        assert set(flat) == set(range(n))  # two indices padded (counted twice)
    if not shuffle:
        assert parts[0][:3] == [0, 3, 6]
    s = DistributedSampler(range(n), world, 0, shuffle=True, seed=3)
    first = list(s)
    assert list(s) == first
    s.set_epoch(1)
    assert list(s) != first


def test_demo_data_parallel_reaches_the_single_process_accuracy(tmp_path):
    args = ["--model", "mlp", "--epochs", "3", "--quiet", "--no-explain"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    accs = []
    for nproc in (1, 2):
        out = tmp_path / f"n{nproc}"
        proc = subprocess.run([sys.executable, "-m", "corefw", "demo", "--nproc", str(nproc),
                               *args, "--output", str(out)], capture_output=True, text=True,
                              env=env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count("test accuracy") == 1  # rank 0 alone reports
        ckpt = corefw.load(str(out / "demo_mlp.safetensors"))
        accs.append(ckpt["metrics"]["test_accuracy"])
    assert accs[1] >= 0.9 and abs(accs[1] - accs[0]) <= 0.03, accs
