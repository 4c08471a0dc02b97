"""Run under ``mpiexec -n 2``: data-parallel training equals one process with the full batch.

For an MLP (float64 and float32) and a CNN with BatchNorm (float64 and float32): K
steps of DistributedDataParallel + DistributedOptimizer + DistributedSampler on 2 ranks
with per-rank batch B must give the weights (and BN running statistics) that one
process gets with batch 2B on the same data. Every rank also computes the one-process
reference itself (no communication), and the ranks must agree bit for bit.
Prints ``OK <case> ...`` per case; any failure raises (and aborts the job).
"""
from __future__ import annotations

import sys

import numpy as np

import nerve
import nerve.distributed as dist
import nerve.nn.functional as F
from nerve import nn
from nerve.data import DataLoader, TensorDataset

K, B = 4, 8          # steps, per-rank batch
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def layer(name: str):
    """nn.<name>, also while the layer is not yet exported from nerve.nn."""
    if hasattr(nn, name):
        return getattr(nn, name)
    import importlib

    for mod in ("conv", "batchnorm", "pooling"):
        m = importlib.import_module(f"nerve.nn.{mod}")
        if hasattr(m, name):
            return getattr(m, name)
    raise ImportError(name)


def mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 3))


def cnn():
    return nn.Sequential(layer("Conv2d")(2, 4, 3, padding=1), layer("BatchNorm2d")(4),
                         nn.ReLU(), layer("MaxPool2d")(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 8), layer("BatchNorm1d")(8), nn.ReLU(),
                         nn.Linear(8, 3))


def data(shape, dtype):
    rng = np.random.default_rng(123)
    n = K * 2 * B
    x = rng.standard_normal((n,) + shape).astype(dtype)
    y = rng.integers(0, 3, size=n).astype(np.int64)
    return x, y


def make_opt(params, lr=0.05):
    return nerve.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-3)


def reference(build, x, y, dtype):
    """One process, batch 2B, batches taken in order."""
    nerve.manual_seed(0)
    model = build().to(dtype)
    opt = make_opt(model.parameters())
    for k in range(K):
        xb = nerve.from_numpy(x[2 * B * k:2 * B * (k + 1)])
        yb = nerve.from_numpy(y[2 * B * k:2 * B * (k + 1)])
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    return model.state_dict()


def distributed(build, x, y, dtype):
    nerve.manual_seed(dist.rank() + 7)  # different initial weights: DDP must broadcast rank 0's
    if dist.rank() == 0:
        nerve.manual_seed(0)
    net = build().to(dtype)
    model = dist.DistributedDataParallel(net)
    opt = dist.DistributedOptimizer(make_opt(model.parameters()), model)
    ds = TensorDataset(nerve.from_numpy(x), nerve.from_numpy(y))
    sampler = dist.DistributedSampler(ds, shuffle=False)
    loader = DataLoader(ds, batch_size=B, sampler=sampler)
    steps = 0
    for xb, yb in loader:
        assert xb.shape[0] == B
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        steps += 1
    assert steps == K, steps
    return model.state_dict()


def compare(case, got, want, dtype):
    assert list(got) == list(want), (list(got), list(want))
    worst = 0.0
    for k in want:
        a, e = np.asarray(got[k].data), np.asarray(want[k].data)
        assert a.dtype == e.dtype, (k, a.dtype, e.dtype)
        if a.dtype.kind != "f":
            assert np.array_equal(a, e), (k, a, e)
            continue
        err = float(np.max(np.abs(a - e) / (np.abs(e) + 1e-3)))
        worst = max(worst, err)
        np.testing.assert_allclose(a, e, rtol=TOL[dtype], atol=TOL[dtype] * 1e-2,
                                   err_msg=f"{case}: {k}")
    # the replicas are identical bit for bit
    for k in got:
        mine = np.ascontiguousarray(got[k].data)
        other = dist.broadcast(mine.copy(), src=1)
        assert np.array_equal(mine, other), f"{case}: ranks differ in {k}"
    return worst


def main() -> None:
    assert dist.world_size() == 2, dist.world_size()
    cases = [("mlp", mlp, (12,)), ("cnn_bn", cnn, (2, 8, 8))]
    for name, build, shape in cases:
        for dtype in (np.float64, np.float32):
            x, y = data(shape, dtype)
            want = reference(build, x, y, dtype)
            got = distributed(build, x, y, dtype)
            worst = compare(name, got, want, dtype)
            if dist.is_main():
                print(f"OK {name} {np.dtype(dtype).name} max_rel_err={worst:.2e}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
