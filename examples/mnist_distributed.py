"""MNIST, data-parallel over MPI: the same script on 1 process or N.

    python examples/mnist_distributed.py                  # one process
    mpiexec -n 2 python examples/mnist_distributed.py     # two ranks on this machine
    mpiexec -n 2 python examples/mnist_distributed.py --smoke   # a few batches (CI)

Each rank builds the model, DistributedDataParallel copies rank 0's weights to all
and turns BatchNorm into SyncBatchNorm; a DistributedSampler gives each rank its own
shard of the training set each epoch; DistributedOptimizer averages the gradients
before each step. ``--batch-size`` is per rank (PyTorch's convention): the global
batch is N times it. Only rank 0 prints and saves. The data is read from
``$NERVE_DATA/mnist`` (e.g. NERVE_DATA=/work/shared/data) or downloaded once.
Set OMP_NUM_THREADS so that ranks x threads does not exceed the cores.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import nerve
import nerve.distributed as dist
import nerve.nn.functional as F
from nerve import nn
from nerve.data import DataLoader, TensorDataset
from nerve.datasets import mnist


def _layer(name: str):
    """nn.<name> (also while a layer is not yet exported from nerve.nn)."""
    if hasattr(nn, name):
        return getattr(nn, name)
    import importlib

    for mod in ("conv", "batchnorm", "pooling"):
        m = importlib.import_module(f"nerve.nn.{mod}")
        if hasattr(m, name):
            return getattr(m, name)
    raise ImportError(f"nerve.nn has no {name}")


def build(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                             nn.ReLU(), nn.Linear(512, 10))
    conv, bn, pool = _layer("Conv2d"), _layer("BatchNorm2d"), _layer("MaxPool2d")
    return nn.Sequential(conv(1, 16, 3), bn(16), nn.ReLU(), pool(2),      # 26 -> 13
                         conv(16, 32, 3), bn(32), nn.ReLU(), pool(2),     # 11 -> 5
                         nn.Flatten(), nn.Linear(32 * 5 * 5, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def load(smoke: bool):
    (x, y), (xt, yt) = mnist.load_data()
    def prep(a):
        return (a.astype(np.float32) / np.float32(255.0) - np.float32(0.1307)) / \
            np.float32(0.3081)
    x, xt = prep(x)[:, None], prep(xt)[:, None]
    if smoke:
        xt, yt = xt[:512], yt[:512]
    return (TensorDataset(nerve.from_numpy(x), nerve.from_numpy(y.astype(np.int64))),
            nerve.from_numpy(xt), nerve.from_numpy(yt.astype(np.int64)))


def evaluate(model, xt, yt, batch: int = 1000) -> tuple[float, float]:
    """Loss and accuracy over the whole test set: each rank scores every N-th sample,
    then the sums are added over the ranks."""
    model.eval()
    idx = np.arange(dist.rank(), len(yt), dist.world_size())
    loss_sum, correct = 0.0, 0
    with nerve.no_grad():
        for i in range(0, len(idx), batch):
            j = idx[i:i + batch]
            out = model(xt[j])
            loss_sum += float(F.cross_entropy(out, yt[j], reduction="sum").item())
            correct += int((out.argmax(1) == yt[j]).sum().item())
    tot = dist.all_reduce([loss_sum, float(correct), float(len(idx))], "sum")
    model.train()
    return tot[0] / tot[2], tot[1] / tot[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64, help="per rank")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default="", help="checkpoint path (written by rank 0)")
    p.add_argument("--smoke", action="store_true", help="a few batches only")
    args = p.parse_args()

    n = dist.world_size()
    nerve.manual_seed(args.seed)
    train_set, xt, yt = load(args.smoke)
    model = dist.DistributedDataParallel(build(args.model))
    opt = dist.DistributedOptimizer(
        nerve.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9), model)
    sampler = dist.DistributedSampler(train_set, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    if dist.is_main():
        print(f"ranks: {n}, model: {args.model}, batch {args.batch_size} per rank "
              f"({args.batch_size * n} global), {len(sampler)} samples per rank per epoch",
              flush=True)
    epochs = 1 if args.smoke else args.epochs
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)
        t0, steps, run_loss = time.perf_counter(), 0, 0.0
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            run_loss += float(loss.item())
            steps += 1
            if args.smoke and steps == 3:
                break
        secs = time.perf_counter() - t0
        train_loss = dist.all_reduce(run_loss / steps, "mean")
        test_loss, acc = evaluate(model, xt, yt)
        if dist.is_main():
            print(f"epoch {epoch}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, "
                  f"test accuracy {acc:.4f}, {secs:.1f} s ({steps * args.batch_size * n / secs:.0f}"
                  f" samples/s)", flush=True)
    if args.save and dist.is_main():
        nerve.save(model.state_dict(), args.save)
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
