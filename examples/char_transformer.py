"""A character-level transformer language model, trained on Shakespeare's sonnets.

    python examples/char_transformer.py              # about a minute; then prints a sample
    python examples/char_transformer.py --steps 3    # a smoke test (what the test suite runs)

The text (``examples/data/sonnets.txt``, public domain) ships with the repository. The model
is a token and a position embedding, two causal ``TransformerEncoderLayer``\\ s (pre-norm) and
a linear head; it learns to predict each next character.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import corefw
import corefw.nn.functional as F
from corefw import nn

TEXT = Path(__file__).resolve().parent / "data" / "sonnets.txt"


class CharTransformer(nn.Module):
    """Next-character logits for windows of up to ``block`` characters."""

    def __init__(self, vocab: int, block: int, d_model: int = 64, nhead: int = 4,
                 layers: int = 2) -> None:
        super().__init__()
        self.block = block
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(block, d_model)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=4 * d_model, dropout=0.0,
                                       batch_first=True, norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx: corefw.Tensor) -> corefw.Tensor:
        t = idx.shape[1]
        pos = corefw.arange(t, device=idx.device)
        # additive causal mask: position i may attend to positions j <= i only
        mask = corefw.where(pos[None, :] > pos[:, None], float("-inf"), 0.0)
        x = self.tokens(idx) + self.positions(pos)
        for layer in self.layers:
            x = layer(x, src_mask=mask)
        return self.head(self.norm(x))


def sample(model: CharTransformer, start: corefw.Tensor, length: int,
           temperature: float = 0.8) -> list[int]:
    """Extend ``start`` (1-d int64 tensor of character ids) by ``length`` sampled characters."""
    ids = start.tolist()
    model.eval()
    with corefw.no_grad():
        for _ in range(length):
            window = corefw.tensor([ids[-model.block:]], device=start.device)
            probs = (model(window)[0, -1] / temperature).softmax(-1)
            ids.append(int(corefw.multinomial(probs, 1).item()))
    model.train()
    return ids


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block", type=int, default=64, help="context length in characters")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--sample", type=int, default=300, help="characters to generate at the end")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    corefw.manual_seed(args.seed)
    text = TEXT.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = corefw.tensor([index[c] for c in text], dtype=corefw.int64, device=args.device)
    model = CharTransformer(len(chars), args.block).to(args.device)
    optimizer = corefw.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    offsets = corefw.arange(args.block, device=args.device)

    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        rows = corefw.randint(0, len(text) - args.block - 1, (args.batch_size, 1),
                              device=args.device) + offsets           # (batch, block) positions
        logits = model(data[rows])
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), data[rows + 1].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.3f} nats/char "
                  f"({loss.item() / math.log(2):.2f} bits; uniform: {math.log2(len(chars)):.2f})")
    print(f"{args.steps} steps in {time.perf_counter() - start:.1f} s; a sample:\n")
    ids = sample(model, data[:1], args.sample)
    print("".join(chars[i] for i in ids))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
