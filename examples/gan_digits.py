"""A small GAN that learns to draw 8x8 digits; ``--wgan-gp`` trains it as a WGAN-GP instead.

    python examples/gan_digits.py              # a GAN (binary cross-entropy), about a minute
    python examples/gan_digits.py --wgan-gp    # Wasserstein critic with a gradient penalty
    python examples/gan_digits.py --steps 3    # a smoke test (what the test suite runs)

The generator upsamples noise with ``ConvTranspose2d`` (2x2 -> 4x4 -> 8x8). The WGAN-GP
critic's gradient penalty differentiates a gradient: ``corefw.autograd.grad(...,
create_graph=True)``, then ``backward()`` through it (double backward). Samples are printed
as text, so nothing but corefw is needed.
"""

from __future__ import annotations

import argparse
import time

import corefw
import corefw.nn.functional as F
from corefw import nn
from corefw.data import DataLoader, datasets

LATENT = 32


def make_generator() -> nn.Module:
    """Noise (N, LATENT) -> images (N, 1, 8, 8) in [0, 1]; batch norm (as in DCGAN) keeps
    the generator from collapsing onto a single digit."""
    return nn.Sequential(
        nn.Linear(LATENT, 64 * 2 * 2), nn.BatchNorm1d(64 * 2 * 2), nn.ReLU(),
        nn.Unflatten(1, (64, 2, 2)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # 4x4
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid())                   # 8x8


def make_critic() -> nn.Module:
    """Images (N, 1, 8, 8) -> one score each (a logit for the GAN, a critic value for WGAN)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),      # 4x4
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),     # 2x2
        nn.Flatten(), nn.Linear(64 * 2 * 2, 1))


def gradient_penalty(critic: nn.Module, real: corefw.Tensor, fake: corefw.Tensor) -> corefw.Tensor:
    """WGAN-GP's penalty: (||grad_x critic(x)|| - 1)^2 at points between real and fake."""
    alpha = corefw.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = corefw.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norm = ((grad * grad).flatten(1).sum(1) + 1e-12).sqrt()
    return ((norm - 1) ** 2).mean()


def diversity(images: corefw.Tensor) -> float:
    """Mean Euclidean distance between two images of the batch: near 0 if the generator
    draws one image whatever the noise (mode collapse), about 3 for real digits."""
    x = images.detach().flatten(1)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    n = x.shape[0]
    return d2.sqrt().sum().item() / (n * (n - 1))


def show(images: corefw.Tensor) -> str:
    """Images (N, 1, 8, 8) in [0, 1] side by side as text, darker characters for ink."""
    shades = " .:-=+*#%@"
    rows = images.detach().cpu().numpy()[:, 0]
    return "\n".join("   ".join("".join(shades[min(int(v * 10), 9)] * 2 for v in img[r])
                                for img in rows) for r in range(8))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wgan-gp", action="store_true", help="train as a WGAN with gradient penalty")
    p.add_argument("--steps", type=int, default=None,
                   help="generator updates (default: 800, or 400 with --wgan-gp)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 400 if args.wgan_gp else 800

    corefw.manual_seed(args.seed)
    loader = DataLoader(datasets.digits(), batch_size=args.batch_size, shuffle=True,
                        drop_last=True)
    gen, critic = make_generator().to(args.device), make_critic().to(args.device)
    betas = (0.5, 0.9) if args.wgan_gp else (0.5, 0.999)
    opt_g = corefw.optim.Adam(gen.parameters(), lr=1e-3, betas=betas)
    opt_c = corefw.optim.Adam(critic.parameters(), lr=1e-3, betas=betas)
    critic_steps = 3 if args.wgan_gp else 1
    fixed_noise = corefw.randn(6, LATENT, device=args.device)

    def batches():
        while True:
            for x, _ in loader:
                yield x.to(args.device)

    data, start = batches(), time.perf_counter()
    for step in range(1, args.steps + 1):
        for _ in range(critic_steps):               # critic / discriminator update
            real = next(data)
            fake = gen(corefw.randn(real.shape[0], LATENT, device=args.device)).detach()
            real_score, fake_score = critic(real), critic(fake)
            if args.wgan_gp:
                loss_c = (fake_score.mean() - real_score.mean()
                          + 10.0 * gradient_penalty(critic, real, fake))
            else:
                loss_c = (F.binary_cross_entropy_with_logits(real_score,
                                                             corefw.ones_like(real_score))
                          + F.binary_cross_entropy_with_logits(fake_score,
                                                               corefw.zeros_like(fake_score)))
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        score = critic(gen(corefw.randn(args.batch_size, LATENT, device=args.device)))
        if args.wgan_gp:                            # generator update
            loss_g = -score.mean()
        else:
            loss_g = F.binary_cross_entropy_with_logits(score, corefw.ones_like(score))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 200 == 0 or step == args.steps:
            print(f"step {step}: critic loss {loss_c.item():.3f}, "
                  f"generator loss {loss_g.item():.3f}")
    print(f"{args.steps} steps in {time.perf_counter() - start:.1f} s")
    gen.eval()
    with corefw.no_grad():
        many = gen(corefw.randn(200, LATENT, device=args.device))
        print(f"diversity of 200 samples {diversity(many):.2f} (200 real digits: "
              f"{diversity(datasets.digits().tensors[0][:200]):.2f}); samples:")
        print(show(gen(fixed_noise)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
