"""A multilayer perceptron on the 8x8 handwritten digits that ship with corefw.

    python examples/mlp_digits.py              # about 99% test accuracy in a few seconds
    python examples/mlp_digits.py --steps 3    # a smoke test (what the test suite runs)
"""

from __future__ import annotations

import argparse
import time

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.data import DataLoader, datasets, random_split


def accuracy(model: nn.Module, data, device: str) -> float:
    """The fraction of ``data`` that ``model`` classifies correctly."""
    model.eval()
    correct = 0
    with corefw.no_grad():
        for x, y in DataLoader(data, batch_size=512):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum().item())
    model.train()
    return correct / len(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--steps", type=int, default=None, help="stop after this many batches")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    corefw.manual_seed(args.seed)
    data = datasets.digits(flatten=True)                      # (1797, 64) images in [0, 1]
    train, test = random_split(data, [len(data) - 360, 360],
                               generator=corefw.Generator().manual_seed(0))
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10)).to(args.device)
    optimizer = corefw.optim.Adam(model.parameters(), lr=args.lr)

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
        if step == args.steps:
            break
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    print(f"{step} steps in {time.perf_counter() - start:.1f} s, final loss {loss.item():.4f}, "
          f"test accuracy {accuracy(model, test, args.device):.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
