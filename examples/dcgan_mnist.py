"""DCGAN on MNIST: a transposed-convolution generator against a convolutional
discriminator (Radford, Metz & Chintala, 2015), written PyTorch-style.

Generator G (z ~ N(0, I)^100):
    Linear 100 -> 7·7·128, BatchNorm, ReLU          -> (128, 7, 7)
    ConvTranspose2d 128 -> 64, 4x4, stride 2, pad 1 -> (64, 14, 14), BatchNorm2d, ReLU
    ConvTranspose2d 64 -> 1, 4x4, stride 2, pad 1   -> (1, 28, 28), tanh
Discriminator D:
    Conv2d 1 -> 64, 4x4, stride 2, pad 1   -> (64, 14, 14), LeakyReLU(0.2)
    Conv2d 64 -> 128, 4x4, stride 2, pad 1 -> (128, 7, 7), BatchNorm2d, LeakyReLU(0.2)
    Flatten, Linear 6272 -> 1, sigmoid

A transposed convolution with stride 2 is the adjoint of a stride-2 convolution: each
input pixel paints a 4x4 patch of the output, so the spatial size doubles,
out = (in - 1)·stride - 2·pad + kernel = (7 - 1)·2 - 2 + 4 = 14.

Training as in the paper: weights from N(0, 0.02), Adam(2e-4, betas=(0.5, 0.999)), BCE;
D step on BCE(D(x), 1) + BCE(D(G(z)), 0), G step on BCE(D(G(z)), 1). A grid of 64 samples
from fixed noise is saved every --sample-every steps.

    python examples/dcgan_mnist.py --steps 2000 --out runs
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
        self.project = nn.Sequential(nn.Linear(latent, 7 * 7 * 128, bias=False),
                                     nn.BatchNorm1d(7 * 7 * 128), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1),                # 14 -> 28
            nn.Tanh())

    def forward(self, z):
        return self.deconv(self.project(z).view(-1, 128, 7, 7))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),               # 14
            nn.Conv2d(64, 128, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),                                                         # 7
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1), nn.Sigmoid())

    def forward(self, img):
        return self.net(img)


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), BatchNorm scale N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def mnist_loader(data, batch_size: int, seed: int, limit: int | None = None) -> DataLoader:
    """MNIST training images scaled to [-1, 1], shape (N, 1, 28, 28), shuffled batches."""
    (x, _), _ = mnist.load_data(data)
    if limit:
        x = x[:limit]
    x = (x.astype(np.float32) / 127.5 - 1.0).reshape(-1, 1, 28, 28)
    return DataLoader(TensorDataset(nerve.from_numpy(x)), batch_size=batch_size, shuffle=True,
                      drop_last=True, generator=nerve.Generator().manual_seed(seed))


def batches(loader):
    while True:
        for (x,) in loader:
            yield x


def save_samples(G, z, path: str, step: int) -> None:
    G.eval()
    with nerve.no_grad():
        imgs = G(z)
    G.train()
    plot.image_grid(imgs, path, nrow=8, value_range=(-1, 1), title=f"step {step}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000, help="D + G updates (batches)")
    ap.add_argument("--epochs", type=int, default=None, help="train this many passes instead")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sample-every", type=int, default=250)
    ap.add_argument("--data", default=None, help="directory holding the MNIST files")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a few steps on a sample (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.epochs, args.batch_size, args.sample_every = 6, None, 16, 3

    nerve.manual_seed(args.seed)
    loader = mnist_loader(args.data, args.batch_size, args.seed, 1000 if args.smoke else None)
    steps = args.steps if args.epochs is None else args.epochs * len(loader)
    out = os.path.join(args.out, "dcgan_mnist")
    G, D = Generator(), Discriminator()
    G.apply(init_weights)
    D.apply(init_weights)
    opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    fixed_z = nerve.randn(64, LATENT)
    ones = nerve.ones(args.batch_size, 1)
    zeros = nerve.zeros(args.batch_size, 1)
    hist = {"D loss": [], "G loss": []}
    print(f"DCGAN on MNIST: {steps} steps of {args.batch_size} images "
          f"({steps / len(loader):.1f} epochs); samples in {out}/")

    t0 = time.perf_counter()
    data = batches(loader)
    for step in range(1, steps + 1):
        real = next(data)
        fake = G(nerve.randn(args.batch_size, LATENT))

        d_real, d_fake = D(real), D(fake.detach())
        loss_d = bce(d_real, ones) + bce(d_fake, zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        loss_g = bce(D(fake), ones)
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
                     title="DCGAN losses (D: real + fake BCE; G: -log D(G(z)))")
    print(f"done in {time.perf_counter() - t0:.0f} s; samples and losses.png in {out}/")


if __name__ == "__main__":
    main()
