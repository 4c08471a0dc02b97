"""GAN on MNIST: an MLP generator against an MLP discriminator, written PyTorch-style.

Generator G: z ~ N(0, I)^100 -> 256 -> 512 -> 1024 -> 784 (tanh, pixels in [-1, 1]); each
hidden layer is Linear -> LeakyReLU(0.2) -> BatchNorm1d, as in the documents' Keras model
(Keras's BatchNormalization(momentum=0.8) keeps 0.8 of the old running average: that is
PyTorch's momentum=0.2). Discriminator D: 784 -> 512 -> 256 -> 1 (sigmoid), LeakyReLU(0.2).

The two play the minimax game  min_G max_D  E[log D(x)] + E[log(1 - D(G(z)))]:

    D step:  BCE(D(x), 1) + BCE(D(G(z)), 0)     (G(z) detached: only D learns)
    G step:  BCE(D(G(z)), 1)                    (the non-saturating loss -log D(G(z)))

both with Adam(lr=2e-4, betas=(0.5, 0.999)). A grid of 64 samples from a fixed batch of
noise is saved as a PNG every --sample-every steps, and the losses at the end.

    python examples/gan_mnist.py --steps 6000 --out runs
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import nerve
import nerve.nn as nn
import nerve.optim as optim
from nerve import plot
from nerve.data import DataLoader, TensorDataset
from nerve.datasets import mnist

LATENT = 100


class Generator(nn.Module):
    def __init__(self, latent: int = LATENT):
        super().__init__()

        def block(n_in, n_out):
            return [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2), nn.BatchNorm1d(n_out, momentum=0.2)]

        self.net = nn.Sequential(*block(latent, 256), *block(256, 512), *block(512, 1024),
                                 nn.Linear(1024, 28 * 28), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 512), nn.LeakyReLU(0.2),
                                 nn.Linear(512, 256), nn.LeakyReLU(0.2),
                                 nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, img):
        return self.net(img)


def mnist_loader(data, batch_size: int, seed: int, limit: int | None = None) -> DataLoader:
    """MNIST training images scaled to [-1, 1], shape (N, 1, 28, 28), shuffled batches."""
    (x, _), _ = mnist.load_data(data)
    if limit:
        x = x[:limit]
    x = (x.astype(np.float32) / 127.5 - 1.0).reshape(-1, 1, 28, 28)
    return DataLoader(TensorDataset(nerve.from_numpy(x)), batch_size=batch_size, shuffle=True,
                      drop_last=True, generator=nerve.Generator().manual_seed(seed))


def batches(loader):
    while True:                      # cycle over epochs
        for (x,) in loader:
            yield x


def save_samples(G, z, path: str, step: int) -> None:
    G.eval()                         # BatchNorm from its running statistics
    with nerve.no_grad():
        imgs = G(z)
    G.train()
    plot.image_grid(imgs, path, nrow=8, value_range=(-1, 1), title=f"step {step}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000, help="D + G updates (batches)")
    ap.add_argument("--epochs", type=int, default=None, help="train this many passes instead")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sample-every", type=int, default=1000)
    ap.add_argument("--data", default=None, help="directory holding the MNIST files")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a few steps on a sample (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.epochs, args.batch_size, args.sample_every = 20, None, 32, 10

    nerve.manual_seed(args.seed)
    loader = mnist_loader(args.data, args.batch_size, args.seed, 2000 if args.smoke else None)
    steps = args.steps if args.epochs is None else args.epochs * len(loader)
    out = os.path.join(args.out, "gan_mnist")
    G, D = Generator(), Discriminator()
    opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    fixed_z = nerve.randn(64, LATENT)
    ones = nerve.ones(args.batch_size, 1)
    zeros = nerve.zeros(args.batch_size, 1)
    hist = {"D loss": [], "G loss": []}
    print(f"GAN on MNIST: {steps} steps of {args.batch_size} images "
          f"({steps / len(loader):.1f} epochs); samples in {out}/")

    t0 = time.perf_counter()
    data = batches(loader)
    for step in range(1, steps + 1):
        real = next(data)
        z = nerve.randn(args.batch_size, LATENT)
        fake = G(z)

        d_real, d_fake = D(real), D(fake.detach())
        loss_d = bce(d_real, ones) + bce(d_fake, zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        loss_g = bce(D(fake), ones)             # D's gradients here are discarded
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

        hist["D loss"].append(loss_d.item())
        hist["G loss"].append(loss_g.item())
        if not (math.isfinite(hist["D loss"][-1]) and math.isfinite(hist["G loss"][-1])):
            raise SystemExit(f"step {step}: the losses diverged (D {loss_d.item()}, "
                             f"G {loss_g.item()})")
        if step % args.sample_every == 0 or step == steps:
            n = min(step, args.sample_every)
            print(f"step {step:5d}  D loss {np.mean(hist['D loss'][-n:]):.4f}  "
                  f"G loss {np.mean(hist['G loss'][-n:]):.4f}  "
                  f"D(x) {d_real.mean().item():.2f}  D(G(z)) {d_fake.mean().item():.2f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            save_samples(G, fixed_z, os.path.join(out, f"samples_step{step:05d}.png"), step)

    plot.plot_curves(hist, os.path.join(out, "losses.png"), xlabel="step",
                     groups=[["D loss", "G loss"]], smooth=max(1, steps // 100),
                     title="GAN losses (D: real + fake BCE; G: -log D(G(z)))")
    print(f"done in {time.perf_counter() - t0:.0f} s; samples and losses.png in {out}/")


if __name__ == "__main__":
    main()
