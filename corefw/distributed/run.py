"""``corefw run`` / ``python -m corefw.distributed.run``: start N ranks of a script through
``mpiexec`` (the one of the ``mpich`` wheel corefw-mpi installs, or the system's).

Each rank runs the script with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``LOCAL_WORLD_SIZE`` set (read by :func:`corefw.distributed.init_process_group`).
``--hostfile`` spreads them over machines. Under an existing launcher (Slurm's ``srun``,
Open MPI's ``mpirun``), start ``python -m corefw.distributed.run --no-spawn script.py``, or the
script itself: the MPI backend learns ranks from MPI. Exit status: the first failing rank's, or
0. Ctrl-C stops every rank. With more than one rank, ``OMP_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` default to 1 (as torchrun does) so ranks do not fight for cores.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "mpiexec_command", "rank_environment"]

# Where launchers put a rank's place in the job: (rank, size, local rank, local size).
_LAUNCHER_VARS = (("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),  # MPICH
                  ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                   "OMPI_COMM_WORLD_LOCAL_SIZE"),  # Open MPI
                  ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corefw run", description="Start N ranks of a training script with mpiexec "
        "(docs/distributed.md).")
    p.add_argument("--nproc", "--nproc-per-node", "-n", type=int, default=1, metavar="N",
                   help="number of ranks (default 1)")
    p.add_argument("--hostfile", "-f", metavar="FILE",
                   help="MPI hostfile: one 'host[:slots]' per line, to run on several machines")
    p.add_argument("--mpiexec", metavar="PATH", help="the mpiexec to use (default: the one "
                   "next to this Python, else the first on PATH)")
    p.add_argument("--no-spawn", action="store_true", help="do not start mpiexec: this "
                   "process is already one rank (under srun or mpirun); set the environment "
                   "and run the script")
    p.add_argument("script", help="the Python script each rank runs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    return p


def rank_environment(env: dict | None = None) -> dict[str, str]:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` from the launcher's
    variables (MPICH, Open MPI, Slurm); those already set win."""
    env = os.environ if env is None else env
    out = {}
    for rank, size, local, local_size in _LAUNCHER_VARS:
        if rank in env:
            found = {"RANK": env.get(rank), "WORLD_SIZE": env.get(size),
                     "LOCAL_RANK": env.get(local, env.get(rank)),
                     "LOCAL_WORLD_SIZE": env.get(local_size, env.get(size))}
            out = {k: v.split("(")[0] for k, v in found.items() if v is not None}
            break
    return {k: env.get(k, v) for k, v in out.items()}


def _find_mpiexec(given: str | None) -> str:
    if given:
        return given
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found is None:
        raise SystemExit("corefw run: no mpiexec found; install the MPI backend (python3 -m "
                         "pip install -e plugins/mpi, which brings the mpich wheel), or pass "
                         "--mpiexec PATH")
    return found


def mpiexec_command(nproc: int, script: str, args: Sequence[str], hostfile: str | None = None,
                    mpiexec: str | None = None) -> list[str]:
    """The mpiexec command line that starts ``nproc`` ranks of ``script``."""
    cmd = [_find_mpiexec(mpiexec), "-n", str(nproc)]
    if hostfile:
        cmd += ["-f", hostfile]
    return cmd + [sys.executable, "-u", "-m", "corefw.distributed.run", "--no-spawn", script,
                  *args]


def _run_script(script: str, args: Sequence[str]) -> int:
    os.environ.update(rank_environment())
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the launcher with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    if args.no_spawn:
        return _run_script(args.script, args.args)
    if args.nproc < 1:
        raise SystemExit(f"corefw run: --nproc must be >= 1, got {args.nproc}")
    if not Path(args.script).is_file():
        raise SystemExit(f"corefw run: no such script: {args.script}")
    env = dict(os.environ)
    if args.nproc > 1:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, "1")
    cmd = mpiexec_command(args.nproc, args.script, args.args, args.hostfile, args.mpiexec)
    proc = subprocess.Popen(cmd, env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to mpiexec too; make sure it ends
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print("corefw run: interrupted; all ranks stopped", file=sys.stderr)
        return 130
    if code != 0:
        print(f"corefw run: the job failed (exit status {code}); the failing rank's error is "
              f"above", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
