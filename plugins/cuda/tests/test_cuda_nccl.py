"""The nccl process-group backend: registered by corefw-cuda, unavailable with the reason where
there is no GPU or NCCL, and (``cuda`` marker) collectives and DDP on one rank per GPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import corefw_cuda
import numpy as np
import pytest

import corefw.distributed as dist
from corefw.plugins import catalogue, load

SCRIPT = Path(__file__).parent / "scripts" / "nccl_collectives.py"


def test_nccl_is_registered_and_says_why_it_is_unavailable():
    load()
    backend = catalogue.PROCESS_GROUPS["nccl"]
    if backend.is_available():
        pytest.skip("NCCL and a GPU are present: nothing unavailable to report")
    reason = backend.unavailable_reason()
    assert reason
    with pytest.raises(dist.DistError, match=r"backend 'nccl' is unavailable: " +
                       reason.split(":")[0]):
        dist.init_process_group("nccl")


def test_nccl_names_exist_where_nccl_is_installed():
    try:
        import cupy.cuda.nccl as nccl
    except ImportError as exc:
        pytest.skip(f"cupy.cuda.nccl cannot be imported: {exc}")
    if not getattr(nccl, "available", True):
        pytest.skip("CuPy has no NCCL here")
    from corefw_cuda.nccl import _DTYPES, _OPS

    for name in ["NcclCommunicator", "get_unique_id", "groupStart", "groupEnd",
                 *_DTYPES.values(), *_OPS.values()]:
        assert hasattr(nccl, name), name
    for method in ["allReduce", "broadcast", "reduce", "allGather", "reduceScatter", "send",
                   "recv", "abort", "destroy"]:
        assert hasattr(nccl.NcclCommunicator, method), method


@pytest.mark.cuda
def test_nccl_collectives_and_ddp_one_rank_per_gpu(tmp_path):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("the nccl rendezvous of this test needs corefw-mpi (mpi4py)")
    n = corefw_cuda.device_count()
    cmd = [sys.executable, "-m", "corefw.distributed.run", "--nproc", str(n), str(SCRIPT),
           str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = range(n)
    total = sum(r + 1 for r in ranks)
    for r in ranks:
        res = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert res["all_reduce"] == [float(total)] * 3
        np.testing.assert_allclose(res["avg"], [total / n] * 3, rtol=1e-6)
        assert res["broadcast"] == [float(n - 1)] * 2
        assert res["all_gather"] == [float(q) for q in ranks for _ in range(2)]
        assert res["reduce_scatter"] == [float(n * (2 * r)), float(n * (2 * r + 1))]
        assert res["all_to_all"] == [[float(10 * q + r)] * 2 for q in ranks]
        # DDP: rank 0's weights everywhere; gradient = mean over ranks of (r + 1) * 4
        np.testing.assert_allclose(res["ddp_grad"], np.full((2, 3), 4 * total / n), rtol=1e-6)
        if r:
            prev = json.loads((tmp_path / "rank0.json").read_text())
            assert res["ddp_weight"] == prev["ddp_weight"]
