"""The ``nerve`` command: ``nerve demo``, ``nerve info``."""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib import resources

import numpy as np


def load_demo_digits() -> tuple:
    """The embedded MNIST sample: ((x_train, y_train), (x_test, y_test)) as uint8 arrays."""
    with resources.files("nerve").joinpath("assets/mnist_sample.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as z:
            return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])


def demo(epochs: int = 10, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
         quiet: bool = False) -> float:
    """Train a 784-128-10 MLP on the embedded digits and return its test accuracy."""
    from tqdm import tqdm

    import nerve
    from nerve import nn
    from nerve.data import DataLoader, TensorDataset

    nerve.manual_seed(seed)
    (xtr, ytr), (xte, yte) = load_demo_digits()
    to_x = lambda a: nerve.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255.0)  # noqa: E731
    train = TensorDataset(to_x(xtr), nerve.from_numpy(ytr.astype(np.int64)))
    loader = DataLoader(train, batch_size=batch_size, shuffle=True,
                        generator=nerve.Generator().manual_seed(seed))
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = nerve.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    if not quiet:
        print(f"nerve {nerve.__version__} demo: MLP 784-128-10 on {len(xtr)} MNIST digits "
              f"(embedded sample), {epochs} epochs")
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=quiet,
                   file=sys.stdout, mininterval=0.25)
        total, n = 0.0, 0
        for xb, yb in bar:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            n += len(yb)
            if n % (batch_size * 10) == 0:
                bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
        if not quiet:
            print(f"epoch {epoch}/{epochs}  loss {total / n:.4f}")
    model.eval()
    with nerve.no_grad():
        pred = model(to_x(xte)).argmax(1).numpy()
    acc = float((pred == yte).mean())
    if not quiet:
        print(f"test accuracy {acc:.4f} on {len(yte)} held-out digits "
              f"({time.perf_counter() - t0:.1f} s)")
    return acc


def info() -> None:
    import nerve
    from nerve import _backend

    print(f"nerve {nerve.__version__}")
    print(f"python {platform.python_version()} ({platform.machine()})")
    print(f"numpy {np.__version__}")
    print("array backend: numpy (cpu)" + (", cupy (cuda)" if _backend.cuda_is_available()
                                            else ", cupy not available"))
    print(f"BLAS: {_backend.blas_name()}")
    from . import _parallel

    print(f"threads: BLAS {_backend.threads()}, nerve's split passes {_parallel.get_threads()} "
          f"(cpu count {os.cpu_count()})")
    print(f"default dtype: {nerve.get_default_dtype()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: deep learning on NumPy")
    sub = parser.add_subparsers(dest="cmd")
    p_demo = sub.add_parser("demo", help="train an MLP on the embedded MNIST sample")
    p_demo.add_argument("--epochs", type=int, default=10)
    p_demo.add_argument("--seed", type=int, default=0)
    sub.add_parser("info", help="version, array backend, BLAS and threads")
    from .gallery import add_subcommands

    add_subcommands(sub)  # `nerve examples`, `nerve run NAME [--epochs N] [--data DIR] [--smoke]`
    args = parser.parse_args(argv)
    if args.cmd == "demo":
        demo(epochs=args.epochs, seed=args.seed)
    elif args.cmd == "info":
        info()
    elif args.cmd in ("examples", "run"):
        return args.gallery_main(args)
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
