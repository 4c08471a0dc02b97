"""Run *without* an MPI launcher: nerve.distributed must be inert and never import mpi4py.

``python inert_check.py [block]``: with ``block``, importing mpi4py fails (as when it is
not installed). Prints ``OK inert``; any failure raises.
"""
from __future__ import annotations

import sys

if len(sys.argv) > 1 and sys.argv[1] == "block":
    sys.modules["mpi4py"] = None  # `import mpi4py` now raises ImportError

import numpy as np

import nerve
import nerve.distributed as dist
import nerve.nn.functional as F
from nerve import keras, nn
from nerve.data import DataLoader, TensorDataset


def main() -> None:
    assert not dist.launched()
    dist.init()
    assert (dist.rank(), dist.world_size(), dist.is_main(), dist.local_rank()) == (0, 1, True, 0)
    assert dist.get_comm() is None
    dist.barrier()
    t = nerve.tensor([1.0, 2.0])
    assert dist.all_reduce(t, "mean") is t and t.numpy().tolist() == [1.0, 2.0]
    assert dist.broadcast(t) is t and dist.all_gather(t) == [t]
    assert dist.all_reduce({"a": 1.0}, "mean") == {"a": 1.0} and dist.all_gather(3) == [3]

    nerve.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3))
    w0 = net[0].weight.numpy().copy()
    model = dist.DistributedDataParallel(net)
    assert model.module is net and np.array_equal(net[0].weight.numpy(), w0)
    opt = dist.DistributedOptimizer(nerve.optim.SGD(model.parameters(), lr=0.1), model)
    x = nerve.randn(8, 4)
    loss = F.cross_entropy(model(x), nerve.zeros(8, dtype=nerve.int64))
    loss.backward()
    g = net[0].weight.grad
    opt.step()
    assert net[0].weight.grad is g  # no averaging, no copies
    assert list(model.state_dict()) == ["0.weight", "0.bias"]

    ds = TensorDataset(nerve.arange(10))
    sampler = dist.DistributedSampler(ds, seed=3)
    assert sorted(sampler) == list(range(10)) and len(sampler) == 10
    got = [int(v) for (b,) in DataLoader(ds, batch_size=4, sampler=sampler) for v in b.numpy()]
    assert sorted(got) == list(range(10))

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    dist.keras_data_parallel(m)
    h = m.fit(np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32), batch_size=4,
              epochs=1, verbose=0)
    assert len(h.history["loss"]) == 1

    assert "mpi4py" not in sys.modules or sys.modules["mpi4py"] is None
    print("OK inert", flush=True)


if __name__ == "__main__":
    main()
