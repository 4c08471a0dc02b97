"""CIFAR-10 CNN: three 3x3 conv blocks (32, 64, 128 filters, each with 2x2 max pooling),
then 128*4*4 -> 100 -> 10, on 32x32 colour images.

Run: python examples/cifar10_cnn.py [--epochs 10] [--data DIR] [--smoke]
Needs CIFAR-10 (binary version): downloaded with checksum into the cache, or read from
--data / $NERVE_DATA/cifar10 (files data_batch_1..5.bin, test_batch.bin, or the tarball).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import nerve
from nerve import nn
from nerve.datasets import cifar10
from nerve.datasets._download import DatasetError

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


class CifarCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, 128))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 4, 100), nn.ReLU(),
                                        nn.Dropout(0.5), nn.Linear(100, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def to_input(images: np.ndarray) -> nerve.Tensor:
    """uint8 (N, 32, 32, 3) -> normalised float32 (N, 3, 32, 32)."""
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return nerve.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def main(argv=None) -> float | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data", default=None)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-download", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="skip the archive checksum")
    args = ap.parse_args(argv)
    try:
        (xtr, ytr), (xte, yte) = cifar10.load_data(args.data, download=not args.no_download,
                                                     verify=not args.no_verify)
    except (DatasetError, OSError) as e:
        print(f"CIFAR-10 is not available: {e}\nPut the binary version's files "
              f"(cifar-10-binary.tar.gz, or data_batch_1.bin ... test_batch.bin) in a folder "
              f"and pass --data FOLDER, or set NERVE_DATA to a directory holding cifar10/.")
        return None
    if args.smoke:
        xtr, ytr, xte, yte = xtr[:256], ytr[:256], xte[:256], yte[:256]
        args.epochs = 1
    nerve.manual_seed(0)
    model = CifarCNN()
    opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x_train, y_train = to_input(xtr), nerve.from_numpy(ytr.astype(np.int64))
    x_test = to_input(xte)
    loader = nerve.utils.data.DataLoader(nerve.utils.data.TensorDataset(x_train, y_train),
                                         batch_size=args.batch_size, shuffle=True)
    t0 = time.perf_counter()
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        total, n = 0.0, 0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            n += len(yb)
        model.eval()
        with nerve.no_grad():
            pred = np.concatenate([model(x_test[i:i + 500]).argmax(1).numpy()
                                   for i in range(0, len(yte), 500)])
        acc = float((pred == yte).mean())
        print(f"epoch {epoch}/{args.epochs}  loss {total / n:.4f}  test accuracy {acc:.4f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return acc


if __name__ == "__main__":
    main()
