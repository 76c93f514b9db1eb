"""``corefw demo``: train the demo CNN on the digits that ship with corefw, in well under a minute.

The demo trains a small convolutional network (or an MLP, ``--model mlp``) on
:func:`corefw.data.datasets.digits` with Adam, shows a progress bar (loss, accuracy,
samples/s), reports the accuracy on a held-out test split, saves a checkpoint and, when an
explainer plugin is installed, writes attribution pictures. ``--resume PATH`` continues a run
from its checkpoint bit-identically. See docs/demo.md.

>>> from corefw.demo import main
>>> main(["--epochs", "1", "--quiet", "--output", "/tmp/demo"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import corefw
from corefw._demo_pictures import explain as _explain
from corefw._demo_pictures import save_pictures
from corefw.errors import CheckpointError

__all__ = ["DEFAULTS", "TEST_SIZE", "build_model", "main", "make_splits", "save_pictures"]

TEST_SIZE = 360
"""Images held out for the test split (20% of the 1,797 digits)."""
SPLIT_SEED = 0
"""The test split is the same for every ``--seed``, so accuracies are comparable."""
DEFAULTS: dict[str, Any] = {"model": "cnn", "epochs": 15, "batch_size": 32, "lr": 4e-3,
                            "gamma": 0.8, "seed": 0, "limit": None}
"""Hyperparameters used where neither the command line nor a resumed checkpoint sets them."""
_CONFIG_KEYS = ("model", "batch_size", "lr", "gamma", "seed", "limit")
_FORMAT = "corefw-demo/1"


def build_model(name: str) -> corefw.nn.Module:
    """The demo network ``"cnn"`` (the demo CNN) or ``"mlp"``, for 1x8x8 digit images.

    The demo CNN is conv(1->16, 3x3, pad 1) - ReLU - maxpool 2 - conv(16->32, 3x3, pad 1) - ReLU
    - flatten - linear(32*4*4 -> 10); the MLP is flatten - linear(64->128) - ReLU - linear(128->10).
    Parameters are initialised from corefw's global random stream (``corefw.manual_seed``).
    """
    nn = corefw.nn
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(32 * 4 * 4, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    raise ValueError(f"corefw demo: unknown model {name!r}; choose 'cnn' or 'mlp'")


def make_splits(limit: int | None = None) -> tuple[Any, Any]:
    """The digits split into (train, test) :class:`~corefw.data.Subset`\\ s.

    The test split is the same :data:`TEST_SIZE` images for every seed; ``limit`` keeps only
    the first ``limit`` training images (for quick tries and tests).
    """
    from corefw.data import Subset, datasets, random_split

    data = datasets.digits()
    train, test = random_split(data, [len(data) - TEST_SIZE, TEST_SIZE],
                               generator=corefw.Generator().manual_seed(SPLIT_SEED))
    if limit is not None:
        train = Subset(train.dataset, list(train.indices)[:limit])
    return train, test


def _parser() -> argparse.ArgumentParser:
    from corefw._cli_util import OneLineParser

    p = OneLineParser(
        prog="corefw demo",
        description="Train the demo CNN (or an MLP) on the embedded 8x8 digits, report the "
                    "held-out test accuracy and save a checkpoint. See docs/demo.md.")
    p.add_argument("--model", choices=("cnn", "mlp"), default=None,
                   help=f"network to train (default: {DEFAULTS['model']})")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                   help="total epochs, counting those of a resumed checkpoint "
                        f"(default: {DEFAULTS['epochs']})")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"training batch size (default: {DEFAULTS['batch_size']})")
    p.add_argument("--lr", type=float, default=None,
                   help=f"Adam learning rate (default: {DEFAULTS['lr']})")
    p.add_argument("--seed", type=int, default=None,
                   help=f"seed of the initialisation and shuffling (default: {DEFAULTS['seed']})")
    p.add_argument("--device", default=None,
                   help="device to train on, e.g. cpu or cuda:0 (default: corefw's default)")
    p.add_argument("--output", default="corefw-output", metavar="DIR",
                   help="directory for the checkpoint and pictures (default: ./corefw-output)")
    p.add_argument("--resume", default=None, metavar="PATH",
                   help="continue the run saved in this checkpoint, bit-identically")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on only the first N training images (quick tries, tests)")
    p.add_argument("--no-explain", action="store_true",
                   help="skip the attribution pictures even if an explainer is installed")
    p.add_argument("--compile", action="store_true",
                   help="train with the model compiled (corefw.compile) and report the speed-up")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or per-epoch lines, only the summary")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train data-parallel on N processes (corefw run; needs corefw-mpi): "
                   "each rank takes 1/N of every batch")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error, for bug reports (also: COREFW_DEBUG=1)")
    p.add_argument("--export-onnx", default=None, metavar="PATH",
                   help="also write the trained model as ONNX (needs corefw-onnx)")
    return p


class _UsageError(Exception):
    """A bad option value, reported as one line with exit status 2."""


def _resolve_device(spec: str | None) -> corefw.device:
    """The ``--device`` as a usable device, or a :class:`_UsageError` saying how to fix it."""
    if spec is None:
        return corefw.get_default_device()
    try:
        device = corefw.device(spec)
        corefw.zeros(1, device=device)  # the backend is available and the index exists
    except corefw.errors.CorefwError as e:
        if spec.split(":")[0] == "cuda" and isinstance(e, corefw.errors.BackendUnavailableError):
            fix = ("train on the CPU with --device cpu (the default), or, on a machine with an "
                   "NVIDIA GPU, install CuPy: python3 -m pip install -e \"plugins/cuda[cuda12]\" "
                   "(see docs/cuda.md)")
        else:
            fix = "pass --device cpu, or run 'corefw plugins' to see the installed devices"
        raise _UsageError(f"--device {spec}: {' '.join(str(e).split())}; {fix}") from None
    return device


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values the run cannot use, before any work; each message says the fix."""
    for flag in ("epochs", "batch_size", "limit", "nproc"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise _UsageError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise _UsageError(f"--lr must be a positive number, got {args.lr} (the default is "
                          f"{DEFAULTS['lr']})")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise _UsageError(f"--seed must be between 0 and 2**63-1, got {args.seed}")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise _UsageError(f"--output {args.output} is an existing file, not a directory; pass "
                          f"a directory (it is created if missing)")
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as e:
        raise _UsageError(f"--output {args.output} cannot be created ({e.strerror or e}); pass "
                          f"a directory you can write to") from None
    if not os.access(args.output, os.W_OK | os.X_OK):
        raise _UsageError(f"--output {args.output} is not writable; pass a directory you can "
                          f"write to")


def _config(args: argparse.Namespace, saved: dict | None) -> dict[str, Any]:
    """Merge command line, checkpoint and defaults; a conflicting explicit value is an error."""
    given = {"model": args.model, "batch_size": args.batch_size, "lr": args.lr,
             "seed": args.seed, "limit": args.limit}
    config = dict(saved) if saved is not None else {k: DEFAULTS[k] for k in _CONFIG_KEYS}
    for key, value in given.items():
        if value is None:
            continue
        if saved is not None and saved.get(key) != value:
            flag = "--" + key.replace("_", "-")
            raise CheckpointError(
                f"corefw demo --resume: the checkpoint was trained with {flag} "
                f"{saved.get(key)}, not {value}; drop {flag} (it is read from the checkpoint) "
                "or start a new run without --resume")
        config[key] = value
    return config


def _load_checkpoint(path: str, device: corefw.device) -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"corefw demo --resume: no checkpoint at {path!r}; pass the file "
                              "a previous run printed (e.g. corefw-output/demo_cnn.safetensors)")
    ckpt = corefw.load(path, map_location=device)
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise CheckpointError(f"corefw demo --resume: {path!r} is not a demo checkpoint (no "
                              f"'format': {_FORMAT!r} entry); resume from a file the demo wrote")
    return ckpt


class _Bar:
    """One tqdm progress bar over all the batches of the run (nothing when disabled); per-epoch
    lines go through :meth:`write`, so they print above the bar."""

    def __init__(self, total: int, disable: bool, out: Any) -> None:
        from tqdm.auto import tqdm

        self.out = out
        self.bar = tqdm(total=total, desc="training", unit="batch", disable=disable,
                        leave=False, dynamic_ncols=True)

    def update(self, epoch: str, loss: float, acc: float, rate: float) -> None:
        self.bar.set_postfix({"epoch": epoch, "loss": f"{loss:.3f}", "acc": f"{acc:.3f}",
                              "samples/s": f"{rate:,.0f}"}, refresh=False)
        self.bar.update(1)

    def write(self, message: str) -> None:
        if self.bar.disable:
            print(message, file=self.out)
        else:
            self.bar.write(message, file=self.out)

    def close(self) -> None:
        self.bar.close()


def _evaluate(model: corefw.nn.Module, data: Any, device: Any) -> float:
    """Accuracy of ``model`` on ``data`` (a dataset of (image, label))."""
    from corefw.data import DataLoader

    model.eval()
    correct = 0
    with corefw.no_grad():
        for x, y in DataLoader(data, batch_size=512):
            pred = model(x.to(device)).argmax(1).cpu()
            correct += int((pred == y).sum().item())
    model.train()
    return correct / len(data)


def _train_epoch(model, loader, optimizer, device, bar: _Bar,
                 epoch: str) -> tuple[float, float, int]:
    """One pass over ``loader``; returns (mean loss, train accuracy, samples)."""
    F = corefw.nn.functional
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        n = y.shape[0]
        total_loss += loss.item() * n
        correct += int((logits.detach().argmax(1) == y).sum().item())
        seen += n
        bar.update(epoch, total_loss / seen, correct / seen,
                   seen / (time.perf_counter() - start))
    return total_loss / max(seen, 1), correct / max(seen, 1), seen


def _compile_model(model, optimizer, train, batch_size: int, device, out) -> float:
    """``model.compile()``, after timing forward+backward of one batch eager and compiled
    (the random state is restored, so training is the same as without --compile)."""
    from corefw.data import DataLoader

    x, y = next(iter(DataLoader(train, batch_size=batch_size)))
    x, y = x.to(device), y.to(device)
    rng = corefw.get_rng_state()
    F = corefw.nn.functional

    def timed(call, n: int = 30) -> float:
        best = float("inf")
        for _ in range(n):
            t = time.perf_counter()
            F.cross_entropy(call(x), y).backward()
            best = min(best, time.perf_counter() - t)
        optimizer.zero_grad()
        return best

    eager = timed(model._call_impl)
    model.compile()  # the device's own compiler where its backend names one, else replay
    backend = corefw.compiler.default_compiler_for(x.device)
    compiled = timed(model)
    corefw.set_rng_state(rng)
    print(f"compiled the model (corefw.compile, backend {backend!r}): forward+backward of a "
          f"batch of {len(y)} takes "
          f"{compiled * 1e3:.2f} ms compiled vs {eager * 1e3:.2f} ms eager "
          f"({eager / compiled:.1f}x speed-up)", file=out)
    return eager / compiled


def _run(args: argparse.Namespace, out) -> int:
    from corefw.data import DataLoader

    device = _resolve_device(args.device)
    ckpt = _load_checkpoint(args.resume, device) if args.resume else None
    config = _config(args, ckpt["config"] if ckpt is not None else None)
    train, test = make_splits(config["limit"])

    corefw.manual_seed(config["seed"])
    model = build_model(config["model"]).to(device)
    optimizer = corefw.optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = corefw.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config["gamma"])
    generator = corefw.Generator().manual_seed(config["seed"])
    loader = DataLoader(train, batch_size=config["batch_size"], shuffle=True,
                        generator=generator)
    trained, sampler, rank = model, None, 0
    if args.nproc > 1:  # one rank of `corefw demo --nproc N` (see _spawn)
        trained, loader, sampler, rank = _data_parallel(model, train, config, args)
        args.quiet = args.quiet or rank != 0
    start_epoch, train_seconds = 0, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        generator.set_state(ckpt["loader_generator"])
        corefw.set_rng_state(ckpt["rng"])
        start_epoch, train_seconds = ckpt["epoch"], ckpt["metrics"]["train_seconds"]
        print(f"resuming {args.resume} after epoch {start_epoch}", file=out)

    n_params = sum(p.numel() for p in model.parameters())
    if not args.quiet:
        print(f"corefw demo: the demo {config['model'].upper()} ({n_params:,} parameters) on "
              f"{len(train)} digits (test: {len(test)}), device {device}, seed {config['seed']}",
              file=out)
    show_bar = not args.quiet and sys.stderr.isatty()
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, f"demo_{config['model']}.safetensors")
    test_acc = ckpt["metrics"]["test_accuracy"] if ckpt is not None else float("nan")
    if start_epoch >= args.epochs:
        print(f"the checkpoint has already trained {start_epoch} epochs (test accuracy "
              f"{test_acc:.2%}); pass --epochs N with N > {start_epoch} to train more", file=out)
        return 0
    if getattr(args, "compile", False):
        _compile_model(model, optimizer, train, config["batch_size"], device, out)
    bar = _Bar(max(args.epochs - start_epoch, 0) * len(loader), not show_bar, out)
    for epoch in range(start_epoch, args.epochs):
        t0 = time.perf_counter()
        if sampler is not None:
            sampler.set_epoch(epoch)
        loss, acc, seen = _train_epoch(trained, loader, optimizer, device, bar,
                                       f"{epoch + 1}/{args.epochs}")
        seconds = time.perf_counter() - t0
        scheduler.step()
        train_seconds += seconds
        if rank != 0:  # rank 0 evaluates, saves and explains
            continue
        test_acc = _evaluate(model, test, device)
        if not args.quiet:
            bar.write(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f}, train accuracy "
                      f"{acc:.2%}, test accuracy {test_acc:.2%}, {seconds:.1f} s "
                      f"({seen / seconds:,.0f} samples/s)")
        corefw.save({"format": _FORMAT, "config": config, "epoch": epoch + 1,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(),
                     "loader_generator": generator.get_state(), "rng": corefw.get_rng_state(),
                     "metrics": {"test_accuracy": test_acc, "train_seconds": train_seconds}},
                    path)
    bar.close()
    if rank != 0:
        return _finish_rank()
    print(f"test accuracy {test_acc:.2%} on {len(test)} held-out digits after {args.epochs} "
          f"epochs ({train_seconds:.1f} s of training)", file=out)
    print(f"checkpoint saved to {path} (corefw.load it, or continue with "
          f"corefw demo --resume {path} --epochs N)", file=out)
    if args.export_onnx:
        _export_onnx(model, test, device, args.export_onnx, out)
    if not args.no_explain:
        try:
            _explain(model, test, device, args.output, out, config["model"])
        except Exception as e:  # a broken plugin must not spoil the demo's result
            print(f"corefw demo: warning: the explainer failed ({type(e).__name__}: {e}); "
                  "no attribution pictures written", file=sys.stderr)
    return _finish_rank() if args.nproc > 1 else 0


def _export_onnx(model, test, device, path: str, out) -> None:
    """Write the trained model as ONNX with a dynamic batch axis (corefw-onnx plugin)."""
    try:
        import corefw_onnx
    except ImportError:
        raise SystemExit("corefw demo: --export-onnx needs the corefw-onnx plugin "
                         "(pip install -e plugins/onnx)") from None
    x = test[0][0].unsqueeze(0).to(device)
    corefw_onnx.export(model, (x,), path, input_names=["image"], output_names=["logits"],
                       dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    print(f"ONNX model written to {path} (input 'image', output 'logits', dynamic batch)",
          file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo with command-line arguments ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 1 when the run fails (e.g. ``--resume`` cannot use
    its checkpoint); an option value it cannot use (a bad ``--device``, ``--lr``, ``--seed``,
    ``--output`` ...) exits with status 2 (``SystemExit``, as argparse). Each failure is one
    line on stderr naming the problem and the fix, without a traceback (``--debug`` or
    ``COREFW_DEBUG=1`` shows it).
    """
    from corefw._cli_util import debug_enabled, run_guarded

    args = _parser().parse_args(list(argv) if argv is not None else None)
    debug = debug_enabled(args.debug)

    def run() -> int:
        try:
            _check_options(args)
            if args.nproc > 1 and os.environ.get("COREFW_DEMO_RANK") is None:
                return _spawn(args, list(argv) if argv is not None else sys.argv[1:])
            return _run(args, sys.stdout)
        except _UsageError as e:
            if debug:
                raise
            print(f"corefw demo: error: {e}", file=sys.stderr)
            raise SystemExit(2) from None  # as argparse does for a bad option

    return run_guarded("corefw demo", run, debug)


# -- data-parallel (`--nproc N`) --------------------------------------------------------------
def _spawn(args: argparse.Namespace, argv: list[str]) -> int:
    """Start ``args.nproc`` ranks of this demo through the launcher (``corefw run``)."""
    if args.resume:
        print("corefw demo: error: --resume with --nproc > 1 is not supported; resume on one "
              "process", file=sys.stderr)
        return 1
    from corefw.distributed.run import main as run

    os.environ["COREFW_DEMO_RANK"] = "1"  # the ranks train instead of spawning again
    return run(["--nproc", str(args.nproc), __file__, *argv])


def _data_parallel(model, train, config: dict, args: argparse.Namespace):
    """DDP over the model and a DistributedSampler: each rank takes batch_size / N samples of
    every global batch, so the run matches the single-process one's batch size."""
    from corefw import distributed as dist
    from corefw.data import DataLoader, DistributedSampler
    from corefw.nn.parallel import DistributedDataParallel

    if not dist.is_initialized():
        dist.init_process_group("mpi")
    n = dist.get_world_size()
    sampler = DistributedSampler(train, shuffle=True, seed=config["seed"])
    loader = DataLoader(train, batch_size=max(1, config["batch_size"] // n), sampler=sampler)
    return DistributedDataParallel(model), loader, sampler, dist.get_rank()


def _finish_rank() -> int:
    """Rank 0 has saved the checkpoint; the others wait for it, then all leave."""
    from corefw import distributed as dist

    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
