"""A convolutional network (conv, batch norm, pooling, dropout) on corefw's 8x8 digits.

    python examples/cnn_digits.py              # about 99% test accuracy in a few seconds
    python examples/cnn_digits.py --steps 3    # a smoke test (what the test suite runs)

``corefw demo`` trains a smaller CNN with checkpoints and resuming; this script shows the
plain training loop with a learning-rate schedule and train/eval modes.
"""

from __future__ import annotations

import argparse
import time

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.data import DataLoader, datasets, random_split


def make_model() -> nn.Module:
    """conv-BN-ReLU x2, max-pool, dropout, linear: 1x8x8 images to 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10))


def accuracy(model: nn.Module, data, device: str) -> float:
    """The fraction of ``data`` that ``model`` classifies correctly (in eval mode)."""
    model.eval()
    correct = 0
    with corefw.no_grad():
        for x, y in DataLoader(data, batch_size=512):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum().item())
    model.train()
    return correct / len(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps", type=int, default=None, help="stop after this many batches")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    corefw.manual_seed(args.seed)
    data = datasets.digits()                                  # (1797, 1, 8, 8) in [0, 1]
    train, test = random_split(data, [len(data) - 360, 360],
                               generator=corefw.Generator().manual_seed(0))
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    model = make_model().to(args.device)
    optimizer = corefw.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = corefw.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    step, start = 0, time.perf_counter()
    for epoch in range(args.epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x.to(args.device)), y.to(args.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == args.steps:
                break
        scheduler.step()
        if step == args.steps:
            break
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, "
              f"test accuracy {accuracy(model, test, args.device):.2%}")
    print(f"{step} steps in {time.perf_counter() - start:.1f} s, "
          f"test accuracy {accuracy(model, test, args.device):.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
