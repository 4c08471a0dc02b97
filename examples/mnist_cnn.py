"""MNIST CNN: Conv(32,3x3,ReLU) -> Conv(64,3x3,ReLU) -> MaxPool 2x2 -> Dropout 0.25 ->
Flatten -> Dense(128,ReLU) -> Dropout 0.5 -> Dense(10), trained on the full MNIST set.

Run: python examples/mnist_cnn.py [--epochs 8] [--data DIR] [--smoke] [--out runs/]
The data is read from --data, $NERVE_DATA/mnist, the cache, or downloaded.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

import nerve
from nerve import nn
from nerve.datasets import mnist


class MnistCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def to_input(images: np.ndarray) -> nerve.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), standardised with MNIST's mean/std."""
    x = images.astype(np.float32)[:, None] / 255.0
    return nerve.from_numpy((x - 0.1307) / 0.3081)


def evaluate(model, x, y, batch_size=1000) -> tuple[float, np.ndarray]:
    model.eval()
    preds = []
    with nerve.no_grad():
        for i in range(0, len(x), batch_size):
            preds.append(model(x[i:i + batch_size]).argmax(1).numpy())
    pred = np.concatenate(preds)
    return float((pred == y[:len(pred)]).mean()), pred


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--data", default=None, help="directory holding the MNIST files")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"))
    ap.add_argument("--smoke", action="store_true", help="a few batches only (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    nerve.manual_seed(args.seed)
    (xtr, ytr), (xte, yte) = mnist.load_data(args.data)
    if args.smoke:
        xtr, ytr, xte, yte = xtr[:512], ytr[:512], xte[:500], yte[:500]
        args.epochs = 1
    x_train, y_train = to_input(xtr), nerve.from_numpy(ytr.astype(np.int64))
    x_test = to_input(xte)
    loader = nerve.utils.data.DataLoader(
        nerve.utils.data.TensorDataset(x_train, y_train), batch_size=args.batch_size,
        shuffle=True, generator=nerve.Generator().manual_seed(args.seed))

    model = MnistCNN()
    opt = nerve.optim.Adam(model.parameters(), lr=args.lr)
    sched = nerve.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()
    print(f"MNIST CNN: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(xtr):,} training images, {args.epochs} epochs, batch {args.batch_size}")
    history = {"loss": [], "accuracy": [], "test_accuracy": []}
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total, correct, n = 0.0, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, file=sys.stdout,
                   mininterval=1.0, disable=args.smoke)
        for xb, yb in bar:
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            correct += int((logits.argmax(1).numpy() == yb.numpy()).sum())
            n += len(yb)
            bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
        sched.step()
        test_acc, _ = evaluate(model, x_test, yte)
        history["loss"].append(total / n)
        history["accuracy"].append(correct / n)
        history["test_accuracy"].append(test_acc)
        print(f"epoch {epoch}/{args.epochs}  loss {total / n:.4f}  train accuracy "
              f"{correct / n:.4f}  test accuracy {test_acc:.4f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)

    test_acc, pred = evaluate(model, x_test, yte)
    wall = time.perf_counter() - t0
    print(f"final test accuracy {test_acc:.4f} on {len(yte):,} test images after {args.epochs} "
          f"epochs ({wall:.0f} s)")
    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "mnist_cnn.safetensors")
    nerve.save(model.state_dict(), weights)
    print(f"weights saved to {weights}")
    try:
        from nerve import plot

        plot.plot_curves(history, os.path.join(args.out, "mnist_cnn_curves.png"))
        cm = plot.confusion_matrix(yte, pred, 10)
        plot.plot_confusion_matrix(cm, os.path.join(args.out, "mnist_cnn_confusion.png"))
        wrong = np.flatnonzero(pred != yte)[:36]
        if len(wrong):
            plot.image_grid(xte[wrong], os.path.join(args.out, "mnist_cnn_misclassified.png"),
                            nrow=6, titles=[f"{yte[i]}->{pred[i]}" for i in wrong])
        print(f"confusion matrix and misclassified digits saved in {args.out}/")
    except ImportError as e:
        print(f"no plots ({e}); pip install 'nerve[plot]'")
    return test_acc


if __name__ == "__main__":
    main()
